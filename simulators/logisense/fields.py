"""Generic field checks: types, unknown fields, required fields and references.

Every check appends to a list of problems instead of raising, so that one response lists every
problem of the request, as the real API does.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from . import errors as e
from .errors import Problem
from .schema import Field
from .state import LogiSenseState


def _type_ok(spec: Field, value: Any) -> bool:
    kind = spec.kind
    if kind in ("str", "date"):
        return isinstance(value, str)
    if kind in ("int", "ref"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "number":
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if kind == "ext":
        return isinstance(value, dict | list)
    return isinstance(value, list)  # "list": shape checked by the resource's own rules


def clean(
    fields: dict[str, Field],
    body: dict[str, Any],
    read_only: tuple[str, ...],
    problems: list[Problem],
    where: str = "",
) -> dict[str, Any]:
    """The writable fields of ``body`` with valid types; read-only fields are ignored.

    Read-only fields (identity, created, ``xxxName`` ...) are dropped silently, so that a client may
    send back a record it read; any other unknown field is a problem.
    """
    out: dict[str, Any] = {}
    for key, value in body.items():
        spec = fields.get(key)
        if spec is None:
            if key in read_only or key.endswith("Name"):
                continue
            problems.append(Problem(e.UNKNOWN_FIELD, f"{where}'{key}' is not a known field"))
            continue
        if value is None:
            out[key] = None
            continue
        if not _type_ok(spec, value):
            problems.append(Problem(e.INVALID_VALUE, f"{where}'{key}' must be of type {spec.kind}"))
            continue
        if spec.kind == "str" and spec.max_length and len(value) > spec.max_length:
            problems.append(
                Problem(e.INVALID_VALUE, f"{where}'{key}' is longer than {spec.max_length}")
            )
            continue
        if spec.kind == "date" and not _is_date(value):
            problems.append(Problem(e.INVALID_VALUE, f"{where}'{key}' must be an ISO 8601 date"))
            continue
        out[key] = value
    return out


def _is_date(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def required(
    fields: dict[str, Field], record: dict[str, Any], problems: list[Problem], where: str = ""
) -> None:
    """Every required field present and not blank."""
    for key, spec in fields.items():
        value = record.get(key)
        if spec.required and (value is None or (isinstance(value, str) and not value.strip())):
            problems.append(Problem(e.REQUIRED, f"{where}'{key}' is required"))


def references(
    state: LogiSenseState,
    fields: dict[str, Field],
    record: dict[str, Any],
    problems: list[Problem],
    where: str = "",
) -> None:
    """Every ``ref`` field names a record that exists."""
    for key, spec in fields.items():
        if spec.ref is None:
            continue
        value = record.get(key)
        path = state.path(spec.ref)
        if isinstance(value, int) and state.get(path, value) is None:
            problems.append(
                Problem(
                    e.REFERENCE_NOT_FOUND,
                    f"{where}'{key}' {value} does not refer to an existing {path}",
                )
            )


def check_record(
    state: LogiSenseState,
    fields: dict[str, Field],
    record: dict[str, Any],
    problems: list[Problem],
    where: str = "",
) -> None:
    """Required fields and references of a whole candidate record."""
    required(fields, record, problems, where)
    references(state, fields, record, problems, where)


def non_negative(
    record: dict[str, Any], keys: tuple[str, ...], problems: list[Problem], where: str
):
    """Prices and quantities may not be negative."""
    for key in keys:
        value = record.get(key)
        if isinstance(value, int | float) and value < 0:
            problems.append(Problem(e.INVALID_VALUE, f"{where}'{key}' must not be negative"))
