"""Change Data Capture: turn the records a transaction touched into change events.

A transaction yields at most one event per record, typed by its first change (create then update
is one CREATE with the committed values). The shapes are those the Streaming API (CometD)
delivers:

- CREATE and UNDELETE carry the record's non-empty fields;
- UPDATE carries the changed fields only, a field set to null as ``null`` in the body, and lists
  them in ``changedFields`` (with ``LastModifiedDate``);
- DELETE carries the header only.

The header has no ``nulledFields`` and no ``diffFields``: Salesforce sends those to Pub/Sub API
subscribers only, whose Avro bodies cannot tell an unchanged field from a cleared one. Contact
``Name`` and ``MailingAddress`` are compound fields, nested as in real change events
(``changedFields`` lists ``Name.LastName``). Records of one object changed identically share an
event with several ``recordIds``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

from simulators.salesforce.schema import ObjectDef

NOT_IN_EVENTS = frozenset({"Id", "IsDeleted", "SystemModstamp"})
COMPOUND: dict[str, dict[str, tuple[str, str]]] = {
    "Contact": {
        "FirstName": ("Name", "FirstName"),
        "LastName": ("Name", "LastName"),
        "MailingStreet": ("MailingAddress", "Street"),
        "MailingCity": ("MailingAddress", "City"),
        "MailingState": ("MailingAddress", "State"),
        "MailingPostalCode": ("MailingAddress", "PostalCode"),
        "MailingCountry": ("MailingAddress", "Country"),
        "MailingStateCode": ("MailingAddress", "StateCode"),
        "MailingCountryCode": ("MailingAddress", "CountryCode"),
    }
}
DERIVED_COMPOUNDS = {"Contact": frozenset({"Name"})}


@dataclass
class Change:
    """One record's net change within a transaction, ready to become (part of) an event."""

    obj: ObjectDef
    change_type: str
    record_ids: list[str]
    fields: dict[str, Any] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)

    def signature(self) -> tuple[Any, ...]:
        """Equal for changes that may share one event."""
        return (self.obj.name, self.change_type, repr(self.fields), tuple(self.changed))


def schema_id(obj_name: str) -> str:
    """A stable, opaque event schema id per object, shaped like Salesforce's."""
    digest = hashlib.sha256(obj_name.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def event_value(value: Any) -> Any:
    """A stored value as a change event carries it (datetimes in UTC ``Z`` form)."""
    if isinstance(value, str) and len(value) == 28 and value.endswith("+0000") and value[10] == "T":
        return value[:23] + "Z"
    return value


def _put(obj: ObjectDef, payload: dict[str, Any], name: str, value: Any) -> str:
    compound = COMPOUND.get(obj.name, {}).get(name)
    if compound is None:
        payload[name] = event_value(value)
        return name
    outer, inner = compound
    payload.setdefault(outer, {})[inner] = event_value(value)
    return f"{outer}.{inner}"


def _event_fields(obj: ObjectDef) -> list[str]:
    skip = NOT_IN_EVENTS | DERIVED_COMPOUNDS.get(obj.name, frozenset())
    return [name for name in obj.fields if name not in skip]


def net_change(
    obj: ObjectDef,
    record_id: str,
    first_type: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> Change | None:
    """The event-worthy net change of one record, or None when nothing remains to tell."""
    deleted_after = after is None or after.get("IsDeleted")
    if first_type in ("CREATE", "UNDELETE") and not deleted_after:
        assert after is not None
        return _whole_record(obj, record_id, first_type, after)
    if first_type == "CREATE":
        return None
    if first_type == "DELETE" or deleted_after:
        return None if before is None else Change(obj, "DELETE", [record_id])
    assert before is not None and after is not None
    change = Change(obj, "UPDATE", [record_id])
    for name in _event_fields(obj):
        if before.get(name) != after.get(name):
            change.changed.append(_put(obj, change.fields, name, after.get(name)))
    return change


def _whole_record(obj: ObjectDef, record_id: str, kind: str, record: dict[str, Any]) -> Change:
    """A CREATE or UNDELETE: every non-empty field of the record as committed."""
    change = Change(obj, kind, [record_id])
    for name in _event_fields(obj):
        if record.get(name) is not None:
            _put(obj, change.fields, name, record[name])
    return change


def group_changes(changes: list[Change]) -> list[Change]:
    """Merge identical non-CREATE changes of one object into one event with several recordIds."""
    out: list[Change] = []
    merged: dict[tuple[Any, ...], Change] = {}
    for change in changes:
        if change.change_type == "CREATE":
            out.append(change)
            continue
        key = change.signature()
        if key in merged:
            merged[key].record_ids.extend(change.record_ids)
        else:
            merged[key] = change
            out.append(change)
    return out


@dataclass(frozen=True)
class Commit:
    """What every event of one transaction shares."""

    transaction_key: str
    commit_timestamp: int
    commit_number: int
    commit_user: str
    change_origin: str


def event_data(change: Change, commit: Commit, sequence: int) -> dict[str, Any]:
    """The CometD ``data`` object of one change event (``event.replayId`` added on publish)."""
    header = {
        "entityName": change.obj.name,
        "recordIds": change.record_ids,
        "changeType": change.change_type,
        "changeOrigin": commit.change_origin,
        "transactionKey": commit.transaction_key,
        "sequenceNumber": sequence,
        "commitTimestamp": commit.commit_timestamp,
        "commitNumber": commit.commit_number,
        "commitUser": commit.commit_user,
        "changedFields": change.changed,
    }
    payload: dict[str, Any] = {"ChangeEventHeader": header}
    payload.update(change.fields)
    return {"schema": schema_id(change.obj.name), "payload": payload}


def gap_data(
    obj: ObjectDef, record_ids: list[str], change_type: str, commit: Commit
) -> dict[str, Any]:
    """A gap or overflow event: the header only, every record field null."""
    change = Change(obj, change_type, list(record_ids))
    return event_data(change, commit, 1)
