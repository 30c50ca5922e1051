"""What SOQL values mean: stored values coerced to a literal's type, and the tests they pass.

A WHERE condition compares a stored value with a literal by the literal's type, as Salesforce
does: text case-insensitively (ids exactly, 15 and 18 characters alike), numbers numerically,
dates and datetimes in UTC, date literals such as ``LAST_N_DAYS:n`` as ranges of days. A null,
or a value of another type, satisfies only ``!=`` (and ``NOT IN``). Each test is built once per
run as a plain function of the value, so filtering a scan calls no dispatch.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from simulators.salesforce.soql.tree import Literal

ValueTest = Callable[[Any], bool]


@functools.lru_cache(maxsize=65536)
def parse_datetime(text: str) -> datetime | None:
    """An ISO date or datetime string as an aware UTC-comparable datetime (naive means UTC)."""
    try:
        parsed = datetime.fromisoformat(text.upper())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@functools.lru_cache(maxsize=65536)
def _parse_date(text: str) -> date | None:
    """A stored date (``2024-01-31``) or datetime string as its UTC calendar date."""
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    parsed = parse_datetime(text)
    return None if parsed is None else parsed.astimezone(UTC).date()


def _as_date(value: Any) -> date | None:
    """A stored value as a calendar date (UTC for datetimes), or None."""
    if isinstance(value, str):
        return _parse_date(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).date()
    return value if isinstance(value, date) else None


def _as_datetime(value: Any) -> datetime | None:
    """A stored value as an aware datetime, or None."""
    if isinstance(value, str):
        return parse_datetime(value)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return None


def _as_number(value: Any) -> int | float | None:
    """A stored number (never a checkbox), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _as_bool(value: Any) -> bool | None:
    """A stored checkbox value, or None."""
    return value if isinstance(value, bool) else None


def _as_text(value: Any) -> str | None:
    """A stored text value, or None."""
    return value if isinstance(value, str) else None


def _as_folded_text(value: Any) -> str | None:
    """A stored text value in lower case (SOQL text compares case-insensitively)."""
    return value.lower() if isinstance(value, str) else None


def _as_id_key(value: Any) -> str | None:
    """Ids compare exactly, a 15-character id equal to its 18-character form."""
    if not isinstance(value, str):
        return None
    return value[:15] if len(value) == 18 else value


_COERCIONS: dict[str, Callable[[Any], Any]] = {
    "string": _as_text,
    "number": _as_number,
    "boolean": _as_bool,
    "datetime": _as_datetime,
}
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_RANGE_CHECKS: dict[str, Callable[[date, date, date], bool]] = {
    "=": lambda day, low, high: low <= day <= high,
    "!=": lambda day, low, high: not low <= day <= high,
    "<": lambda day, low, _: day < low,
    "<=": lambda day, _, high: day <= high,
    ">": lambda day, _, high: day > high,
    ">=": lambda day, low, _: day >= low,
}


def _date_range(literal: Literal, today: date) -> tuple[date, date]:
    """The days a date literal covers: one day, or a relative range such as LAST_N_DAYS:n."""
    if literal.kind == "date":
        return literal.value, literal.value
    name, days = literal.value
    one = timedelta(days=1)
    ranges = {
        "TODAY": (today, today),
        "YESTERDAY": (today - one, today - one),
        "TOMORROW": (today + one, today + one),
        "LAST_N_DAYS": (today - days * one, today),
        "NEXT_N_DAYS": (today + one, today + days * one),
    }
    return ranges[name]


def value_test(op: str, literal: Literal, today: date, exact: bool) -> ValueTest:
    """A test of one stored value against a literal, comparing by the literal's type.

    A null (or a value of another type) satisfies only ``!=``, as in SOQL, where ``!=`` and
    ``NOT IN`` keep records whose field is null.
    """
    if literal.kind == "null":
        return (lambda value: value is None) if op == "=" else (lambda value: value is not None)
    coerce: Callable[[Any], Any]
    if literal.kind in ("date", "relative"):
        low, high = _date_range(literal, today)
        in_range = _RANGE_CHECKS[op]
        coerce = _as_date

        def check(value: Any) -> bool:
            return in_range(value, low, high)

    else:
        coerce = _COERCIONS[literal.kind]
        if literal.kind == "string":
            coerce = _as_id_key if exact else _as_folded_text
        target = coerce(literal.value)
        compare = _OPERATORS[op]

        def check(value: Any) -> bool:
            return compare(value, target)

    when_null = op == "!="

    def test(value: Any) -> bool:
        value = coerce(value)
        return when_null if value is None else check(value)

    return test


def membership_test(literals: tuple[Literal, ...], today: date, exact: bool) -> ValueTest:
    """The test of ``IN (...)``: a set lookup for strings, else any of the equality tests."""
    if all(literal.kind in ("string", "null") for literal in literals):
        fold = _as_id_key if exact else _as_folded_text
        values = {fold(literal.value) for literal in literals if literal.kind == "string"}
        accepts_null = any(literal.kind == "null" for literal in literals)

        def in_strings(value: Any) -> bool:
            return (
                fold(value) in values if isinstance(value, str) else value is None and accepts_null
            )

        return in_strings
    tests = [value_test("=", literal, today, exact) for literal in literals]

    def in_any(value: Any) -> bool:
        return any(test(value) for test in tests)

    return in_any


def like_test(pattern: re.Pattern[str]) -> ValueTest:
    """The test of ``LIKE``: text only, the whole value matching."""

    def like(value: Any) -> bool:
        return isinstance(value, str) and pattern.fullmatch(value) is not None

    return like


def semi_join_test(values: dict[Any, None]) -> ValueTest:
    """The test of a semi-join: the value is one the sub-select returned."""

    def member(value: Any) -> bool:
        return value is not None and value in values

    return member


def is_id_field(field: str) -> bool:
    """Ids and standard lookups compare exactly; other text compares case-insensitively."""
    return field.endswith("Id")
