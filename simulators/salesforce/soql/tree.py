"""The SOQL syntax tree: what a parsed query says, as immutable values.

Parsing builds it once per query text and caches it, and every run of that text reads the same
tree, so nothing here may change after construction (frozen dataclasses) or refer to a store.
Positions (line, column) are kept where an error must point at the query text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldPath:
    """A field, possibly through parent relationships (``Account.Parent.Name``), with position."""

    names: tuple[str, ...]
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class CountAll:
    """``COUNT()`` in the select list."""


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal value; ``kind`` is string, number, boolean, null, date, datetime or relative."""

    kind: str
    value: Any


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op literal`` with op one of = != < <= > >=."""

    field: FieldPath
    op: str
    literal: Literal


@dataclass(frozen=True, slots=True)
class InList:
    """``field [NOT] IN (literal, ...)``."""

    field: FieldPath
    literals: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class Like:
    """``field LIKE 'pattern'``, the pattern compiled once (case-insensitive)."""

    field: FieldPath
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class SemiJoin:
    """``field [NOT] IN (SELECT idField FROM Object ...)``."""

    field: FieldPath
    query: Query
    negated: bool


@dataclass(frozen=True, slots=True)
class Not:
    """``NOT condition``."""

    operand: Condition


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``a AND b AND ...`` (``conjunction``) or ``a OR b OR ...``."""

    conjunction: bool
    operands: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One ORDER BY key."""

    field: FieldPath
    descending: bool
    nulls_last: bool


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed SELECT; ``sobject`` is a relationship name when it is a child subquery."""

    select: tuple[SelectItem, ...]
    sobject: str
    line: int
    column: int
    where: Condition | None
    order: tuple[OrderKey, ...]
    limit: int | None
    offset: int


Condition = Comparison | InList | Like | SemiJoin | Not | BoolOp
SelectItem = FieldPath | CountAll | Query
