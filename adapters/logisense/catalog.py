"""The LogiSense product catalog as Salesforce needs it: packages, their services and prices.

LogiSense is the system of record for the catalog (SPEC §1); billsync mirrors it into the
"LogiSense" price book, Product2, PricebookEntry and Product Services. This module reads the three
catalog resources and joins them once, so the mirror code works on plain frozen values keyed the
way Salesforce is (prices by ISO currency code), not on LogiSense envelopes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .records import RecordResource
from .session import LogiSenseSession


@dataclass(frozen=True)
class StatePrice:
    """The recurring price of a service while the account's service is in ``state``."""

    state: str
    price: float


@dataclass(frozen=True)
class CatalogPrice:
    """A service's list prices in one currency."""

    currency_id: int
    currency_code: str | None
    recurring: float
    one_time: float
    overage: float
    state_prices: tuple[StatePrice, ...] = ()


@dataclass(frozen=True)
class CatalogService:
    """A service of a package, with its list price in every currency LogiSense prices it in."""

    identity: int
    name: str
    package_id: int
    is_active: bool
    service_type_id: int | None
    prices: tuple[CatalogPrice, ...]
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)

    def price_in(self, currency_code: str) -> CatalogPrice | None:
        """The list price in ``currency_code`` (ISO), or None if LogiSense has none."""
        return next((p for p in self.prices if p.currency_code == currency_code), None)


@dataclass(frozen=True)
class CatalogFrequency:
    """A billing period a package is sold with (monthly, annual ...)."""

    identity: int
    name: str
    frequency: int | None
    frequency_type_id: int | None
    sku: str | None
    is_active: bool


@dataclass(frozen=True)
class CatalogPackage:
    """A package (a Salesforce Product2) with its frequencies and services."""

    identity: int
    name: str
    is_active: bool
    frequencies: tuple[CatalogFrequency, ...]
    services: tuple[CatalogService, ...]
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _price(raw: dict[str, Any], codes: Mapping[int, str]) -> CatalogPrice:
    currency_id = int(raw.get("currencyId") or 0)
    states = tuple(
        StatePrice(str(s.get("state")), _number(s.get("price")))
        for s in raw.get("statePrices") or ()
        if isinstance(s, dict)
    )
    return CatalogPrice(
        currency_id=currency_id,
        currency_code=codes.get(currency_id),
        recurring=_number(raw.get("recurringPrice")),
        one_time=_number(raw.get("oneTimePrice")),
        overage=_number(raw.get("overagePrice")),
        state_prices=states,
    )


def _service(raw: dict[str, Any], codes: Mapping[int, str]) -> CatalogService:
    return CatalogService(
        identity=int(raw["identity"]),
        name=str(raw.get("name") or ""),
        package_id=int(raw.get("packageId") or 0),
        is_active=bool(raw.get("isActive", True)),
        service_type_id=raw.get("serviceTypeId"),
        prices=tuple(_price(p, codes) for p in raw.get("prices") or () if isinstance(p, dict)),
        raw=raw,
    )


def _frequency(raw: dict[str, Any]) -> CatalogFrequency:
    return CatalogFrequency(
        identity=int(raw["identity"]),
        name=str(raw.get("name") or ""),
        frequency=raw.get("frequency"),
        frequency_type_id=raw.get("frequencyTypeId"),
        sku=raw.get("sku"),
        is_active=bool(raw.get("isActive", True)),
    )


def load_catalog(session: LogiSenseSession) -> list[CatalogPackage]:
    """Every package with its frequencies and services, by ascending identity (four reads)."""
    names = session.names
    codes = {
        int(c["identity"]): str(c["code"])
        for c in RecordResource(session, names.currency, "currency").iter_all()
        if c.get("code")
    }
    packages = list(RecordResource(session, names.package, "package").iter_all())
    services: defaultdict[int, list[CatalogService]] = defaultdict(list)
    for raw in RecordResource(session, names.service, "service").iter_all():
        service = _service(raw, codes)
        services[service.package_id].append(service)
    frequencies: defaultdict[int, list[CatalogFrequency]] = defaultdict(list)
    freq_resource = RecordResource(session, names.package_frequency, "package frequency")
    for raw in freq_resource.iter_all():
        frequencies[int(raw.get("packageId") or 0)].append(_frequency(raw))
    return [
        CatalogPackage(
            identity=int(raw["identity"]),
            name=str(raw.get("name") or ""),
            is_active=bool(raw.get("isActive", True)),
            frequencies=tuple(frequencies[int(raw["identity"])]),
            services=tuple(services[int(raw["identity"])]),
            raw=raw,
        )
        for raw in packages
    ]
