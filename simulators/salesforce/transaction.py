"""One unit of work on the org: validated inserts, updates, upserts and deletes with an undo log.

Records in the tables are never changed in place: a write stores a new dict, so the undo log and
the "before" image kept for change events are plain references. A transaction is created by
``OrgStore.transaction()``, which holds the org lock for its whole life.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from simulators.salesforce import rules
from simulators.salesforce.changes import (
    Change,
    Commit,
    event_data,
    event_value,
    group_changes,
    net_change,
    schema_id,
)
from simulators.salesforce.errors import ApiError, bad_request, not_found
from simulators.salesforce.ids import to_18
from simulators.salesforce.schema import SCHEMA, FieldDef, ObjectDef
from simulators.salesforce.values import coerce

if TYPE_CHECKING:
    from simulators.salesforce.store import OrgStore

ALL_CHANGES_CHANNEL = "/data/ChangeEvents"
_LOWER: dict[str, dict[str, FieldDef]] = {
    name: {f.lower(): fdef for f, fdef in obj.fields.items()} for name, obj in SCHEMA.items()
}
REFERRERS: dict[str, list[tuple[str, str]]] = {}
for _obj in SCHEMA.values():
    for _f in _obj.fields.values():
        if _f.type == "reference" and _f.reference_to in SCHEMA:
            REFERRERS.setdefault(_f.reference_to, []).append((_obj.name, _f.name))


def field_def(obj: ObjectDef, name: str) -> FieldDef | None:
    """A field by case-insensitive name, as the API resolves field names."""
    return _LOWER[obj.name].get(name.lower())


def read_only_error(name: str) -> ApiError:
    """INVALID_FIELD_FOR_INSERT_UPDATE for a field the client may not set."""
    return bad_request(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {name}. Please check the security settings of this "
        "field and verify that it is read/write for your profile or permission set.",
        [name],
    )


class Transaction:
    """Writes of one API call; see the module docstring."""

    def __init__(self, store: OrgStore, origin: str) -> None:
        self.store = store
        self.origin = origin
        self.now = store.now_iso()
        self._undo: list[tuple[str, str, dict[str, Any] | None]] = []
        self._touched: dict[tuple[str, str], tuple[str, dict[str, Any] | None, int]] = {}
        self._platform: list[tuple[ObjectDef, dict[str, Any], int]] = []

    # --- reads for rules ------------------------------------------------------------------

    def live(self, sobject: str, record_id: str | None) -> dict[str, Any] | None:
        """A record that exists and is not deleted, or None."""
        if not record_id:
            return None
        record = self.store.tables[sobject].get(record_id)
        return None if record is None or record["IsDeleted"] else record

    def live_rows(self, sobject: str, field: str, value: Any) -> list[dict[str, Any]]:
        """Live records of ``sobject`` whose ``field`` equals ``value``."""
        return [
            r
            for r in self.store.tables[sobject].values()
            if r.get(field) == value and not r["IsDeleted"]
        ]

    # --- writes ---------------------------------------------------------------------------

    def insert(self, sobject: str, values: dict[str, Any], *, trusted: bool = False) -> str:
        """Create a record (or publish a platform event); its new id."""
        obj = self.store.object(sobject)
        values = {k: v for k, v in values.items() if k != "attributes"}
        if obj.platform_event:
            return self._platform_event(obj, values)
        if "Id" in values and not trusted:
            raise bad_request(
                "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]
            )
        record: dict[str, Any] = {name: fdef.default for name, fdef in obj.fields.items()}
        record.update(self._coerce(obj, values, creating=True, trusted=trusted))
        user = self.store.user_id
        record.update(
            Id=self.store.new_id(obj),
            IsDeleted=False,
            CreatedDate=self.now,
            CreatedById=user,
            LastModifiedDate=self.now,
            LastModifiedById=user,
            SystemModstamp=self.now,
        )
        self._check_required(obj, record, record)
        self._check_references(obj, record, None)
        rules.before_insert(self, obj, record)
        self._check_unique(obj, record)
        self._write(obj.name, record["Id"], record, "CREATE")
        rules.after_insert(self, obj, record)
        return str(record["Id"])

    def update(
        self, sobject: str, record_id: str, values: dict[str, Any], *, trusted: bool = False
    ) -> str:
        """Change fields of a live record; its 18-character id."""
        obj = self.store.object(sobject)
        before = self._existing(obj, record_id)
        values = {k: v for k, v in values.items() if k not in ("attributes", "Id")}
        changes = self._coerce(obj, values, creating=False, trusted=trusted)
        after = dict(before)
        after.update(changes)
        self._check_required(obj, after, changes)
        self._check_references(obj, after, before)
        rules.before_update(self, obj, after, before)
        self._check_unique(obj, after)
        self._stamp(after)
        self._write(obj.name, after["Id"], after, "UPDATE")
        rules.after_update(self, obj, after, before)
        return str(after["Id"])

    def set_fields(self, sobject: str, record_id: str, changes: dict[str, Any]) -> None:
        """A system-side update (derived fields, cleared lookups): no validation, still an event."""
        after = dict(self.store.tables[sobject][record_id])
        after.update(changes)
        self._stamp(after)
        self._write(sobject, record_id, after, "UPDATE")

    def upsert(
        self, sobject: str, field: str, value: Any, values: dict[str, Any]
    ) -> tuple[str, bool]:
        """Update the record whose external id ``field`` is ``value``, else create it."""
        obj = self.store.object(sobject)
        fdef = field_def(obj, field)
        if fdef is None or not (fdef.external_id or fdef.name == "Id"):
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {field}"
            )
        rest = {k: v for k, v in values.items() if k.lower() != fdef.name.lower()}
        if fdef.name == "Id":
            if value:
                return self.update(obj.name, str(value), rest), False
            return self.insert(obj.name, rest), True
        if value is None or value == "":
            raise bad_request("MISSING_ARGUMENT", f"{fdef.name} not specified")
        key = coerce(fdef, value)
        existing = self.store.find_external(obj.name, fdef.name, key)
        if existing is not None:
            return self.update(obj.name, existing, rest), False
        return self.insert(obj.name, {**rest, fdef.name: key}), True

    def delete(self, sobject: str, record_id: str, *, cascade: bool = False) -> str:
        """Move a record (and its cascade-deleted children) to the recycle bin."""
        obj = self.store.object(sobject)
        record = self._existing(obj, record_id)
        rid = record["Id"]
        rules.before_delete(self, obj, record, cascade=cascade)
        for child, field in rules.CASCADE.get(obj.name, ()):
            for row in self.live_rows(child, field, rid):
                self.delete(child, row["Id"], cascade=True)
        for other, field in REFERRERS.get(obj.name, ()):
            for row in self.live_rows(other, field, rid):
                self.set_fields(other, row["Id"], {field: None})
        deleted = dict(self.store.tables[obj.name][rid], IsDeleted=True)
        self._stamp(deleted)
        self._write(obj.name, rid, deleted, "DELETE")
        return str(rid)

    def undelete(self, sobject: str, record_id: str) -> str:
        """Bring a deleted record back (UNDELETE)."""
        obj = self.store.object(sobject)
        full = to_18(record_id)
        record = self.store.tables[obj.name].get(full or "")
        if record is None or not record["IsDeleted"]:
            raise bad_request("UNDELETE_FAILED", "Entity is not in the recycle bin")
        restored = dict(record, IsDeleted=False)
        self._stamp(restored)
        self._write(obj.name, record["Id"], restored, "UNDELETE")
        return str(record["Id"])

    # --- savepoints and commit ------------------------------------------------------------

    def savepoint(self) -> int:
        """A mark to roll back to (for one record of an allOrNone=false batch)."""
        return len(self._undo)

    def rollback(self, savepoint: int) -> None:
        """Undo every write after ``savepoint``."""
        while len(self._undo) > savepoint:
            sobject, rid, previous = self._undo.pop()
            self._put(sobject, rid, previous)
        self._touched = {k: v for k, v in self._touched.items() if v[2] < savepoint}
        self._platform = [p for p in self._platform if p[2] < savepoint]

    def commit(self, *, emit: bool = True) -> None:
        """Publish the transaction's change events (one transactionKey, sequence 1..n)."""
        if not emit:
            return
        store = self.store
        changes: list[Change] = []
        for (sobject, rid), (first, before, _) in self._touched.items():
            change = net_change(SCHEMA[sobject], rid, first, before, store.tables[sobject].get(rid))
            if change is not None:
                changes.append(change)
        if changes:
            commit = self.commit_info()
            selected = [c for c in group_changes(changes) if c.obj.name in store.cdc_entities]
            for sequence, change in enumerate(selected, 1):
                channels = (change.obj.change_event_channel, ALL_CHANGES_CHANNEL)
                store.bus.publish(channels, event_data(change, commit, sequence))
        for obj, payload, _ in self._platform:
            store.bus.publish(
                (f"/event/{obj.name}",), {"schema": schema_id(obj.name), "payload": payload}
            )

    # --- internals ------------------------------------------------------------------------

    def commit_info(self) -> Commit:
        """Header values shared by every event of this transaction."""
        store = self.store
        store.commit_number += 1
        key = uuid.UUID(int=store.bus._rng.getrandbits(128))
        return Commit(
            transaction_key=str(key),
            commit_timestamp=int(store.clock() * 1000),
            commit_number=1_100_000_000_000 + store.commit_number * 7,
            commit_user=store.user_id,
            change_origin=self.origin,
        )

    def _existing(self, obj: ObjectDef, record_id: str) -> dict[str, Any]:
        full = to_18(record_id)
        record = self.store.tables[obj.name].get(full) if full else None
        if record is None:
            raise not_found()
        if record["IsDeleted"]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return record

    def _coerce(
        self, obj: ObjectDef, values: dict[str, Any], *, creating: bool, trusted: bool
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in values.items():
            fdef = field_def(obj, name)
            if fdef is None:
                raise bad_request(
                    "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}"
                )
            allowed = fdef.createable if creating else fdef.updateable
            if not (allowed or trusted):
                raise read_only_error(fdef.name)
            out[fdef.name] = value if trusted and fdef.type == "id" else coerce(fdef, value)
        return out

    def _check_required(
        self, obj: ObjectDef, record: dict[str, Any], changed: dict[str, Any]
    ) -> None:
        missing = [
            f.name
            for f in obj.fields.values()
            if f.required
            and f.name in record
            and record.get(f.name) in (None, "")
            and (f.name in changed or changed is record)
        ]
        if missing:
            raise bad_request(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )

    def _check_references(
        self, obj: ObjectDef, record: dict[str, Any], before: dict[str, Any] | None
    ) -> None:
        for fdef in obj.fields.values():
            value = record.get(fdef.name)
            if fdef.type != "reference" or fdef.reference_to not in SCHEMA or value is None:
                continue
            if before is not None and before.get(fdef.name) == value:
                continue
            target = self.store.tables[fdef.reference_to].get(value)
            if target is None:
                raise bad_request(
                    "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [fdef.name]
                )
            if target["IsDeleted"]:
                raise bad_request("ENTITY_IS_DELETED", "entity is deleted", [fdef.name])

    def _check_unique(self, obj: ObjectDef, record: dict[str, Any]) -> None:
        for field in obj.external_ids():
            value = record.get(field)
            other = self.store.find_external(obj.name, field, value) if value is not None else None
            if other is not None and other != record["Id"]:
                raise bad_request(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {field} duplicates value on record with id: {other}",
                    [field],
                )

    def _stamp(self, record: dict[str, Any]) -> None:
        record["LastModifiedDate"] = record["SystemModstamp"] = self.now
        record["LastModifiedById"] = self.store.user_id

    def _write(self, sobject: str, rid: str, record: dict[str, Any], change_type: str) -> None:
        previous = self.store.tables[sobject].get(rid)
        key = (sobject, rid)
        if key not in self._touched:
            self._touched[key] = (change_type, previous, len(self._undo))
        self._undo.append((sobject, rid, previous))
        self._put(sobject, rid, record)

    def _put(self, sobject: str, rid: str, record: dict[str, Any] | None) -> None:
        store = self.store
        table = store.tables[sobject]
        previous = table.get(rid)
        for field in SCHEMA[sobject].external_ids():
            index = store.external[(sobject, field)]
            old = previous.get(field) if previous and not previous["IsDeleted"] else None
            if old is not None and index.get(old) == rid:
                del index[old]
            new = record.get(field) if record and not record["IsDeleted"] else None
            if new is not None:
                index[new] = rid
        if record is None:
            table.pop(rid, None)
        else:
            table[rid] = record

    def _platform_event(self, obj: ObjectDef, values: dict[str, Any]) -> str:
        payload = {
            "CreatedDate": event_value(self.now),
            "CreatedById": self.store.user_id,
        }
        payload.update(self._coerce(obj, values, creating=True, trusted=False))
        self._platform.append((obj, payload, len(self._undo)))
        return self.store.new_id(obj)
