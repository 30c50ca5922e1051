"""Parsing SOQL: the lark grammar (``soql.lark``) and the transformer that builds the query tree.

The LALR parser builds the immutable tree (:mod:`simulators.salesforce.soql.tree`) while it
reduces, with no intermediate parse tree, and ``parse`` caches trees by query text: the simulator
answers the same few queries many times a second. The parser itself is built on first use,
never at import. Lark's errors are translated into Salesforce's by
:mod:`simulators.salesforce.soql.errors`.
"""

from __future__ import annotations

import functools
import re
from datetime import date
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedInput, VisitError

from simulators.salesforce.soql.errors import (
    AGGREGATES,
    SoqlError,
    malformed,
    syntax_error,
    unsupported,
)
from simulators.salesforce.soql.tree import (
    BoolOp,
    Comparison,
    Condition,
    CountAll,
    FieldPath,
    InList,
    Like,
    Literal,
    Not,
    OrderKey,
    Query,
    SelectItem,
    SemiJoin,
)
from simulators.salesforce.soql.values import parse_datetime

PARSE_CACHE_SIZE = 1024
GRAMMAR_PATH = Path(__file__).with_name("soql.lark")


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
        raise syntax_error(soql, exc) from None
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
        return malformed(soql, exc.line, exc.column, exc.detail)
    return exc


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
            kind = "aggregate function" if name in AGGREGATES else "function"
            raise unsupported(f"{kind} {name}()")
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
        parsed = parse_datetime(str(children[0]))
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
