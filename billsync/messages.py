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
#: How deep a message's JSON may nest: a valid one nests 2 deep (the message, its fields).
MAX_DEPTH = 8
#: The largest integer a message may carry (PostgreSQL's BIGINT).
MAX_INT = 2**63 - 1
#: Custom lookup fields that hold a Salesforce id (standard lookups end in ``Id``).
CUSTOM_ID_FIELDS = frozenset({"Subscription_Invoice_Recipient__c", "Usage_Invoice_Recipient__c"})

#: Stored and compared in the 18-character form, whichever form the producer sent.
SalesforceId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$"),
    AfterValidator(canonical),
]
FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$")]
FieldValue = (
    Annotated[str, StringConstraints(max_length=MAX_VALUE_CHARS)]
    | Annotated[int, Field(ge=-MAX_INT, le=MAX_INT)]
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
    | None
)
ObjectName = Literal["Account", "Contact", "Opportunity", "AccountContactRelation"]
ChangeType = Literal["CREATE", "UPDATE", "DELETE", "UNDELETE", "SNAPSHOT"]

_ID_RE = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?")
_JSON_TOKENS = re.compile(rb'["\\\[\]{}]')


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
    sequence: Annotated[int, Field(ge=0, le=MAX_INT)] = 0
    replay_id: Annotated[int, Field(ge=0, le=MAX_INT)] = 0
    transaction_key: Annotated[str, StringConstraints(max_length=128)] = ""
    fields: Annotated[dict[FieldName, FieldValue], Field(max_length=MAX_FIELDS)] = {}
    nulled_fields: Annotated[list[FieldName], Field(max_length=MAX_FIELDS)] = []
    source: Literal["cdc", "gap", "reconcile", "api", "replay"] = "api"

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    @field_validator("fields", mode="after")
    @classmethod
    def _storable_canonical_values(cls, fields: dict[str, FieldValue]) -> dict[str, FieldValue]:
        problems = field_problems(fields)
        if problems:
            raise ValueError("; ".join(problems))
        return canonical_references(fields)


class PushRequest(_Strict):
    """A request to push an opportunity to LogiSense as an Account Price Plan."""

    schema_: Literal["billsync.push-request/1"] = Field(alias="schema", default=PUSH_REQUEST_SCHEMA)
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    object: Literal["Opportunity"] = "Opportunity"
    record_id: SalesforceId
    requested_at: Annotated[int, Field(ge=0, le=MAX_INT)]
    requested_by: Annotated[str, StringConstraints(max_length=255)] = ""
    source: Literal["platform-event", "cli", "http", "api", "replay"] = "api"

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


Message = ChangeMessage | PushRequest


def is_salesforce_id(value: str) -> bool:
    """True for a 15- or 18-character Salesforce id (and nothing that could carry SOQL); an
    18-character id must carry its own checksum suffix. The whole string must match: a trailing
    newline or a quote is not part of an id."""
    return (
        isinstance(value, str)
        and _ID_RE.fullmatch(value) is not None
        and canonical_or_none(value) is not None
    )


def is_id_field(name: str) -> bool:
    """True for a field whose value is a Salesforce id: ``Id``, standard lookups (``AccountId``,
    ``ParentId``) and the custom lookups billsync reads."""
    return name.endswith("Id") or name in CUSTOM_ID_FIELDS


def field_problems(fields: dict[str, Any]) -> list[str]:
    """What makes field values unsafe to store: an id field that holds no Salesforce id, a NUL
    character or a lone surrogate (PostgreSQL refuses both in text)."""
    problems = []
    for name, value in fields.items():
        if not isinstance(value, str):
            continue
        if is_id_field(name) and value and not is_salesforce_id(value):
            problems.append(
                f"{name} must be a 15- or 18-character Salesforce id, got {value[:40]!r}"
            )
        elif "\x00" in value:
            problems.append(f"{name} contains a NUL character")
        elif not value.isascii() and _has_surrogate(value):
            problems.append(f"{name} contains text that is not valid Unicode")
    return problems


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def json_depth(body: bytes) -> int:
    """How deep ``body``'s JSON nests, counted without parsing it (strings skipped), so that a
    message nested 100,000 deep is refused before any parser recurses into it. Linear in the
    body's size; a body with no more brackets than the limit needs no scan (its count bounds
    its depth)."""
    openings = body.count(b"[") + body.count(b"{")
    if openings <= MAX_DEPTH:
        return openings
    depth = deepest = 0
    in_string = False
    escaped_at = -1
    for token in _JSON_TOKENS.finditer(body):
        at = token.start()
        if at == escaped_at:
            continue
        char = body[at]
        if in_string:
            if char == 0x5C:
                escaped_at = at + 1
            elif char == 0x22:
                in_string = False
        elif char == 0x22:
            in_string = True
        elif char in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif char in (0x5D, 0x7D):
            depth -= 1
    return deepest


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
    depth = json_depth(body)
    if depth > MAX_DEPTH:
        raise InvalidMessage(
            f"message JSON nests {depth} levels deep, over the limit of {MAX_DEPTH}; "
            "a billsync message nests 2 deep"
        )
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"not valid UTF-8 JSON: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidMessage(f"not valid JSON for billsync: {str(exc)[:200]}") from None
    return parse_payload(payload)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; billsync takes finite numbers only")


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
