"""The in-memory LogiSense data: one table per resource, one lock, and ``sfdcid`` indexes.

Stored records are never changed in place: a write stores a new dict (copy on write), so a record
read under the lock can be rendered and serialised after the lock is released without a deep copy.

Shape (what tests may inspect): ``state.tables[resource_path][identity] -> record`` where
``resource_path`` is e.g. ``"Account"``, ``"Contact"``, ``"Account/PricePlan"``; a stored record
holds ``identity``, its writable fields, ``created`` and ``updated`` (ISO 8601, UTC). The read-only
``xxxName`` fields are not stored: ``render`` fills them from the referenced records.

``sfdcid`` is a user-defined text field in LogiSense (an account extension, a contact point on
contacts), not a key: the indexes map its case-folded value to every holder, and uniqueness is
enforced only when the simulator is started with ``unique_sfdcid=True``.
"""

from __future__ import annotations

import threading
from typing import Any

from adapters.logisense.mapping import DEFAULT_MAPPING, LogiSenseMapping

from .schema import Schema, build_schema, name_key
from .seed import Table, build_seed


class LogiSenseState:
    """All simulated data behind one re-entrant lock (``with state.lock: ...``)."""

    def __init__(
        self, mapping: LogiSenseMapping = DEFAULT_MAPPING, *, unique_sfdcid: bool = False
    ) -> None:
        self.lock = threading.RLock()
        self.schema: Schema = build_schema(mapping)
        self.mapping = mapping
        self.unique_sfdcid = unique_sfdcid
        self.tables: dict[str, Table] = {}
        self.next_ids: dict[str, int] = {}
        self.next_item_id = 1
        self.sfdcid_index: dict[str, dict[str, set[int]]] = {}
        self.reset()

    def path(self, role: str) -> str:
        """The path of a role under this simulator's mapping."""
        return self.schema.path(role)

    def reset(self) -> None:
        """Throw every change away and load the seed again."""
        with self.lock:
            self.tables = build_seed(self.schema)
            self.next_ids = {path: max(table, default=0) + 1 for path, table in self.tables.items()}
            self.next_item_id = 1
            self.sfdcid_index = {self.path("account"): {}, self.path("contact"): {}}
            for path in self.sfdcid_index:
                for identity, record in self.tables[path].items():
                    self._index(path, None, record, identity)

    # -- reads -------------------------------------------------------------------------------

    def get(self, path: str, identity: int) -> dict[str, Any] | None:
        """The stored record, or None."""
        return self.tables[path].get(identity)

    def sfdcid_of(self, path: str, record: dict[str, Any]) -> str | None:
        """The ``sfdcid`` a stored account (extension) or contact (contact point) carries."""
        if path == self.path("account"):
            value = self.mapping.extensions_of(record).get(self.mapping.account.sfdcid_extension)
            return value if isinstance(value, str) and value else None
        if path == self.path("contact"):
            return self.point_values(record).get(self.mapping.contact.points.sfdcid)
        return None

    def point_values(self, contact: dict[str, Any]) -> dict[str, Any]:
        """A contact's text contact points by type name (the address point is left out)."""
        c = self.mapping.contact
        out: dict[str, Any] = {}
        for point in contact.get(c.points_field) or ():
            kind = self.get(self.path("contact_point_type"), point.get(c.point_type_field) or 0)
            if kind is not None and c.point_value_field in point:
                out[str(kind["name"])] = point[c.point_value_field]
        return out

    def find_sfdcid(self, path: str, sfdcid: str) -> list[int]:
        """Every identity whose ``sfdcid`` equals ``sfdcid`` ignoring case, ascending."""
        return sorted(self.sfdcid_index.get(path, {}).get(sfdcid.casefold(), ()))

    def name_of(self, role: str, identity: Any) -> str | None:
        """The ``name`` of a referenced record (what fills the read-only ``xxxName`` fields)."""
        if identity is None:
            return None
        record = self.tables[self.path(role)].get(identity)
        if record is None:
            return None
        name = record.get("name")
        if name is None and role == "package_currency":
            return self.name_of("currency", record.get("currencyId"))
        if name is None and role == "package_service":
            return self.name_of("service", record.get("serviceId"))
        return name

    def top_of(self, account_id: int) -> int:
        """The top of an account's hierarchy (``Account/Parent.topAccountId``)."""
        parents = {
            r["accountId"]: r["parentAccountId"]
            for r in self.tables[self.path("account_parent")].values()
        }
        seen = {account_id}
        current = account_id
        while current in parents and parents[current] not in seen:
            current = parents[current]
            seen.add(current)
        return current

    def render(self, path: str, record: dict[str, Any]) -> dict[str, Any]:
        """The record as the API shows it: stored fields plus every ``xxxName`` pair."""
        res = self.schema.by_path[path]
        out = {"identity": record.get("identity"), **record}
        for fname, spec in res.fields.items():
            if spec.ref is not None:
                out[name_key(fname)] = self.name_of(spec.ref, record.get(fname))
        if res.role == "account_parent":
            out["topAccountId"] = self.top_of(record["accountId"])
        elif res.role == "contact":
            c = self.mapping.contact
            out[c.points_field] = [
                {
                    **p,
                    "contactPointTypeName": self.name_of(
                        "contact_point_type", p.get(c.point_type_field)
                    ),
                }
                for p in record.get(c.points_field) or ()
            ]
        elif res.role == "price_plan":
            out["packageServicePricePlan"] = [
                {
                    **item,
                    "packageServiceName": self.name_of(
                        "package_service", item.get("packageServiceId")
                    ),
                    "packageFrequencyName": self.name_of(
                        "package_frequency", item.get("packageFrequencyId")
                    ),
                    "packageCurrencyName": self.name_of(
                        "package_currency", item.get("packageCurrencyId")
                    ),
                }
                for item in record.get("packageServicePricePlan") or ()
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
        before = self.sfdcid_of(path, old) if old is not None else None
        if before:
            holders = index.get(before.casefold(), set())
            holders.discard(identity)
            if not holders:
                index.pop(before.casefold(), None)
        after = self.sfdcid_of(path, new) if new is not None else None
        if after:
            index.setdefault(after.casefold(), set()).add(identity)

    def account_views(self) -> list[dict[str, Any]]:
        """Every account flattened for tests: ``sfdcid`` and ``parentAccountId`` at the top."""
        with self.lock:
            parents = {
                r["accountId"]: r["parentAccountId"]
                for r in self.tables[self.path("account_parent")].values()
            }
            path = self.path("account")
            return [
                {
                    **r,
                    "sfdcid": self.sfdcid_of(path, r),
                    "parentAccountId": parents.get(r["identity"]),
                }
                for r in self.tables[path].values()
            ]

    def contact_views(self) -> list[dict[str, Any]]:
        """Every contact flattened for tests: its text contact points by type name, its
        ``address`` point and ``accountIds`` (primary account first, then linked ones)."""
        c = self.mapping.contact
        with self.lock:
            links: dict[int, list[int]] = {}
            for r in self.tables[self.path("account_contact")].values():
                links.setdefault(r["contactId"], []).append(r["accountId"])
            out = []
            for r in self.tables[self.path("contact")].values():
                points = self.point_values(r)
                address = next(
                    (
                        p
                        for p in r.get(c.points_field) or ()
                        if self.name_of("contact_point_type", p.get(c.point_type_field))
                        == c.points.address
                    ),
                    None,
                )
                primary = r.get(c.account_field)
                out.append(
                    {
                        **r,
                        **points,
                        "sfdcid": points.get(c.points.sfdcid),
                        "address": address,
                        "accountIds": [primary, *sorted(set(links.get(r["identity"], [])))],
                    }
                )
            return out

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every record of every resource, rendered (for ``GET /__sim/dump``)."""
        with self.lock:
            return {
                path: [self.render(path, r) for r in table.values()]
                for path, table in self.tables.items()
            }
