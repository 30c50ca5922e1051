"""Streaming events → billsync messages: the pure half of the ingest (no I/O here).

Each Change Data Capture event becomes one ``ChangeMessage`` per id in ``recordIds``; a
``LogiSense_Sync_Request__e`` platform event becomes an opportunity ``PushRequest``. What cannot
be turned into messages directly is classified for the ingest to act on: gap events (re-read the
records), overflow events (re-read the object), billsync's own writes (skip) and events of objects
billsync does not sync (ignore).

Compound fields arrive nested (Contact ``Name`` holds ``FirstName``/``LastName``,
``MailingAddress`` holds ``Street``, ``City``...). They are flattened to the field names SOQL and
the field map use (``FirstName``, ``MailingCity``), and dotted names in ``changedFields``
(``Name.LastName``, ``MailingAddress.City``) the same way. A field set to null arrives as ``null``
in the body (see :func:`cleared_fields`) and travels on as one of the message's
``nulled_fields``, which clear the field in the snapshot under the newest-commit-wins rule.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from billsync.errors import InvalidMessage
from billsync.messages import (
    CHANGE_SCHEMA,
    SYNCED_OBJECTS,
    ChangeMessage,
    Message,
    change,
    is_salesforce_id,
    parse_payload,
    push_request,
)
from billsync.sfid import canonical_or_none

log = logging.getLogger("billsync.ingest")

PUSH_EVENT_CHANNEL = "/event/LogiSense_Sync_Request__e"
PUSH_EVENT_FIELD = "Record_Id__c"
ALL_CHANGES_CHANNEL = "/data/ChangeEvents"
HEADER = "ChangeEventHeader"
DIRECT_TYPES = frozenset({"CREATE", "UPDATE", "DELETE", "UNDELETE"})
GAP_TYPES = frozenset({"GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE"})
OVERFLOW_TYPE = "GAP_OVERFLOW"
#: Fields a re-read adds for its timestamp; they are not record data worth merging.
READ_ONLY_STAMPS = ("SystemModstamp", "LastModifiedDate")
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
NAME_PARTS = frozenset({"Salutation", "FirstName", "MiddleName", "LastName", "Suffix"})
#: The schema's limit for message ids and transaction keys.
MAX_KEY_CHARS = 128

Kind = Literal["changes", "push", "gap", "overflow", "own-write", "ignored"]


@dataclass(slots=True)
class Interpretation:
    """What one streaming event means for billsync.

    ``messages`` are ready to publish (kind ``changes`` or ``push``); a ``gap`` names the
    ``record_ids`` of ``object_name`` to re-read, an ``overflow`` the object to re-read whole.
    ``event_time_ms`` is when Salesforce committed the event (for the cursor's age). Treat it as
    read-only; it is not frozen because a frozen dataclass costs three times as much to build,
    once per event.
    """

    kind: Kind
    event_time_ms: int
    object_name: str = ""
    messages: list[Message] = field(default_factory=list)
    record_ids: tuple[str, ...] = ()
    commit_timestamp: int = 0
    reason: str = ""


def channel_objects(channel: str) -> tuple[str, ...]:
    """The synced objects whose changes a channel carries (none for platform events)."""
    if channel == ALL_CHANGES_CHANNEL:
        return SYNCED_OBJECTS
    if not channel.startswith("/data/") or not channel.endswith("ChangeEvent"):
        return ()
    name = channel[len("/data/") : -len("ChangeEvent")]
    if name.endswith("__"):
        name += "c"
    return (name,) if name in SYNCED_OBJECTS else ()


def is_own_write(change_origin: str, call_client: str) -> bool:
    """True when ``changeOrigin`` names billsync's client id (``...;client=<id>``) exactly."""
    for part in (change_origin or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "client" and value.strip() == call_client:
            return True
    return False


def interpret(
    channel: str, replay_id: int, payload: dict[str, Any], *, call_client: str, received_ms: int
) -> Interpretation:
    """Classify one event and build its messages; never raises on a malformed payload."""
    header = payload.get(HEADER)
    if not isinstance(header, dict):
        if channel == PUSH_EVENT_CHANNEL:
            return _push(channel, replay_id, payload, received_ms)
        return Interpretation("ignored", received_ms, reason=f"no change header on {channel}")
    commit = _int(header.get("commitTimestamp"), received_ms)
    object_name = str(header.get("entityName", ""))
    change_type = str(header.get("changeType", ""))
    if is_own_write(str(header.get("changeOrigin", "")), call_client):
        return Interpretation("own-write", commit, object_name, reason="billsync's own write")
    if object_name not in SYNCED_OBJECTS:
        return Interpretation("ignored", commit, object_name, reason=f"{object_name} not synced")
    ids = tuple(
        full
        for full in map(canonical_or_none, header.get("recordIds") or ())
        if full is not None and is_salesforce_id(full)
    )
    if change_type == OVERFLOW_TYPE:
        return Interpretation("overflow", commit, object_name, commit_timestamp=commit)
    if change_type in GAP_TYPES:
        return Interpretation("gap", commit, object_name, record_ids=ids, commit_timestamp=commit)
    if change_type not in DIRECT_TYPES:
        return Interpretation("ignored", commit, object_name, reason=f"change type {change_type}")
    messages = _changes(channel, replay_id, payload, header, object_name, change_type, ids)
    return Interpretation("changes", commit, object_name, messages=messages, record_ids=ids)


def _changes(
    channel: str,
    replay_id: int,
    payload: dict[str, Any],
    header: dict[str, Any],
    object_name: str,
    change_type: str,
    ids: Iterable[str],
) -> list[Message]:
    """One validated message per record id.

    The event's first message goes through the full schema validation; the others differ from
    it only in ``id`` and ``record_id`` (both already checked here), so they are copies of it.
    """
    fields = flatten_fields(payload, skip=HEADER)
    nulled = cleared_fields(change_type, header, fields)
    common = {
        "schema": CHANGE_SCHEMA,
        "object": object_name,
        "change_type": change_type,
        "commit_timestamp": _int(header.get("commitTimestamp"), 0),
        "sequence": max(0, _int(header.get("sequenceNumber"), 0)),
        "replay_id": max(0, replay_id),
        "transaction_key": str(header.get("transactionKey", ""))[:MAX_KEY_CHARS],
        "fields": {k: v for k, v in fields.items() if v is not None and k not in nulled},
        "nulled_fields": nulled,
        "source": "cdc",
    }
    out: list[Message] = []
    first: Message | None = None
    for record_id in ids:
        message_id = f"{channel}:{replay_id}:{record_id}"
        if first is not None and len(message_id) <= MAX_KEY_CHARS:
            out.append(first.model_copy(update={"id": message_id, "record_id": record_id}))
            continue
        try:
            message = parse_payload({**common, "id": message_id, "record_id": record_id})
        except InvalidMessage as exc:
            log.warning("event %s on %s not usable for %s: %s", replay_id, channel, record_id, exc)
            continue
        first = first or message
        out.append(message)
    return out


def cleared_fields(change_type: str, header: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    """The fields an event sets to null, by their flat names.

    Over CometD a cleared field arrives in the body as ``null`` and the header has no
    ``nulledFields`` (Salesforce sends that list to Pub/Sub API subscribers only). A ``null``
    counts as a clearing unless the header's ``changedFields`` (when given) leaves the field out:
    a body that also carries unchanged fields as nulls, as Pub/Sub bodies do, then clears
    nothing by mistake. ``nulledFields``, when a producer sends it, is taken as well.
    """
    if change_type == "DELETE":
        return []
    found = {name for name, value in fields.items() if value is None}
    changed = header.get("changedFields")
    if change_type == "UPDATE" and isinstance(changed, list) and changed:
        found &= {n for n in map(flat_name, map(str, changed)) if n}
    listed = header.get("nulledFields")
    if isinstance(listed, list):
        found |= {n for n in map(flat_name, map(str, listed)) if n}
    return sorted(found)


def _push(
    channel: str, replay_id: int, payload: dict[str, Any], received_ms: int
) -> Interpretation:
    when = parse_datetime_ms(payload.get("CreatedDate")) or received_ms
    record_id = payload.get(PUSH_EVENT_FIELD)
    try:
        request = push_request(str(record_id or ""), source="platform-event")
    except InvalidMessage:
        shown = str(record_id)[:40]
        return Interpretation("ignored", when, reason=f"push request for a bad id {shown!r}")
    requested_by = payload.get("CreatedById")
    request = request.model_copy(
        update={
            "id": f"{channel}:{replay_id}",
            "requested_by": str(requested_by)[:255] if requested_by else "",
        }
    )
    return Interpretation("push", when, "Opportunity", messages=[request])


def snapshot_message(
    object_name: str, record: dict[str, Any], *, message_id: str, source: str, fallback_ms: int
) -> ChangeMessage | None:
    """A SNAPSHOT change from a record read by SOQL: its nulls become ``nulled_fields``.

    ``commit_timestamp`` is the record's ``SystemModstamp`` (or ``LastModifiedDate``), so that a
    re-read never overrides a newer change and loses to none older than itself.
    """
    stamp = parse_datetime_ms(record.get("SystemModstamp")) or parse_datetime_ms(
        record.get("LastModifiedDate")
    )
    fields = flatten_fields({k: v for k, v in record.items() if k not in READ_ONLY_STAMPS})
    nulled = sorted(k for k, v in fields.items() if v is None)
    try:
        return change(
            object_name,
            str(record.get("Id", "")),
            {k: v for k, v in fields.items() if v is not None},
            change_type="SNAPSHOT",
            commit_timestamp=stamp or fallback_ms,
            nulled_fields=nulled,
            source=source,
            message_id=message_id,
        )
    except InvalidMessage as exc:
        log.warning("re-read %s %s not usable: %s", object_name, record.get("Id"), exc)
        return None


def deleted_message(
    object_name: str, record_id: str, *, message_id: str, commit_timestamp: int
) -> ChangeMessage:
    """A DELETE for a record a re-read no longer finds (deleted since the gap)."""
    return change(
        object_name,
        record_id,
        {},
        change_type="DELETE",
        commit_timestamp=commit_timestamp,
        source="gap",
        message_id=message_id,
    )


def flat_name(name: str) -> str | None:
    """``Name.LastName`` → ``LastName``, ``MailingAddress.City`` → ``MailingCity``; None if odd."""
    if "." in name:
        outer, _, inner = name.partition(".")
        name = _compound_part(outer, inner)
    return name if FIELD_NAME.match(name) else None


def flatten_fields(payload: dict[str, Any], *, skip: str | None = None) -> dict[str, Any]:
    """Flatten compound (dict) values into plain field names; keep scalars; encode lists.

    ``skip`` names one key to leave out (the change event header).
    """
    out: dict[str, Any] = {}
    for name, value in payload.items():
        if name == skip:
            continue
        if isinstance(value, dict):
            for inner, part in value.items():
                flat = _compound_part(name, str(inner))
                if FIELD_NAME.match(flat):
                    out[flat] = _scalar(part)
            continue
        if FIELD_NAME.match(name):
            out[name] = _scalar(value)
    return out


def _compound_part(outer: str, inner: str) -> str:
    if outer == "Name" and inner in NAME_PARTS:
        return inner
    if outer.endswith("Address"):
        return outer[: -len("Address")] + inner
    if outer.endswith("__c"):
        return f"{outer[:-3]}__{inner}__s"
    return inner


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return int(value)


def parse_datetime_ms(value: Any) -> int | None:
    """Milliseconds since the epoch for a Salesforce datetime (``Z`` or ``+0000``); else None."""
    if not isinstance(value, str) or len(value) < 19:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp() * 1000)
