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

from adapters.logisense import CatalogProduct, CatalogService, ReferenceData
from adapters.logisense.catalog import CatalogPackage

#: Product2's external id: ``"<package frequency id>:<ISO code>"`` (one product per pair).
PRODUCT_KEY = "LogiSense_Product_Key__c"
FREQUENCY_KEY = "LogiSense_Package_Frequency_Id__c"
#: Product_Service__c's external id: ``"<product key>:<package service id>"``.
SERVICE_KEY = "LogiSense_Service_Id__c"
PACKAGE_SERVICE_ID = "LogiSense_Package_Service_Id__c"
#: The Product2 fields billsync owns (read back to compare).
PRODUCT_FIELDS = ("Name", "IsActive", "Family", "ProductCode", FREQUENCY_KEY)
REFERENCE_KEY = "LogiSense_Id__c"
PRICE_FIELDS = ("Recurring_Price__c", "One_Time_Price__c", "Overage_Price__c")
STATE_PRICES = "State_Prices__c"

#: LogiSense_Reference__c.Type__c -> (ReferenceData attribute with the raw items, name key).
REFERENCE_TYPES: dict[str, tuple[str, str]] = {
    "BillGroup": ("bill_group_items", "name"),
    "ARTerm": ("ar_term_items", "name"),
    "AccountStatus": ("account_status_items", "name"),
    "Currency": ("currency_items", "code"),
    "AccountType": ("account_type_items", "name"),
    "ContactType": ("contact_type_items", "name"),
    "ContactPointType": ("contact_point_type_items", "name"),
    "Country": ("country_items", "countryCode"),
    "State": ("state_items", "code"),
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


def product_name(pattern: str, product: CatalogProduct) -> str:
    """The official app's product name: "Package Frequency Currency" (e.g. "ABC 1m GBP")."""
    name = pattern.format(
        package=product.package.name,
        frequency=product.frequency.name,
        currency=product.currency.code,
    )
    return name[:255]


def desired_catalog(
    packages: Iterable[CatalogPackage],
    reference: ReferenceData,
    *,
    list_currency: str,
    name_pattern: str = "{package} {frequency} {currency}",
) -> DesiredCatalog:
    """Every Product2, Product_Service__c, PricebookEntry and LogiSense_Reference__c wanted.

    One product per ACTIVE package frequency and package currency of an active package (docs
    §12); its services priced in its own currency.
    ``list_currency`` is kept for the summary (each product now has its own currency).
    """
    desired = DesiredCatalog()
    for package in packages:
        for product in package.products():
            key = product.key
            active = (
                package.is_active and product.frequency.is_active and product.currency.is_active
            )
            if not active:
                # The app syncs only active package frequencies; a product billsync made earlier
                # is deactivated by the writer because it is no longer wanted.
                continue
            desired.products[key] = {
                PRODUCT_KEY: key,
                "Name": product_name(name_pattern, product),
                "IsActive": active,
                "Family": product.frequency.family,
                "ProductCode": product.frequency.sku,
                FREQUENCY_KEY: str(product.frequency.identity),
            }
            code = str(product.currency.code)
            for service in package.services:
                service_key = f"{key}:{service.identity}"
                fields = _service_fields(service, code)
                fields[SERVICE_KEY] = service_key
                fields["IsActive__c"] = service.is_active and active
                desired.services[service_key] = fields
                desired.service_package[service_key] = key
            desired.entries[EntryKey(key, code)] = (_product_price(package, code), active)
    desired.references = _references(reference)
    return desired


def _service_fields(service: CatalogService, currency: str) -> dict[str, Any]:
    price = service.price_in(currency)
    fields: dict[str, Any] = {
        "Name": service.name[:80],
        PACKAGE_SERVICE_ID: str(service.identity),
    }
    if price is None:
        fields.update({name: None for name in PRICE_FIELDS})
        fields[STATE_PRICES] = None
        return fields
    fields["Recurring_Price__c"] = float(money(price.recurring) or 0)
    fields["One_Time_Price__c"] = float(money(price.one_time) or 0)
    fields["Overage_Price__c"] = float(money(price.overage) or 0)
    fields[STATE_PRICES] = state_prices_json((s.state, s.price) for s in price.state_prices)
    return fields


def _product_price(package: CatalogPackage, currency: str) -> Decimal:
    """The sum of recurring + one-time list prices of the package's services in ``currency``.

    Active services count; a package with none active (a retired package) keeps the sum of all
    its services, so its deactivated entries still show what it cost.
    """
    services = [s for s in package.services if s.is_active] or list(package.services)
    total = Decimal(0)
    for service in services:
        price = service.price_in(currency)
        if price is not None:
            total += (money(price.recurring) or Decimal(0)) + (money(price.one_time) or Decimal(0))
    return total


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
                "Name": _reference_name(type_name, item, name_key, reference)[:80],
                "Type__c": type_name,
                "IsActive__c": bool(item.get("isActive", True)),
            }
    return wanted


def _reference_name(
    type_name: str, item: Mapping[str, Any], name_key: str, reference: ReferenceData
) -> str:
    """The mirrored name; states and contact point types are qualified by their owner.

    State codes repeat across countries ("CA" is California and Canada's code) and every
    contact type has its own "email" point, so those names carry their owner's code or name.
    """
    name = str(item[name_key])
    if type_name == "State":
        countries = {int(c["identity"]): c.get("countryCode") for c in reference.country_items}
        return f"{countries.get(int(item.get('countryId') or 0), '?')}-{name}"
    if type_name == "ContactPointType":
        types = {int(t["identity"]): t.get("name") for t in reference.contact_type_items}
        return f"{types.get(int(item.get('contactTypeId') or 0), '?')}: {name}"
    return name
