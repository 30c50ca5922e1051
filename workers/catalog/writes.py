"""Writing the difference between the desired catalog mirror and what Salesforce holds.

Each object is compared field by field (prices to the cent, ``State_Prices__c`` as JSON, ids by
their 15-character form); only records that differ are sent, by external id through
``composite/sobjects``. PricebookEntry has its price book and product fixed after creation, so
existing entries are updated by Id (``UnitPrice``, ``IsActive`` only) and new ones created, the
standard price book's before the LogiSense one's (Salesforce needs a standard price first).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapters.salesforce.rest import RECORDS_PER_COLLECTION, SalesforceClient
from workers.catalog.mirror import (
    PRICE_FIELDS,
    PRODUCT_KEY,
    REFERENCE_KEY,
    SERVICE_KEY,
    STATE_PRICES,
    DesiredCatalog,
    money,
)
from workers.catalog.reads import ACTIVE_FLAG, MirrorState

if TYPE_CHECKING:
    from workers.catalog.sync import ObjectCounts

CREATED, UPDATED, DEACTIVATED = "created", "updated", "deactivated"


def same_id(a: Any, b: Any) -> bool:
    """Salesforce ids compare by their case-sensitive 15-character form."""
    return bool(a) and bool(b) and str(a)[:15] == str(b)[:15]


def same_value(name: str, want: Any, have: Any) -> bool:
    """Whether Salesforce already holds ``want`` in field ``name``."""
    if name in PRICE_FIELDS or name == "UnitPrice":
        return money(want) == money(have)
    if name == STATE_PRICES and want is not None and have is not None:
        try:
            return bool(json.loads(want) == json.loads(have))
        except (TypeError, ValueError):
            return False
    if name == "Product__c":
        return same_id(want, have)
    return bool(want == have)


def differs(want: Mapping[str, Any], have: Mapping[str, Any]) -> bool:
    """Any wanted field whose value Salesforce does not hold."""
    return any(not same_value(k, v, have.get(k)) for k, v in want.items())


@dataclass
class Change:
    """One record to send, and what it counts as when it succeeds."""

    kind: str
    record: dict[str, Any]
    label: str


class MirrorWriter:
    """Compares and writes one object at a time, counting into the run's summary."""

    def __init__(
        self,
        salesforce: SalesforceClient,
        mirror: MirrorState,
        counts: dict[str, ObjectCounts],
        errors: list[str],
    ) -> None:
        self.salesforce = salesforce
        self.mirror = mirror
        self.counts = counts
        self.errors = errors
        self.notes: list[str] = []
        self.write_calls = 0

    # -- objects ------------------------------------------------------------------------------

    def pricebook(self, name: str) -> str | None:
        """The LogiSense Pricebook2's id: created if absent, reactivated if inactive."""
        book = self.mirror.pricebook
        if book is None:
            record = {"Name": name, "IsActive": True, "Description": "Synced from LogiSense"}
            ids = self._send("Pricebook2", "create", [Change(CREATED, record, name)])
            return ids.get(name)
        if book.get("IsActive") is not True:
            change = Change(UPDATED, {"Id": book["Id"], "IsActive": True}, name)
            self._send("Pricebook2", "update", [change])
        else:
            self.counts["Pricebook2"].unchanged += 1
        return str(book["Id"])

    def products(self, desired: DesiredCatalog) -> dict[str, str]:
        """Upsert Product2 by product key; product key -> Product2 id of every mirrored product."""
        ids = {key: str(row["Id"]) for key, row in self.mirror.products.items()}
        changes = self._diff(
            "Product2", PRODUCT_KEY, desired.products, self.mirror.products, "IsActive"
        )
        ids.update(self._send("Product2", "upsert", changes, key_field=PRODUCT_KEY))
        return ids

    def services(self, desired: DesiredCatalog, product_ids: Mapping[str, str]) -> None:
        """Upsert Product_Service__c by service id, each under its package's Product2."""
        flag = self._flag("Product_Service__c")
        wanted: dict[str, dict[str, Any]] = {}
        for key, fields in desired.services.items():
            product_id = product_ids.get(desired.service_package[key])
            if product_id is None:
                self.counts["Product_Service__c"].failed += 1
                self.errors.append(f"Product_Service__c {key}: its Product2 could not be written")
                continue
            wanted[key] = {**self._flagged(fields, flag), "Product__c": product_id}
        current = self.mirror.services
        changes = self._diff("Product_Service__c", SERVICE_KEY, wanted, current, flag)
        self._send("Product_Service__c", "upsert", changes, key_field=SERVICE_KEY)

    def entries(
        self, desired: DesiredCatalog, product_ids: Mapping[str, str], book_id: str | None
    ) -> None:
        """Standard entries first, then the LogiSense price book's, per product and currency."""
        standard = self.mirror.standard_pricebook_id
        owned = {product_ids[k][:15] for k in self.mirror.products if k in product_ids}
        for book in (standard, book_id):
            if book is None:
                self.errors.append("PricebookEntry: a price book is missing; entries not written")
                continue
            wanted: dict[tuple[str, str], tuple[Decimal, bool]] = {}
            for key, (price, active) in desired.entries.items():
                if key.package_key in product_ids:
                    wanted[(product_ids[key.package_key][:15], key.currency)] = (price, active)
            creates, updates = self._entry_changes(book, wanted, owned | {p for p, _ in wanted})
            self._send("PricebookEntry", "create", creates)
            self._send("PricebookEntry", "update", updates)

    def references(self, desired: DesiredCatalog) -> None:
        """Upsert LogiSense_Reference__c by ``Type:identity``."""
        flag = self._flag("LogiSense_Reference__c")
        wanted = {k: self._flagged(v, flag) for k, v in desired.references.items()}
        current = self.mirror.references
        changes = self._diff("LogiSense_Reference__c", REFERENCE_KEY, wanted, current, flag)
        self._send("LogiSense_Reference__c", "upsert", changes, key_field=REFERENCE_KEY)

    # -- comparing ----------------------------------------------------------------------------

    def _flag(self, sobject: str) -> str | None:
        if self.mirror.active_flags.get(sobject):
            return ACTIVE_FLAG
        return None

    @staticmethod
    def _flagged(fields: dict[str, Any], flag: str | None) -> dict[str, Any]:
        return {k: v for k, v in fields.items() if k != ACTIVE_FLAG or flag}

    def _diff(
        self,
        sobject: str,
        key_field: str,
        wanted: Mapping[str, dict[str, Any]],
        current: Mapping[str, dict[str, Any]],
        active_field: str | None,
    ) -> list[Change]:
        changes: list[Change] = []
        counts = self.counts[sobject]
        for key, fields in wanted.items():
            row = current.get(key)
            if row is None:
                changes.append(Change(CREATED, fields, key))
            elif differs(fields, row):
                turned_off = (
                    active_field is not None
                    and row.get(active_field) is not False
                    and fields.get(active_field) is False
                )
                changes.append(Change(DEACTIVATED if turned_off else UPDATED, fields, key))
            else:
                counts.unchanged += 1
        gone = [k for k in current if k not in wanted]
        for key in gone:
            if active_field is None:
                counts.unchanged += 1
            elif current[key].get(active_field) is not False:
                record = {key_field: key, active_field: False}
                changes.append(Change(DEACTIVATED, record, key))
            else:
                counts.unchanged += 1
        if gone and active_field is None:
            self.notes.append(
                f"{sobject}: {len(gone)} records no longer in LogiSense are kept as they are "
                f"(the object has no {ACTIVE_FLAG} field to deactivate them)"
            )
        return changes

    def _entry_changes(
        self, book: str, wanted: Mapping[tuple[str, str], tuple[Decimal, bool]], owned: set[str]
    ) -> tuple[list[Change], list[Change]]:
        existing = {
            (product[:15], currency): row
            for (book_id, product, currency), row in self.mirror.entries.items()
            if same_id(book_id, book) and product[:15] in owned
        }
        creates: list[Change] = []
        updates: list[Change] = []
        counts = self.counts["PricebookEntry"]
        for (product, currency), (price, active) in wanted.items():
            row = existing.get((product, currency))
            label = f"{product}/{currency}"
            fields = {"UnitPrice": float(price), "IsActive": active}
            if row is None:
                record = {"Pricebook2Id": book, "Product2Id": product, "CurrencyIsoCode": currency}
                creates.append(Change(CREATED, {**record, **fields}, label))
            elif differs(fields, row):
                kind = DEACTIVATED if row.get("IsActive") and not active else UPDATED
                updates.append(Change(kind, {"Id": row["Id"], **fields}, label))
            else:
                counts.unchanged += 1
        for key, row in existing.items():
            if key in wanted:
                continue
            if row.get("IsActive"):
                label = f"{key[0]}/{key[1]}"
                updates.append(Change(DEACTIVATED, {"Id": row["Id"], "IsActive": False}, label))
            else:
                counts.unchanged += 1
        return creates, updates

    # -- writing ------------------------------------------------------------------------------

    def _send(
        self, sobject: str, verb: str, changes: list[Change], *, key_field: str | None = None
    ) -> dict[str, str]:
        """Write ``changes``; count each result; the ids of the successful ones by label."""
        if not changes:
            return {}
        records = [c.record for c in changes]
        if verb == "upsert":
            assert key_field is not None
            results = self.salesforce.upsert_many(sobject, key_field, records)
        elif verb == "create":
            results = self.salesforce.create_many(sobject, records)
        else:
            results = self.salesforce.update_many(sobject, records)
        self.write_calls += -(-len(records) // RECORDS_PER_COLLECTION)
        return self._count(sobject, changes, results)

    def _count(
        self, sobject: str, changes: Iterable[Change], results: Iterable[dict[str, Any]]
    ) -> dict[str, str]:
        ids: dict[str, str] = {}
        counts = self.counts[sobject]
        for change, result in zip(changes, results, strict=True):
            if not result.get("success"):
                counts.failed += 1
                reasons = "; ".join(
                    str(e.get("message") or e.get("statusCode")) for e in result.get("errors") or []
                )
                self.errors.append(f"{sobject} {change.label}: {reasons or 'refused'}")
                continue
            setattr(counts, change.kind, getattr(counts, change.kind) + 1)
            if result.get("id"):
                ids[change.label] = str(result["id"])
        return ids
