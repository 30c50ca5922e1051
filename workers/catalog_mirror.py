"""What the Salesforce catalog mirror should hold, computed from LogiSense alone (no I/O).

LogiSense is the system of record for the catalog and the reference data (SPEC §1); this module
turns one read of both into the exact field values billsync wants in Salesforce, keyed by the
external ids the mirror is upserted by. Comparing these with what Salesforce holds (see
``catalog_reads``) is what lets a run with nothing changed write nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from adapters.logisense import CatalogPackage, CatalogService, ReferenceData

PACKAGE_KEY = "LogiSense_Package_Id__c"
SERVICE_KEY = "LogiSense_Service_Id__c"
REFERENCE_KEY = "LogiSense_Id__c"
PRICE_FIELDS = ("Recurring_Price__c", "One_Time_Price__c", "Overage_Price__c")
STATE_PRICES = "State_Prices__c"

#: LogiSense_Reference__c.Type__c -> (ReferenceData attribute with the raw items, name key).
REFERENCE_TYPES: dict[str, tuple[str, str]] = {
    "BillGroup": ("bill_group_items", "name"),
    "ARTerm": ("ar_term_items", "name"),
    "AccountStatus": ("account_status_items", "name"),
    "Currency": ("currency_items", "code"),
}
CENT = Decimal("0.01")


def money(value: Any) -> Decimal | None:
    """A price rounded to the cent, or None; the one way both sides are compared."""
    if value is None or value == "":
        return None
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def state_prices_json(pairs: Iterable[tuple[str, Any]]) -> str:
    """``State_Prices__c``: a compact JSON list of ``{"state", "price"}`` in LogiSense's order."""
    return json.dumps(
        [{"state": state, "price": float(money(price) or 0)} for state, price in pairs],
        separators=(",", ":"),
    )


def reference_key(type_name: str, identity: int) -> str:
    """``LogiSense_Id__c`` of a reference mirror: ``"BillGroup:3"`` (identities repeat per type)."""
    return f"{type_name}:{identity}"


@dataclass(frozen=True)
class EntryKey:
    """One PricebookEntry: a product in a price book, in one currency."""

    package_key: str
    currency: str


@dataclass
class DesiredCatalog:
    """The whole mirror as Salesforce should hold it (external id -> fields)."""

    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    service_package: dict[str, str] = field(default_factory=dict)
    entries: dict[EntryKey, tuple[Decimal, bool]] = field(default_factory=dict)
    references: dict[str, dict[str, Any]] = field(default_factory=dict)


def default_currency(reference: ReferenceData) -> str:
    """The currency list prices on Product_Service__c are given in: LogiSense's default one."""
    for item in reference.currency_items:
        if item.get("isDefault") and item.get("code"):
            return str(item["code"])
    return (
        "USD" if "USD" in reference.currencies else next(iter(sorted(reference.currencies)), "USD")
    )


def desired_catalog(
    packages: Iterable[CatalogPackage], reference: ReferenceData, *, list_currency: str
) -> DesiredCatalog:
    """Every Product2, Product_Service__c, PricebookEntry and LogiSense_Reference__c wanted."""
    desired = DesiredCatalog()
    for package in packages:
        key = str(package.identity)
        desired.products[key] = {
            PACKAGE_KEY: key,
            "Name": package.name,
            "IsActive": package.is_active,
        }
        for service in package.services:
            service_key = str(service.identity)
            desired.services[service_key] = _service_fields(service, list_currency)
            desired.services[service_key]["IsActive__c"] = service.is_active and package.is_active
            desired.service_package[service_key] = key
        for currency, price in _package_prices(package).items():
            desired.entries[EntryKey(key, currency)] = (price, package.is_active)
    desired.references = _references(reference)
    return desired


def _service_fields(service: CatalogService, currency: str) -> dict[str, Any]:
    price = service.price_in(currency)
    fields: dict[str, Any] = {SERVICE_KEY: str(service.identity), "Name": service.name[:80]}
    if price is None:
        fields.update({name: None for name in PRICE_FIELDS})
        fields[STATE_PRICES] = None
        return fields
    fields["Recurring_Price__c"] = float(money(price.recurring) or 0)
    fields["One_Time_Price__c"] = float(money(price.one_time) or 0)
    fields["Overage_Price__c"] = float(money(price.overage) or 0)
    fields[STATE_PRICES] = state_prices_json((s.state, s.price) for s in price.state_prices)
    return fields


def _package_prices(package: CatalogPackage) -> dict[str, Decimal]:
    """Per currency, the sum of recurring + one-time list prices of the package's services.

    Active services count; a package with none active (a retired package) keeps the sum of all
    its services, so its deactivated entries still show what it cost.
    """
    services = [s for s in package.services if s.is_active] or list(package.services)
    totals: dict[str, Decimal] = {}
    for service in services:
        for price in service.prices:
            if not price.currency_code:
                continue
            amount = (money(price.recurring) or Decimal(0)) + (money(price.one_time) or Decimal(0))
            totals[price.currency_code] = totals.get(price.currency_code, Decimal(0)) + amount
    return totals


def _references(reference: ReferenceData) -> dict[str, dict[str, Any]]:
    wanted: dict[str, dict[str, Any]] = {}
    for type_name, (attribute, name_key) in REFERENCE_TYPES.items():
        items: Iterable[Mapping[str, Any]] = getattr(reference, attribute)
        for item in items:
            if item.get("identity") is None or not item.get(name_key):
                continue
            key = reference_key(type_name, int(item["identity"]))
            wanted[key] = {
                REFERENCE_KEY: key,
                "Name": str(item[name_key])[:80],
                "Type__c": type_name,
                "IsActive__c": bool(item.get("isActive", True)),
            }
    return wanted
