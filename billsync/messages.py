"""The versioned JSON messages that producers put on the queue, and their strict validation.

Two kinds, told apart by ``schema``:

- ``billsync.change/1``: one Salesforce record changed (from CDC, a re-read, or any producer);
- ``billsync.push-request/1``: someone asked for an opportunity to become a price plan.

Everything a worker consumes goes through ``parse_message``; whatever fails it is dead-lettered
with the reason it gives. The schema is described in docs/messages.md and published as JSON
Schema in docs/message-schema.json.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from billsync.errors import InvalidMessage
from billsync.sfid import canonical, canonical_or_none, canonical_references

CHANGE_SCHEMA: Final = "billsync.change/1"
PUSH_REQUEST_SCHEMA: Final = "billsync.push-request/1"
KNOWN_SCHEMAS = (CHANGE_SCHEMA, PUSH_REQUEST_SCHEMA)

SYNCED_OBJECTS = ("Account", "Contact", "Opportunity", "AccountContactRelation")
CHANGE_TYPES = (
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "SNAPSHOT",
)
MAX_FIELDS = 500
MAX_VALUE_CHARS = 32_768

#: Stored and compared in the 18-character form, whichever form the producer sent.
SalesforceId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$"),
    AfterValidator(canonical),
]
FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$")]
FieldValue = str | int | float | bool | None
ObjectName = Literal["Account", "Contact", "Opportunity", "AccountContactRelation"]
ChangeType = Literal["CREATE", "UPDATE", "DELETE", "UNDELETE", "SNAPSHOT"]

_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ChangeMessage(_Strict):
    """One Salesforce record's change: the fields it set (or all of them for a snapshot).

    ``commit_timestamp`` (ms since epoch), then ``replay_id`` (the CDC event's replay id, which
    grows in commit order on a channel: it separates two transactions committed in the same
    millisecond), then ``sequence`` order the changes of one field;
    ``SNAPSHOT`` is a full re-read of the record (after a gap, or a reconciliation).
    """

    schema_: Literal["billsync.change/1"] = Field(alias="schema", default=CHANGE_SCHEMA)
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    object: ObjectName
    record_id: SalesforceId
    change_type: ChangeType
    commit_timestamp: Annotated[int, Field(ge=0, le=32503680000000)]
    sequence: Annotated[int, Field(ge=0)] = 0
    replay_id: Annotated[int, Field(ge=0)] = 0
    transaction_key: Annotated[str, StringConstraints(max_length=128)] = ""
    fields: Annotated[dict[FieldName, FieldValue], Field(max_length=MAX_FIELDS)] = {}
    nulled_fields: Annotated[list[FieldName], Field(max_length=MAX_FIELDS)] = []
    source: Literal["cdc", "gap", "reconcile", "api", "replay"] = "api"

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    @field_validator("fields", mode="after")
    @classmethod
    def _canonical_references(cls, fields: dict[str, FieldValue]) -> dict[str, FieldValue]:
        return canonical_references(fields)


class PushRequest(_Strict):
    """A request to push an opportunity to LogiSense as an Account Price Plan."""

    schema_: Literal["billsync.push-request/1"] = Field(alias="schema", default=PUSH_REQUEST_SCHEMA)
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    object: Literal["Opportunity"] = "Opportunity"
    record_id: SalesforceId
    requested_at: Annotated[int, Field(ge=0)]
    requested_by: Annotated[str, StringConstraints(max_length=255)] = ""
    source: Literal["platform-event", "cli", "http", "api", "replay"] = "api"

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


Message = ChangeMessage | PushRequest


def is_salesforce_id(value: str) -> bool:
    """True for a 15- or 18-character Salesforce id (and nothing that could carry SOQL); an
    18-character id must carry its own checksum suffix."""
    return bool(_ID_RE.match(value)) and canonical_or_none(value) is not None


def new_message_id() -> str:
    """A fresh unique message id."""
    return uuid.uuid4().hex


def now_ms() -> int:
    """Milliseconds since the epoch, the unit of CDC commit timestamps."""
    return int(time.time() * 1000)


def change(
    object_name: str,
    record_id: str,
    fields: dict[str, Any],
    *,
    change_type: str = "UPDATE",
    commit_timestamp: int | None = None,
    sequence: int = 0,
    replay_id: int = 0,
    nulled_fields: list[str] | None = None,
    source: str = "api",
    message_id: str | None = None,
) -> ChangeMessage:
    """Build a validated change message (the small Python API for producers)."""
    return parse_payload(
        {
            "schema": CHANGE_SCHEMA,
            "id": message_id or new_message_id(),
            "object": object_name,
            "record_id": record_id,
            "change_type": change_type,
            "commit_timestamp": commit_timestamp if commit_timestamp is not None else now_ms(),
            "sequence": sequence,
            "replay_id": replay_id,
            "fields": {k: v for k, v in fields.items() if k not in (nulled_fields or [])},
            "nulled_fields": nulled_fields or [],
            "source": source,
        }
    )  # type: ignore[return-value]


def push_request(record_id: str, *, source: str = "api", requested_by: str = "") -> PushRequest:
    """Build a validated opportunity push request."""
    return parse_payload(
        {
            "schema": PUSH_REQUEST_SCHEMA,
            "id": new_message_id(),
            "record_id": record_id,
            "requested_at": now_ms(),
            "requested_by": requested_by,
            "source": source,
        }
    )  # type: ignore[return-value]


def encode(message: Message) -> bytes:
    """The wire form: compact UTF-8 JSON."""
    return message.model_dump_json(by_alias=True).encode()


def parse_message(body: bytes, *, max_bytes: int) -> Message:
    """Decode and validate one queued message, or raise InvalidMessage saying what is wrong."""
    if len(body) > max_bytes:
        raise InvalidMessage(
            f"message is {len(body):,} bytes, over the {max_bytes:,}-byte limit; "
            "send one record per message"
        )
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"not valid UTF-8 JSON: {exc}") from None
    return parse_payload(payload)


def parse_payload(payload: Any) -> Message:
    """Validate an already-decoded payload against its schema version."""
    if not isinstance(payload, dict):
        raise InvalidMessage(f"expected a JSON object, got {type(payload).__name__}")
    schema = payload.get("schema")
    model: type[ChangeMessage] | type[PushRequest]
    if schema == CHANGE_SCHEMA:
        model = ChangeMessage
    elif schema == PUSH_REQUEST_SCHEMA:
        model = PushRequest
    else:
        shown = repr(schema)[:80]
        raise InvalidMessage(
            f"unknown schema {shown}; this billsync understands {', '.join(KNOWN_SCHEMAS)}"
        )
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(message)'}: {err['msg']}"
            for err in exc.errors()[:10]
        )
        raise InvalidMessage(f"{schema} message is invalid: {problems}") from None


def json_schemas() -> dict[str, Any]:
    """The JSON Schema of each message kind, for docs/message-schema.json."""
    return {
        CHANGE_SCHEMA: ChangeMessage.model_json_schema(by_alias=True),
        PUSH_REQUEST_SCHEMA: PushRequest.model_json_schema(by_alias=True),
    }
