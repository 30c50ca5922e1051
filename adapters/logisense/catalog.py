"""The LogiSense product catalog as Salesforce needs it: packages, frequencies, currencies,
services and their list prices.

LogiSense is the system of record for the catalog (SPEC §1); billsync mirrors it into the
"LogiSense" price book, Product2, PricebookEntry and Product Services, one product per package
frequency and currency, as the official app does (docs §12). This module reads the catalog
resources and joins them once, so the mirror code works on plain frozen values keyed the way
Salesforce is (prices by ISO currency code), not on LogiSense envelopes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .mapping import LogiSenseMapping
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
    """A package service (a service as sold in one package), with its list prices per currency.

    ``identity`` is the package service id (what a ``packageServicePricePlan`` item names);
    ``service_id`` the underlying Service.
    """

    identity: int
    name: str
    package_id: int
    is_active: bool
    service_type_id: int | None
    prices: tuple[CatalogPrice, ...]
    service_id: int = 0
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)

    def price_in(self, currency_code: str) -> CatalogPrice | None:
        """The list price in ``currency_code`` (ISO), or None if LogiSense has none."""
        return next((p for p in self.prices if p.currency_code == currency_code), None)


@dataclass(frozen=True)
class CatalogFrequency:
    """A billing period a package is sold with (``1m``, ``12m`` ...), with its product family."""

    identity: int
    name: str
    frequency: int | None
    frequency_type_id: int | None
    sku: str | None
    is_active: bool
    family: str | None = None


@dataclass(frozen=True)
class CatalogCurrency:
    """A currency a package is offered in (its identity is the package currency id)."""

    identity: int
    currency_id: int
    code: str | None
    is_active: bool


@dataclass(frozen=True)
class CatalogProduct:
    """One Salesforce product: an active package frequency in one of its package's currencies."""

    package: CatalogPackage
    frequency: CatalogFrequency
    currency: CatalogCurrency

    @property
    def key(self) -> str:
        """``"<package frequency id>:<ISO code>"``: unique per product, stable across runs."""
        return f"{self.frequency.identity}:{self.currency.code}"


@dataclass(frozen=True)
class CatalogPackage:
    """A package with its frequencies, currencies and services."""

    identity: int
    name: str
    is_active: bool
    frequencies: tuple[CatalogFrequency, ...]
    services: tuple[CatalogService, ...]
    currencies: tuple[CatalogCurrency, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)

    def products(self) -> list[CatalogProduct]:
        """Every frequency x currency pair (active or not: the mirror deactivates the others)."""
        return [
            CatalogProduct(self, f, c) for f in self.frequencies for c in self.currencies if c.code
        ]


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _price(
    raw: dict[str, Any], codes: Mapping[int, str], mapping: LogiSenseMapping
) -> CatalogPrice:
    names = mapping.price_plan.item
    currency_id = int(raw.get("currencyId") or 0)
    states = tuple(
        StatePrice(str(s.get(names.recurring_status)), _number(s.get(names.recurring_amount)))
        for s in raw.get(names.recurring_prices) or ()
        if isinstance(s, dict)
    )
    default = next((s.price for s in states if s.state == names.default_status), 0.0)
    return CatalogPrice(
        currency_id=currency_id,
        currency_code=codes.get(currency_id),
        recurring=default,
        one_time=_number(raw.get(names.one_time_price)),
        overage=_number(raw.get(names.overage_price)) if names.overage_price else 0.0,
        state_prices=states,
    )


def load_catalog(session: LogiSenseSession) -> list[CatalogPackage]:
    """Every package with its frequencies, currencies and services (six reads)."""
    mapping = session.names
    res = mapping.resources

    def read(path: str, noun: str) -> list[dict[str, Any]]:
        return list(RecordResource(session, path, noun).iter_all())

    codes = {
        int(c["identity"]): str(c["code"]) for c in read(res.currency, "currency") if c.get("code")
    }
    packages = read(res.package, "package")
    service_rows = {int(s["identity"]): s for s in read(res.service, "service")}
    services: defaultdict[int, list[CatalogService]] = defaultdict(list)
    for raw in read(res.package_service, "package service"):
        base = service_rows.get(int(raw.get("serviceId") or 0), {})
        service = CatalogService(
            identity=int(raw["identity"]),
            name=str(base.get("name") or raw.get("serviceName") or ""),
            package_id=int(raw.get("packageId") or 0),
            is_active=bool(base.get("isActive", True)),
            service_type_id=base.get("serviceTypeId"),
            prices=tuple(
                _price(p, codes, mapping)
                for p in raw.get(mapping.catalog.list_prices) or ()
                if isinstance(p, dict)
            ),
            service_id=int(raw.get("serviceId") or 0),
            raw=raw,
        )
        services[service.package_id].append(service)
    frequencies: defaultdict[int, list[CatalogFrequency]] = defaultdict(list)
    for raw in read(res.package_frequency, "package frequency"):
        family = mapping.extensions_of(raw).get(mapping.catalog.family_extension)
        frequencies[int(raw.get("packageId") or 0)].append(
            CatalogFrequency(
                identity=int(raw["identity"]),
                name=str(raw.get("name") or ""),
                frequency=raw.get("frequency"),
                frequency_type_id=raw.get("frequencyTypeId"),
                sku=raw.get("sku"),
                is_active=bool(raw.get("isActive", True)),
                family=str(family) if family else None,
            )
        )
    currencies: defaultdict[int, list[CatalogCurrency]] = defaultdict(list)
    for raw in read(res.package_currency, "package currency"):
        currency_id = int(raw.get("currencyId") or 0)
        currencies[int(raw.get("packageId") or 0)].append(
            CatalogCurrency(
                identity=int(raw["identity"]),
                currency_id=currency_id,
                code=codes.get(currency_id),
                is_active=raw.get("isActive") is not False,  # undocumented flag: absent = on
            )
        )
    return [
        CatalogPackage(
            identity=int(raw["identity"]),
            name=str(raw.get("name") or ""),
            is_active=bool(raw.get("isActive", True)),
            frequencies=tuple(frequencies[int(raw["identity"])]),
            services=tuple(services[int(raw["identity"])]),
            currencies=tuple(currencies[int(raw["identity"])]),
            raw=raw,
        )
        for raw in packages
    ]
