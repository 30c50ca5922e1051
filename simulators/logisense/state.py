"""The in-memory LogiSense data: one table per resource, one lock, and an ``sfdcid`` index.

Stored records are never changed in place: a write stores a new dict (copy on write), so a record
read under the lock can be rendered and serialised after the lock is released without a deep copy.

Shape (what tests may inspect): ``state.tables[resource_path][identity] -> record`` where
``resource_path`` is e.g. ``"Account"``, ``"Contact"``, ``"Account/PricePlan"``; a stored record
holds ``identity``, its writable fields, ``created`` and ``updated`` (ISO 8601, UTC). The read-only
``xxxName`` fields are not stored: ``render`` fills them from the referenced records.
"""

from __future__ import annotations

import threading
from typing import Any

from .schema import RESOURCES, UNIQUE_SFDCID, name_key
from .seed import Table, build_seed


class LogiSenseState:
    """All simulated data behind one re-entrant lock (``with state.lock: ...``)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, Table] = {}
        self.next_ids: dict[str, int] = {}
        self.next_item_id = 1
        self.sfdcid_index: dict[str, dict[str, int]] = {}
        self.reset()

    def reset(self) -> None:
        """Throw every change away and load the seed again."""
        with self.lock:
            self.tables = build_seed()
            self.next_ids = {path: max(table, default=0) + 1 for path, table in self.tables.items()}
            self.next_item_id = 1
            self.sfdcid_index = {path: {} for path in UNIQUE_SFDCID}
            for path in UNIQUE_SFDCID:
                for identity, record in self.tables[path].items():
                    self._index(path, None, record, identity)

    # -- reads -------------------------------------------------------------------------------

    def get(self, path: str, identity: int) -> dict[str, Any] | None:
        """The stored record, or None."""
        return self.tables[path].get(identity)

    def find_sfdcid(self, path: str, sfdcid: str) -> int | None:
        """The identity holding ``sfdcid`` (case-insensitive), or None."""
        return self.sfdcid_index[path].get(sfdcid.casefold())

    def name_of(self, path: str, identity: Any) -> str | None:
        """The ``name`` of a referenced record (what fills the read-only ``xxxName`` fields)."""
        if identity is None:
            return None
        record = self.tables[path].get(identity)
        return None if record is None else record.get("name")

    def render(self, path: str, record: dict[str, Any]) -> dict[str, Any]:
        """The record as the API shows it: stored fields plus every ``xxxName`` pair."""
        out = {"identity": record.get("identity"), **record}
        for fname, spec in RESOURCES[path].fields.items():
            if spec.ref is None:
                continue
            value = record.get(fname)
            if spec.kind == "refs":
                out[name_key(fname)] = [self.name_of(spec.ref, v) for v in value or ()]
            else:
                out[name_key(fname)] = self.name_of(spec.ref, value)
        if path == "Account/PricePlan":
            out["packageServicePricePlan"] = [
                {
                    **item,
                    "packageName": self.name_of("Package", item.get("packageId")),
                    "serviceName": self.name_of("Service", item.get("serviceId")),
                }
                for item in record.get("packageServicePricePlan") or ()
            ]
        elif path == "Service":
            out["prices"] = [
                {**p, "currencyName": self.name_of("Currency", p.get("currencyId"))}
                for p in record.get("prices") or ()
            ]
        return out

    # -- writes (callers hold the lock and have validated) -----------------------------------

    def insert(self, path: str, record: dict[str, Any]) -> int:
        """Store a new record under a fresh identity; returns it."""
        identity = self.next_ids[path]
        self.next_ids[path] = identity + 1
        record["identity"] = identity
        self.tables[path][identity] = record
        self._index(path, None, record, identity)
        return identity

    def replace(self, path: str, identity: int, record: dict[str, Any]) -> None:
        """Store a new version of a record (never mutate the old dict: readers may hold it)."""
        old = self.tables[path][identity]
        self.tables[path][identity] = record
        self._index(path, old, record, identity)

    def delete(self, path: str, identity: int) -> dict[str, Any]:
        """Remove a record; returns the removed version."""
        old = self.tables[path].pop(identity)
        self._index(path, old, None, identity)
        return old

    def item_identity(self) -> int:
        """A fresh identity for a child object (a price plan item)."""
        identity = self.next_item_id
        self.next_item_id += 1
        return identity

    def _index(
        self, path: str, old: dict[str, Any] | None, new: dict[str, Any] | None, identity: int
    ) -> None:
        index = self.sfdcid_index.get(path)
        if index is None:
            return
        if old is not None and old.get("sfdcid"):
            index.pop(old["sfdcid"].casefold(), None)
        if new is not None and new.get("sfdcid"):
            index[new["sfdcid"].casefold()] = identity

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every record of every resource, rendered (for ``GET /__sim/dump``)."""
        with self.lock:
            return {
                path: [self.render(path, r) for r in table.values()]
                for path, table in self.tables.items()
            }
