"""Field value checks: turn a JSON value into the stored value of a field, or raise as Salesforce.

Salesforce accepts JSON numbers or numeric strings for numbers, ``true``/``false`` (or their string
forms) for checkboxes, ``YYYY-MM-DD`` for dates and 15- or 18-character ids for lookups; anything
else is a ``JSON_PARSER_ERROR`` or ``MALFORMED_ID`` before any rule runs.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from simulators.salesforce.errors import ApiError, bad_request
from simulators.salesforce.ids import to_18
from simulators.salesforce.schema import PREFIXES, SCHEMA, FieldDef

MAX_TEXT = {"string": 255, "email": 80, "phone": 40, "picklist": 255, "textarea": 131072}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _parser_error(fdef: FieldDef, value: Any) -> ApiError:
    kind = type(value).__name__.upper()
    return bad_request(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {fdef.type} from VALUE_{kind} value {value} "
        "or request may be missing a required field",
    )


def coerce(fdef: FieldDef, value: Any) -> Any:
    """The value to store for ``fdef``; ``None`` stays ``None`` (requiredness is checked later)."""
    if value is None:
        return None
    kind = fdef.type
    if kind == "boolean":
        return _boolean(fdef, value)
    if kind in ("double", "currency"):
        return _number(fdef, value)
    if kind == "date":
        return _date(fdef, value)
    if kind == "reference":
        return reference_id(fdef, value)
    if isinstance(value, (dict, list)):
        raise _parser_error(fdef, value)
    return _text(fdef, value if isinstance(value, str) else str(value))


def _boolean(fdef: FieldDef, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _parser_error(fdef, value)


def _number(fdef: FieldDef, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _parser_error(fdef, value)
    try:
        return float(value)
    except ValueError:
        raise _parser_error(fdef, value) from None


def _date(fdef: FieldDef, value: Any) -> str:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            pass
    raise _parser_error(fdef, value)


def _text(fdef: FieldDef, value: str) -> str:
    limit = fdef.length or MAX_TEXT.get(fdef.type, 255)
    if len(value) > limit:
        raise bad_request(
            "STRING_TOO_LONG",
            f"{fdef.name}: data value too large: {value[:40]} (max length={limit})",
            [fdef.name],
        )
    if fdef.type == "email" and value and not EMAIL.match(value):
        raise bad_request(
            "INVALID_EMAIL_ADDRESS", f"Email: invalid email address: {value}", [fdef.name]
        )
    if fdef.picklist and value not in fdef.picklist:
        raise bad_request(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{fdef.name}: bad value for restricted picklist field: {value}",
            [fdef.name],
        )
    return value


def reference_id(fdef: FieldDef, value: Any) -> str:
    """An 18-character id of the lookup's target type, or ``MALFORMED_ID``."""
    target = fdef.reference_to or ""
    full = to_18(value) if isinstance(value, str) else None
    if full is None or (target in SCHEMA and PREFIXES.get(full[:3]) != target):
        label = f"{target} ID" if target else "ID"
        raise bad_request(
            "MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [fdef.name]
        )
    return full
