"""The simulator's SOQL engine: parse a query with a lark grammar, run it over a queryable store.

The REST ``/query`` route needs Salesforce's answers (record shape, relationship nesting, error
codes and messages) for the subset of SOQL that billsync and its tests send, fast enough for a
simulator serving about a thousand requests a second. Parsed queries are cached by their text;
``Id = '...'`` and ``Id IN (...)`` conjuncts read records through the store's ``get`` instead of
scanning. The engine knows nothing of how the simulator stores records: it reads them through
:class:`QueryableStore`. Values are data only: nothing in a query is ever evaluated as code.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

Row = dict[str, Any]
Getter = Callable[[Row], Any]
Predicate = Callable[[Row], bool]
ValueTest = Callable[[Any], bool]

PARSE_CACHE_SIZE = 1024
GRAMMAR_PATH = Path(__file__).with_name("soql.lark")
UNSUPPORTED_PREFIX = "not supported by the simulator: "
_NO_SUCH_COLUMN_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom "
    "field name. Please reference your WSDL or the describe call for the appropriate names."
)
_RELATIONSHIP_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the "
    "custom relationship name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)
_OBJECT_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity "
    "name. Please reference your WSDL or the describe call for the appropriate names."
)


class SoqlError(Exception):
    """A query Salesforce would refuse; ``error_code`` is the REST ``errorCode`` to answer with.

    One of ``MALFORMED_QUERY``, ``INVALID_FIELD`` or ``INVALID_TYPE``; ``str(exc)`` is the
    Salesforce-style message (the query line, a caret, the row and column, the reason).
    """

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


@dataclass
class QueryResult:
    """What a query returns: Salesforce-shaped records and the total count (``COUNT()`` too)."""

    records: list[dict[str, Any]]
    total_size: int


class QueryableStore(Protocol):
    """What the engine needs from the simulator's record store (and nothing more)."""

    def rows(self, sobject: str) -> Iterable[dict[str, Any]]:
        """Current records of an object: dicts with ``Id``, ``IsDeleted`` and field values."""
        ...

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        """One record by id, or None."""
        ...

    def field_names(self, sobject: str) -> set[str] | None:
        """The object's canonical field names, or None when the object is unknown."""
        ...

    def parent_relationship(self, sobject: str, name: str) -> tuple[str, str] | None:
        """A lookup by relationship name: (foreign key field, parent object), or None."""
        ...

    def child_relationship(self, sobject: str, name: str) -> tuple[str, str] | None:
        """A child relationship by name: (child object, its foreign key field), or None."""
        ...


# ---------------------------------------------------------------- syntax tree (immutable, cached)


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


# ---------------------------------------------------------------- parsing


def run_query(
    soql: str, store: QueryableStore, *, include_deleted: bool = False, api_version: str = "59.0"
) -> QueryResult:
    """Run one SOQL query; raises :class:`SoqlError` for what Salesforce would refuse."""
    query = parse(soql)
    return _Run(soql, store, include_deleted, api_version).execute(query)


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
def parse(soql: str) -> Query:
    """Parse a query into its syntax tree (cached by text; the tree is immutable)."""
    try:
        tree = _parser().parse(soql)
    except VisitError as exc:
        raise _problem_error(soql, exc.orig_exc) from None
    except (SoqlError, _Problem) as exc:
        raise _problem_error(soql, exc) from None
    except UnexpectedInput as exc:
        raise _syntax_error(soql, exc) from None
    assert isinstance(tree, Query)
    return tree


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    """The LALR parser, built on first use (never at import)."""
    return Lark(
        GRAMMAR_PATH.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        transformer=_TreeBuilder(),
        propagate_positions=False,
    )


def _problem_error(soql: str, exc: BaseException) -> BaseException:
    """A problem raised while building the tree, as the error to raise."""
    if isinstance(exc, _Problem):
        return _malformed(soql, exc.line, exc.column, exc.detail)
    return exc


def _positioned(soql: str, line: int, column: int, detail: str) -> str:
    """Salesforce's error layout: the query line, a caret under the column, row/column, reason."""
    lines = soql.splitlines() or [""]
    text = lines[min(max(line, 1), len(lines)) - 1]
    return f"\n{text}\n{' ' * (column - 1)}^\nERROR at Row:{line}:Column:{column}\n{detail}"


def _malformed(soql: str, line: int, column: int, detail: str) -> SoqlError:
    """A MALFORMED_QUERY error at a position."""
    return SoqlError("MALFORMED_QUERY", _positioned(soql, line, column, detail))


def _unsupported(feature: str) -> SoqlError:
    """A MALFORMED_QUERY error for valid SOQL the simulator does not implement."""
    return SoqlError("MALFORMED_QUERY", UNSUPPORTED_PREFIX + feature)


_UNSUPPORTED_CLAUSES = {
    "GROUP": "GROUP BY",
    "HAVING": "HAVING",
    "WITH": "WITH",
    "USING": "USING SCOPE",
    "INCLUDES": "INCLUDES",
    "EXCLUDES": "EXCLUDES",
}
_KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "BY", "LIMIT", "OFFSET"}
_AGGREGATES = {"SUM", "AVG", "MIN", "MAX", "COUNT", "COUNT_DISTINCT"}
_PERIODS = "(DAY|WEEK|MONTH|QUARTER|YEAR|FISCAL_QUARTER|FISCAL_YEAR)S?"
_DATE_LITERAL = re.compile(
    rf"(THIS|LAST|NEXT)_{_PERIODS}|(LAST|NEXT)_90_DAYS|(LAST|NEXT)_N_{_PERIODS}|N_{_PERIODS}_AGO",
    re.IGNORECASE,
)
_WORD_BEFORE = re.compile(r"([A-Za-z_]\w*)\s*(\(\s*)?$")


def _syntax_error(soql: str, exc: UnexpectedInput) -> SoqlError:
    """Translate a lark error into Salesforce's: an unsupported feature, or the bad token."""
    if isinstance(exc, UnexpectedCharacters):
        line, column, start = exc.line, exc.column, exc.pos_in_stream or 0
        text = soql[start : start + 1] or "<EOF>"
    elif isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        token = exc.token
        line, column, text = token.line or 1, token.column or 1, str(token)
        start = token.start_pos if token.start_pos is not None else len(soql)
    else:
        line, column, text, start = *_end_position(soql), "<EOF>", len(soql)
    feature = _unsupported_feature(soql, start, text)
    if feature:
        return _unsupported(feature)
    return _malformed(soql, line, column, f"unexpected token: '{text}'")


def _unsupported_feature(soql: str, start: int, token: str) -> str | None:
    """Name the unsupported SOQL feature that stopped the parser at ``token``, if it is one."""
    word, before = token.upper(), soql[:start].rstrip()
    if word in _UNSUPPORTED_CLAUSES:
        return _UNSUPPORTED_CLAUSES[word]
    if word == "FOR":
        return "FOR UPDATE / FOR VIEW / FOR REFERENCE"
    if before[-1:] in ("=", "<", ">", "(", ",") and _DATE_LITERAL.fullmatch(token):
        return f"date literal {word}"
    match = _WORD_BEFORE.search(before)
    if match is None:
        return None
    previous, open_paren = match.group(1).upper(), match.group(2)
    if previous == "TYPEOF":
        return "TYPEOF"
    if previous in _KEYWORDS:
        return None
    if open_paren:
        calls = word != "SELECT"
    else:
        calls = token == "(" and not soql[start + 1 :].lstrip().upper().startswith("SELECT")
    if not calls:
        return None
    if previous == "COUNT":
        return "aggregate function COUNT(field)"
    kind = "aggregate function" if previous in _AGGREGATES else "function"
    return f"{kind} {previous}()"


def _end_position(soql: str) -> tuple[int, int]:
    """Row and column just past the end of the query."""
    lines = soql.splitlines() or [""]
    return len(lines), len(lines[-1]) + 1


class _Problem(Exception):
    """A syntax problem found while building the tree; ``parse`` adds the query text."""

    def __init__(self, token: Token, detail: str) -> None:
        super().__init__(detail)
        self.line, self.column, self.detail = token.line or 1, token.column or 1, detail


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _unescape(token: Token) -> str:
    """The value of a quoted SOQL string; ``\\%`` and ``\\_`` stay escaped for LIKE."""

    def replace(match: re.Match[str]) -> str:
        char = match.group(1)
        if char in "%_":
            return match.group(0)
        if char in "'\"\\":
            return char
        if char.lower() in _ESCAPES:
            return _ESCAPES[char.lower()]
        raise _Problem(token, f"Invalid string literal {token}: illegal escape sequence '\\{char}'")

    return _ESCAPE.sub(replace, token[1:-1])


def _like_regex(pattern: str) -> re.Pattern[str]:
    """A LIKE pattern as a regex: % any run, _ one character, \\% and \\_ literal."""
    parts = []
    for piece in re.findall(r"\\[%_]|%|_|[^%_\\]+|\\", pattern):
        if piece == "%":
            parts.append(".*")
        elif piece == "_":
            parts.append(".")
        else:
            parts.append(re.escape(piece[-1] if piece in ("\\%", "\\_") else piece))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _row_count(token: Token, clause: str) -> int:
    """A LIMIT or OFFSET value: a non-negative integer."""
    if not token.isdigit():
        raise _Problem(token, f"{clause} must be a non-negative integer, found: {token}")
    return int(token)


class _TreeBuilder(Transformer[Token, Any]):
    """Builds the immutable syntax tree while the LALR parser reduces (no intermediate tree)."""

    def query(self, children: list[Any]) -> Query:
        select, name, *clauses = children
        parts = dict(clauses)
        return Query(
            select=select,
            sobject=str(name),
            line=name.line,
            column=name.column,
            where=parts.get("where"),
            order=parts.get("order", ()),
            limit=parts.get("limit"),
            offset=parts.get("offset", 0),
        )

    def select_list(self, items: list[SelectItem]) -> tuple[SelectItem, ...]:
        return tuple(items)

    def field_path(self, names: list[Token]) -> FieldPath:
        return FieldPath(tuple(str(n) for n in names), names[0].line or 1, names[0].column or 1)

    def function_call(self, children: list[Token]) -> CountAll:
        name = str(children[0]).upper()
        if name != "COUNT":
            kind = "aggregate function" if name in _AGGREGATES else "function"
            raise _unsupported(f"{kind} {name}()")
        return CountAll()

    def subquery(self, children: list[Query]) -> Query:
        return children[0]

    def where_clause(self, children: list[Condition]) -> tuple[str, Condition]:
        return ("where", children[0])

    def or_expr(self, children: list[Condition]) -> BoolOp:
        return BoolOp(False, tuple(children))

    def and_expr(self, children: list[Condition]) -> BoolOp:
        return BoolOp(True, tuple(children))

    def negation(self, children: list[Condition]) -> Not:
        return Not(children[0])

    def comparison(self, children: list[Any]) -> Comparison:
        field, op, literal = children
        return Comparison(field, "!=" if op == "<>" else str(op), literal)

    def like(self, children: list[Any]) -> Like:
        return Like(children[0], _like_regex(_unescape(children[1])))

    def in_list(self, children: list[Any]) -> InList:
        return InList(children[0], children[1], negated=False)

    def not_in_list(self, children: list[Any]) -> InList:
        return InList(children[0], children[1], negated=True)

    def semi_join(self, children: list[Any]) -> SemiJoin:
        return SemiJoin(children[0], children[1], negated=False)

    def anti_join(self, children: list[Any]) -> SemiJoin:
        return SemiJoin(children[0], children[1], negated=True)

    def value_list(self, children: list[Literal]) -> tuple[Literal, ...]:
        return tuple(children)

    def string(self, children: list[Token]) -> Literal:
        return Literal("string", _unescape(children[0]))

    def number(self, children: list[Token]) -> Literal:
        text = str(children[0])
        return Literal("number", float(text) if "." in text else int(text))

    def date_value(self, children: list[Token]) -> Literal:
        try:
            return Literal("date", date.fromisoformat(children[0]))
        except ValueError:
            raise _Problem(children[0], f"invalid date: {children[0]}") from None

    def datetime_value(self, children: list[Token]) -> Literal:
        parsed = _parse_datetime(str(children[0]))
        if parsed is None:
            raise _Problem(children[0], f"invalid dateTime: {children[0]}")
        return Literal("datetime", parsed)

    def relative_date(self, children: list[Token]) -> Literal:
        name, _, days = str(children[0]).upper().partition(":")
        return Literal("relative", (name, int(days or 0)))

    def true(self, _: list[Token]) -> Literal:
        return Literal("boolean", True)

    def false(self, _: list[Token]) -> Literal:
        return Literal("boolean", False)

    def null(self, _: list[Token]) -> Literal:
        return Literal("null", None)

    def order_clause(self, children: list[OrderKey]) -> tuple[str, tuple[OrderKey, ...]]:
        return ("order", tuple(children))

    def order_key(self, children: list[Any]) -> OrderKey:
        field, *modifiers = children
        options = dict(modifiers)
        return OrderKey(field, options.get("desc", False), options.get("nulls_last", False))

    def direction(self, children: list[Token]) -> tuple[str, bool]:
        return ("desc", children[0].type == "DESC")

    def nulls(self, children: list[Token]) -> tuple[str, bool]:
        return ("nulls_last", children[0].type == "LAST")

    def limit_clause(self, children: list[Token]) -> tuple[str, int]:
        return ("limit", _row_count(children[0], "LIMIT"))

    def offset_clause(self, children: list[Token]) -> tuple[str, int]:
        return ("offset", _row_count(children[0], "OFFSET"))


# ---------------------------------------------------------------- value semantics


@functools.lru_cache(maxsize=65536)
def _parse_datetime(text: str) -> datetime | None:
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
    parsed = _parse_datetime(text)
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
        return _parse_datetime(value)
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


def _value_test(op: str, literal: Literal, today: date, exact: bool) -> ValueTest:
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


def _membership_test(literals: tuple[Literal, ...], today: date, exact: bool) -> ValueTest:
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
    tests = [_value_test("=", literal, today, exact) for literal in literals]

    def in_any(value: Any) -> bool:
        return any(test(value) for test in tests)

    return in_any


def _like_test(pattern: re.Pattern[str]) -> ValueTest:
    """The test of ``LIKE``: text only, the whole value matching."""

    def like(value: Any) -> bool:
        return isinstance(value, str) and pattern.fullmatch(value) is not None

    return like


def _semi_join_test(values: dict[Any, None]) -> ValueTest:
    """The test of a semi-join: the value is one the sub-select returned."""

    def member(value: Any) -> bool:
        return value is not None and value in values

    return member


def _sort_key(value: Any) -> tuple[int, Any]:
    """Sort numbers numerically, text case-insensitively (stored datetimes are uniform UTC)."""
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value.lower())
    return (2, str(value))


def _ordered(rows: list[Row], order: list[tuple[Getter, bool, bool]]) -> list[Row]:
    """Rows sorted by several keys (stable passes from the last key), nulls placed per key."""
    for get, descending, nulls_last in reversed(order):
        pairs = [(get(row), row) for row in rows]
        present = [pair for pair in pairs if pair[0] is not None]
        nulls = [row for value, row in pairs if value is None]
        present.sort(key=lambda pair: _sort_key(pair[0]), reverse=descending)
        values = [row for _, row in present]
        rows = values + nulls if nulls_last else nulls + values
    return rows


def _sliced(rows: list[Row], offset: int, limit: int | None) -> list[Row]:
    """OFFSET then LIMIT."""
    if offset:
        rows = rows[offset:]
    return rows if limit is None else rows[:limit]


def _relationship_name(foreign_key: str) -> str | None:
    """The canonical relationship name of a lookup field: AccountId → Account, X__c → X__r."""
    if foreign_key.endswith("__c"):
        return foreign_key[:-3] + "__r"
    if foreign_key.endswith("Id") and len(foreign_key) > 2:
        return foreign_key[:-2]
    return None


def _is_id_field(field: str) -> bool:
    """Ids and standard lookups compare exactly; other text compares case-insensitively."""
    return field.endswith("Id")


# ---------------------------------------------------------------- execution


@dataclass
class _ParentNode:
    """Selected fields of a parent record, reached through ``fk`` (nested in the output)."""

    fk: str
    target: str
    fields: dict[str, _Node]


@dataclass
class _ChildNode:
    """A child subquery: child records whose ``fk`` points at the outer record."""

    fk: str
    plan: _Plan


_Node = _ParentNode | _ChildNode | None


@dataclass
class _Plan:
    """A query bound to one object for one run: field names resolved, filters compiled."""

    sobject: str
    projection: dict[str, _Node]
    count_only: bool
    predicate: Predicate | None
    order: list[tuple[Getter, bool, bool]]
    limit: int | None
    offset: int
    id_hint: list[str] | None


class _Run:
    """One execution: binds names to the store, compiles filters, caches lookups for the run."""

    def __init__(
        self, soql: str, store: QueryableStore, include_deleted: bool, api_version: str
    ) -> None:
        self.soql, self.store, self.include_deleted = soql, store, include_deleted
        self.url_prefix = f"/services/data/v{api_version}/sobjects/"
        self.today = datetime.now(UTC).date()
        self._fields: dict[str, dict[str, str] | None] = {}
        self._links: dict[tuple[str, str], tuple[str, str, str] | None] = {}
        self._parents: dict[tuple[str, Any], Row | None] = {}
        self._children: dict[int, dict[Any, list[Row]]] = {}
        self._semi_joins: dict[int, dict[Any, None]] = {}

    def execute(self, query: Query) -> QueryResult:
        """Run the top-level query."""
        plan = self.plan(query, self.object_name(query), nested=False)
        rows = self.fetch(plan)
        if plan.count_only:
            return QueryResult([], len(rows))
        return QueryResult(
            [self.project(row, plan.sobject, plan.projection) for row in rows], len(rows)
        )

    # -- names

    def object_name(self, query: Query) -> str:
        """The FROM object as the store names it: as written, else with a capital initial."""
        name, capitalised = query.sobject, query.sobject[:1].upper() + query.sobject[1:]
        if self._known_fields(name) is None and self._known_fields(capitalised) is not None:
            name = capitalised
        self.object_fields(name, query)
        return name

    def object_fields(self, sobject: str, at: Query | None = None) -> dict[str, str]:
        """Lower-case → canonical field names of an object; INVALID_TYPE when it is unknown."""
        fields = self._known_fields(sobject)
        if fields is None:
            detail = f"sObject type '{sobject}' is not supported. {_OBJECT_HINT}"
            message = _positioned(self.soql, at.line, at.column, detail) if at else detail
            raise SoqlError("INVALID_TYPE", message)
        return fields

    def _known_fields(self, sobject: str) -> dict[str, str] | None:
        if sobject not in self._fields:
            names = self.store.field_names(sobject)
            self._fields[sobject] = None if names is None else self._fold(names)
        return self._fields[sobject]

    @staticmethod
    def _fold(names: set[str]) -> dict[str, str]:
        """Field names by their lower-case form (SOQL names are case-insensitive)."""
        folded = {"id": "Id", "isdeleted": "IsDeleted"}
        folded.update((name.lower(), name) for name in names)
        return folded

    def parent_link(self, sobject: str, name: str) -> tuple[str, str, str] | None:
        """(output name, foreign key, parent object) of a relationship; any letter case."""
        key = (sobject, name)
        if key not in self._links:
            link = self.store.parent_relationship(sobject, name)
            if link is None:
                lowered, fields = name.lower(), self.object_fields(sobject)
                custom = lowered.endswith("__r")
                foreign_key = fields.get(lowered[:-3] + "__c" if custom else lowered + "id")
                canonical = _relationship_name(foreign_key) if foreign_key else None
                link = self.store.parent_relationship(sobject, canonical) if canonical else None
            self._links[key] = (
                None if link is None else (_relationship_name(link[0]) or name, *link)
            )
        return self._links[key]

    def resolve(self, sobject: str, path: FieldPath) -> tuple[list[tuple[str, str, str]], str]:
        """The relationship steps and canonical field name of a path; INVALID_FIELD if unknown."""
        steps, current = [], sobject
        for name in path.names[:-1]:
            link = self.parent_link(current, name)
            if link is None:
                detail = (
                    f"Didn't understand relationship '{name}' in field path. {_RELATIONSHIP_HINT}"
                )
                raise SoqlError(
                    "INVALID_FIELD", _positioned(self.soql, path.line, path.column, detail)
                )
            steps.append(link)
            current = link[2]
        field = self.object_fields(current).get(path.names[-1].lower())
        if field is None:
            detail = (
                f"No such column '{path.names[-1]}' on entity '{current}'. {_NO_SUCH_COLUMN_HINT}"
            )
            raise SoqlError("INVALID_FIELD", _positioned(self.soql, path.line, path.column, detail))
        return steps, field

    def accessor(self, sobject: str, path: FieldPath) -> tuple[Getter, str]:
        """A function reading the path's value from a row, and the canonical field name."""
        steps, field = self.resolve(sobject, path)
        if not steps:

            def read(row: Row) -> Any:
                return row.get(field)

            return read, field

        def follow(row: Row | None) -> Any:
            for _, foreign_key, target in steps:
                reference = row.get(foreign_key) if row is not None else None
                row = self.parent(target, reference) if reference is not None else None
            return row.get(field) if row is not None else None

        return follow, field

    def parent(self, sobject: str, record_id: Any) -> Row | None:
        """A parent record by id (cached for the run); deleted parents read as empty lookups."""
        key = (sobject, record_id)
        if key not in self._parents:
            row = self.store.get(sobject, record_id)
            visible = row is not None and (self.include_deleted or not row.get("IsDeleted"))
            self._parents[key] = row if visible else None
        return self._parents[key]

    # -- planning

    def plan(self, query: Query, sobject: str, *, nested: bool) -> _Plan:
        """Bind a query to an object: projection, filter, order, and the Id fast path."""
        projection, count_only = self.projection(query, sobject, nested)
        order = [
            (self.accessor(sobject, key.field)[0], key.descending, key.nulls_last)
            for key in query.order
        ]
        predicate = self.predicate(query.where, sobject) if query.where is not None else None
        return _Plan(
            sobject=sobject,
            projection=projection,
            count_only=count_only,
            predicate=predicate,
            order=order,
            limit=query.limit,
            offset=query.offset,
            id_hint=self.id_hint(query.where, sobject),
        )

    def projection(self, query: Query, sobject: str, nested: bool) -> tuple[dict[str, _Node], bool]:
        """The output shape of the select list; checks COUNT() is used alone at the top."""
        counts = sum(isinstance(item, CountAll) for item in query.select)
        if counts and (nested or len(query.select) > 1):
            detail = "COUNT() must be the only element in the SELECT list of a top-level query"
            raise _malformed(self.soql, query.line, query.column, detail)
        projection: dict[str, _Node] = {}
        for item in query.select:
            if isinstance(item, FieldPath):
                self.add_field(projection, sobject, item)
            elif isinstance(item, Query):
                projection[item.sobject] = self.child_node(sobject, item)
        return projection, bool(counts)

    def add_field(self, projection: dict[str, _Node], sobject: str, path: FieldPath) -> None:
        """Place a selected field in the output tree, nesting it under its parent relationships."""
        steps, field = self.resolve(sobject, path)
        level = projection
        for name, foreign_key, target in steps:
            node = level.get(name)
            if not isinstance(node, _ParentNode):
                node = level[name] = _ParentNode(foreign_key, target, {})
            level = node.fields
        if field in level:
            detail = f"duplicate field selected: {'.'.join(path.names)}"
            raise _malformed(self.soql, path.line, path.column, detail)
        level[field] = None

    def child_node(self, sobject: str, subquery: Query) -> _ChildNode:
        """A child subquery, its FROM naming a child relationship of the outer object."""
        relationship = self.store.child_relationship(sobject, subquery.sobject)
        if relationship is None:
            detail = (
                f"Didn't understand relationship '{subquery.sobject}' in FROM part of query "
                f"call. {_RELATIONSHIP_HINT}"
            )
            raise SoqlError(
                "INVALID_TYPE", _positioned(self.soql, subquery.line, subquery.column, detail)
            )
        child, foreign_key = relationship
        self.object_fields(child, subquery)
        return _ChildNode(foreign_key, self.plan(subquery, child, nested=True))

    def predicate(self, condition: Condition, sobject: str) -> Predicate:
        """Compile a WHERE condition into a function of a row."""
        if isinstance(condition, BoolOp):
            parts = [self.predicate(operand, sobject) for operand in condition.operands]
            return _all_of(parts) if condition.conjunction else _any_of(parts)
        if isinstance(condition, Not):
            inner = self.predicate(condition.operand, sobject)
            return lambda row: not inner(row)
        get, field = self.accessor(sobject, condition.field)
        test: ValueTest
        if isinstance(condition, Comparison):
            test = _value_test(condition.op, condition.literal, self.today, _is_id_field(field))
        elif isinstance(condition, InList):
            test = _membership_test(condition.literals, self.today, _is_id_field(field))
        elif isinstance(condition, Like):
            test = _like_test(condition.pattern)
        else:
            test = _semi_join_test(self.semi_join_values(condition))
        if getattr(condition, "negated", False):
            return lambda row: not test(get(row))
        return lambda row: test(get(row))

    def semi_join_values(self, condition: SemiJoin) -> dict[Any, None]:
        """The values a semi-join sub-select returns (computed once per run, in order)."""
        key = id(condition)
        if key not in self._semi_joins:
            sub = condition.query
            sobject = self.object_name(sub)
            if len(sub.select) != 1 or not isinstance(sub.select[0], FieldPath):
                detail = "a semi-join sub-select must select exactly one field"
                raise _malformed(self.soql, sub.line, sub.column, detail)
            get, _ = self.accessor(sobject, sub.select[0])
            rows = self.fetch(self.plan(sub, sobject, nested=True))
            values = (get(row) for row in rows)
            self._semi_joins[key] = dict.fromkeys(v for v in values if v is not None)
        return self._semi_joins[key]

    def id_hint(self, where: Condition | None, sobject: str) -> list[str] | None:
        """Ids to read with ``get`` when a top-level conjunct pins ``Id``; None means scan."""
        if where is None:
            return None
        conjuncts = where.operands if isinstance(where, BoolOp) and where.conjunction else (where,)
        for condition in conjuncts:
            path = getattr(condition, "field", None)
            if path is None or len(path.names) != 1 or path.names[0].lower() != "id":
                continue
            if isinstance(condition, Comparison) and condition.op == "=":
                if condition.literal.kind == "string":
                    return [condition.literal.value]
            elif isinstance(condition, InList) and not condition.negated:
                literals = condition.literals
                if all(literal.kind in ("string", "null") for literal in literals):
                    return list(dict.fromkeys(x.value for x in literals if x.kind == "string"))
            elif isinstance(condition, SemiJoin) and not condition.negated:
                return list(self.semi_join_values(condition))
        return None

    # -- reading and shaping

    def visible(self, row: Row) -> bool:
        """Deleted rows show only in queryAll."""
        return self.include_deleted or not row.get("IsDeleted")

    def fetch(self, plan: _Plan) -> list[Row]:
        """The plan's rows: candidates (by id or scan), filtered, ordered and sliced."""
        source: Iterable[Row]
        if plan.id_hint is not None:
            found = (self.store.get(plan.sobject, record_id) for record_id in plan.id_hint)
            source = list({row["Id"]: row for row in found if row is not None}.values())
        else:
            source = self.store.rows(plan.sobject)
        predicate, include_deleted = plan.predicate, self.include_deleted
        rows = [
            row
            for row in source
            if (include_deleted or not row.get("IsDeleted"))
            and (predicate is None or predicate(row))
        ]
        return _sliced(_ordered(rows, plan.order), plan.offset, plan.limit)

    def project(self, row: Row, sobject: str, projection: dict[str, _Node]) -> dict[str, Any]:
        """One record in Salesforce's shape: attributes, then the selected fields in order."""
        record_id = row.get("Id")
        record: dict[str, Any] = {
            "attributes": {"type": sobject, "url": f"{self.url_prefix}{sobject}/{record_id}"}
        }
        for key, node in projection.items():
            if node is None:
                record[key] = row.get(key)
            elif isinstance(node, _ParentNode):
                reference = row.get(node.fk)
                parent = self.parent(node.target, reference) if reference is not None else None
                record[key] = (
                    None if parent is None else self.project(parent, node.target, node.fields)
                )
            else:
                record[key] = self.child_records(node, record_id)
        return record

    def child_records(self, node: _ChildNode, parent_id: Any) -> dict[str, Any] | None:
        """A child subquery's result for one parent; None when it has no records (as Salesforce)."""
        index = self._children.get(id(node))
        if index is None:
            index = {}
            plan = node.plan
            for row in self.store.rows(plan.sobject):
                if self.visible(row) and (plan.predicate is None or plan.predicate(row)):
                    index.setdefault(row.get(node.fk), []).append(row)
            self._children[id(node)] = index
        plan = node.plan
        rows = _sliced(_ordered(index.get(parent_id, []), plan.order), plan.offset, plan.limit)
        if not rows:
            return None
        records = [self.project(row, plan.sobject, plan.projection) for row in rows]
        return {"totalSize": len(records), "done": True, "records": records}


def _all_of(parts: list[Predicate]) -> Predicate:
    """AND of compiled conditions."""

    def conjunction(row: Row) -> bool:
        return all(part(row) for part in parts)

    return conjunction


def _any_of(parts: list[Predicate]) -> Predicate:
    """OR of compiled conditions."""

    def disjunction(row: Row) -> bool:
        return any(part(row) for part in parts)

    return disjunction
