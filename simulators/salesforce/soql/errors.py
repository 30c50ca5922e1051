"""Salesforce's answers to a query it refuses: the error type, its message layout and wording.

A refused query is answered with a REST ``errorCode`` and a message that points at the offending
token the way Salesforce does (the query line, a caret, the row and column, the reason). Valid
SOQL the simulator does not implement is refused too, with a message naming the feature, so a
caller can tell "Salesforce would refuse this" from "the simulator cannot answer this".
"""

from __future__ import annotations

import re

from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

UNSUPPORTED_PREFIX = "not supported by the simulator: "
NO_SUCH_COLUMN_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom "
    "field name. Please reference your WSDL or the describe call for the appropriate names."
)
RELATIONSHIP_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the "
    "custom relationship name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)
OBJECT_HINT = (
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


def positioned(soql: str, line: int, column: int, detail: str) -> str:
    """Salesforce's error layout: the query line, a caret under the column, row/column, reason."""
    lines = soql.splitlines() or [""]
    text = lines[min(max(line, 1), len(lines)) - 1]
    return f"\n{text}\n{' ' * (column - 1)}^\nERROR at Row:{line}:Column:{column}\n{detail}"


def malformed(soql: str, line: int, column: int, detail: str) -> SoqlError:
    """A MALFORMED_QUERY error at a position."""
    return SoqlError("MALFORMED_QUERY", positioned(soql, line, column, detail))


def unsupported(feature: str) -> SoqlError:
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
AGGREGATES = {"SUM", "AVG", "MIN", "MAX", "COUNT", "COUNT_DISTINCT"}
_PERIODS = "(DAY|WEEK|MONTH|QUARTER|YEAR|FISCAL_QUARTER|FISCAL_YEAR)S?"
_DATE_LITERAL = re.compile(
    rf"(THIS|LAST|NEXT)_{_PERIODS}|(LAST|NEXT)_90_DAYS|(LAST|NEXT)_N_{_PERIODS}|N_{_PERIODS}_AGO",
    re.IGNORECASE,
)
_WORD_BEFORE = re.compile(r"([A-Za-z_]\w*)\s*(\(\s*)?$")


def syntax_error(soql: str, exc: UnexpectedInput) -> SoqlError:
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
        return unsupported(feature)
    return malformed(soql, line, column, f"unexpected token: '{text}'")


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
    kind = "aggregate function" if previous in AGGREGATES else "function"
    return f"{kind} {previous}()"


def _end_position(soql: str) -> tuple[int, int]:
    """Row and column just past the end of the query."""
    lines = soql.splitlines() or [""]
    return len(lines), len(lines[-1]) + 1
