"""The in-memory org: records per object, external-id indexes, and transactions that emit CDC.

Every write runs inside a :class:`Transaction` under the org's one lock. A transaction validates
each write as Salesforce does (see :mod:`simulators.salesforce.rules`), keeps an undo log so that
``allOrNone`` work can be rolled back, and on commit turns the net change of every touched record
into change events, published on the bus in commit order. The store also answers the SOQL engine's
``QueryableStore`` protocol.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from simulators.salesforce.errors import ApiError, not_found
from simulators.salesforce.eventbus import EventBus
from simulators.salesforce.ids import IdFactory, to_18
from simulators.salesforce.schema import PREFIXES, SCHEMA, ObjectDef
from simulators.salesforce.transaction import Transaction

STANDARD_PRICE_BOOK = "Standard Price Book"
DEFAULT_ORIGIN = "com/salesforce/api/rest/59.0"


class OrgStore:
    """The simulated org's data; implements the SOQL engine's ``QueryableStore``."""

    def __init__(
        self, *, seed: int = 0, bus: EventBus | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.lock = threading.RLock()
        self.schema = SCHEMA
        # Objects selected for Change Data Capture (the ChangeEvents channel's members).
        self.cdc_entities: set[str] = {o.name for o in SCHEMA.values() if not o.platform_event}
        self.bus = bus or EventBus(seed=seed)
        self.clock = clock
        self.seed = seed
        self._reset_data()

    def _reset_data(self) -> None:
        self.ids = IdFactory(self.seed)
        self.org_id = self.ids.new_id("00D")
        self.user_id = self.ids.new_id("005")
        self.tables: dict[str, dict[str, dict[str, Any]]] = {
            name: {} for name, obj in self.schema.items() if not obj.platform_event
        }
        self.external: dict[tuple[str, str], dict[str, str]] = {
            (name, f): {} for name, obj in self.schema.items() for f in obj.external_ids()
        }
        self.commit_number = 0
        self.standard_pricebook_id = self.insert_raw(
            "Pricebook2", {"Name": STANDARD_PRICE_BOOK, "IsActive": True, "IsStandard": True}
        )

    def reset(self) -> None:
        """Back to the seeded org (the standard price book only); retained events are dropped."""
        with self.lock:
            self._reset_data()
            self.bus.clear()
            self.cdc_entities = {o.name for o in self.schema.values() if not o.platform_event}

    # --- metadata -------------------------------------------------------------------------

    def object(self, name: str) -> ObjectDef:
        """The object's metadata, or 404 NOT_FOUND as the REST API answers for unknown types."""
        obj = self.schema.get(name)
        if obj is None:
            raise not_found()
        return obj

    # --- QueryableStore -------------------------------------------------------------------

    def rows(self, sobject: str) -> Iterable[dict[str, Any]]:
        """Every stored record of ``sobject`` (deleted ones carry ``IsDeleted: True``)."""
        return list(self.tables.get(sobject, {}).values())

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        """One record by 15- or 18-character id, or None."""
        full = to_18(record_id)
        return self.tables.get(sobject, {}).get(full) if full else None

    def field_names(self, sobject: str) -> set[str] | None:
        """The object's field names, or None for an unknown object."""
        obj = self.schema.get(sobject)
        return set(obj.fields) if obj is not None else None

    def parent_relationship(self, sobject: str, name: str) -> tuple[str, str] | None:
        """``("Contact", "Account")`` → ``("AccountId", "Account")``; case-insensitive name."""
        obj = self.schema.get(sobject)
        if obj is None:
            return None
        for fdef in obj.fields.values():
            rel = fdef.relationship_name
            if rel and fdef.reference_to and rel.lower() == name.lower():
                return fdef.name, fdef.reference_to
        return None

    def child_relationship(self, sobject: str, name: str) -> tuple[str, str] | None:
        """``("Opportunity", "OpportunityLineItems")`` → ``("OpportunityLineItem", ...)``."""
        obj = self.schema.get(sobject)
        if obj is None:
            return None
        for rel, target in obj.children.items():
            if rel.lower() == name.lower():
                return target
        return None

    def object_of_id(self, record_id: str) -> str | None:
        """The object a (well-formed) id belongs to, by its key prefix."""
        return PREFIXES.get(record_id[:3])

    # --- reads and writes -----------------------------------------------------------------

    def read(self, sobject: str, record_id: str) -> dict[str, Any]:
        """A copy of a live record, or 404 NOT_FOUND / ENTITY_IS_DELETED."""
        self.object(sobject)
        with self.lock:
            record = self.get(sobject, record_id)
            if record is None:
                raise not_found()
            if record["IsDeleted"]:
                raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
            return dict(record)

    def find_external(self, sobject: str, field: str, value: str) -> str | None:
        """The id of the live record whose external id ``field`` equals ``value``."""
        return self.external.get((sobject, field), {}).get(value)

    @contextmanager
    def transaction(
        self, origin: str = DEFAULT_ORIGIN, *, emit: bool = True
    ) -> Iterator[Transaction]:
        """Run writes atomically: commit (and emit events) on success, roll back on error."""
        with self.lock:
            tx = Transaction(self, origin)
            try:
                yield tx
            except BaseException:
                tx.rollback(0)
                raise
            tx.commit(emit=emit)

    def insert_raw(self, sobject: str, values: dict[str, Any]) -> str:
        """Insert a record WITHOUT emitting a change event (for tests and seeding).

        Read-only fields may be given (for example ``IsStandard``); every other rule still
        applies, so the org stays consistent.
        """
        with self.transaction(emit=False) as tx:
            return tx.insert(sobject, values, trusted=True)

    def undelete(self, sobject: str, ids: list[str], origin: str = DEFAULT_ORIGIN) -> list[str]:
        """Restore deleted records (UNDELETE events), as the recycle bin does."""
        with self.transaction(origin) as tx:
            return [tx.undelete(sobject, record_id) for record_id in ids]

    def new_id(self, obj: ObjectDef) -> str:
        """A fresh id with the object's key prefix."""
        return self.ids.new_id(obj.key_prefix)

    def now_iso(self) -> str:
        """The current time in the REST API's datetime format."""
        now = self.clock()
        ms = int(now * 1000) % 1000
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{ms:03d}+0000"
