"""``POST /{Resource}/Search`` and ``GET /{Resource}/Paged``: filters, ordering, fields, pages.

As documented, ``fields`` may name the aggregate ``extensions`` but never one custom field. Whether
a filter may name a custom field is not documented; the simulator accepts the mapping's
``sfdcid_search_name`` (the account extension, the contact's ``sfdcid`` contact point), compares
it ignoring case like every text filter, and answers it from the index. Several records may hold
one ``sfdcid``: LogiSense does not treat it as a key.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import errors as e
from .schema import name_key
from .state import LogiSenseState

MAX_TOP = 10000
DEFAULT_PAGE_SIZE = 100

Compare = Callable[[Any, Any], bool]
OPERATORS: dict[str, Compare] = {
    "eq": operator.eq,
    "notEq": operator.ne,
    "lt": operator.lt,
    "ltEq": operator.le,
    "gt": operator.gt,
    "gtEq": operator.ge,
    "contains": lambda a, b: isinstance(a, str) and isinstance(b, str) and b in a,
}


@dataclass
class Query:
    """A parsed search query."""

    filters: list[tuple[str, str, Any]] = field(default_factory=list)
    top: int = MAX_TOP
    fields: list[str] | None = None
    order_by: list[tuple[str, bool]] = field(default_factory=list)
    page_number: int = 1
    page_size: int | None = None


def known_fields(state: LogiSenseState, path: str) -> set[str]:
    """Every field name ``fields`` and ``orderBy`` may use for this resource."""
    res = state.schema.by_path[path]
    names = set(res.fields) | set(res.read_only) | {"identity"}
    names |= {name_key(k) for k, spec in res.fields.items() if spec.ref}
    return names


def filter_fields(state: LogiSenseState, path: str) -> set[str]:
    """The names a ``search`` filter may use: the fields plus the ``sfdcid`` lookup name."""
    names = known_fields(state, path)
    if path == state.path("account"):
        names.add(state.mapping.account.sfdcid_search_name)
    elif path == state.path("contact"):
        names.add(state.mapping.contact.sfdcid_search_name)
    return names


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise e.fail(e.BAD_QUERY, "'search' and 'orderBy' must be lists")
    return value


def _int(value: Any, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise e.fail(e.BAD_QUERY, f"'{name}' must be an integer from {low} to {high}")
    return value


def parse(state: LogiSenseState, path: str, body: Any) -> Query:
    """Validate a search body ``{"query": {...}}``; every problem at once."""
    if not isinstance(body, dict) or not isinstance(body.get("query", {}), dict):
        raise e.fail(e.BAD_QUERY, "the body must be {'query': {...}}")
    raw = body.get("query", {})
    allowed = known_fields(state, path)
    filterable = filter_fields(state, path)
    problems: list[e.Problem] = []
    query = Query()
    for n, term in enumerate(_as_list(raw.get("search"))):
        if not isinstance(term, dict) or not all(
            isinstance(term.get(k), str) for k in ("name", "operator")
        ):
            problems.append(e.Problem(e.BAD_QUERY, f"search[{n}] needs 'name' and 'operator'"))
            continue
        if term["name"] not in filterable:
            problems.append(e.Problem(e.BAD_QUERY, f"search[{n}]: unknown field {term['name']!r}"))
        if term["operator"] not in OPERATORS:
            problems.append(
                e.Problem(e.BAD_QUERY, f"search[{n}]: unknown operator {term['operator']!r}")
            )
        query.filters.append((term["name"], term["operator"], term.get("value")))
    for n, order in enumerate(_as_list(raw.get("orderBy"))):
        name = order.get("name") if isinstance(order, dict) else None
        direction = str(order.get("direction", "asc")).lower() if isinstance(order, dict) else ""
        if not isinstance(name, str) or name not in allowed or direction not in ("asc", "desc"):
            problems.append(e.Problem(e.BAD_QUERY, f"orderBy[{n}] is not a known field/direction"))
            continue
        query.order_by.append((name, direction == "desc"))
    fields = raw.get("fields")
    if fields:
        names = fields if isinstance(fields, list) else [fields]
        unknown = [f for f in names if not isinstance(f, str) or f not in allowed]
        custom = [f for f in unknown if isinstance(f, str) and f in filterable]
        if custom:
            problems.append(
                e.Problem(
                    e.BAD_QUERY,
                    f"'fields' cannot name custom fields {custom}; "
                    f"name '{state.mapping.account.extensions_field}' instead",
                )
            )
            unknown = [f for f in unknown if f not in custom]
        if unknown:
            problems.append(e.Problem(e.BAD_QUERY, f"'fields' has unknown names {unknown}"))
        query.fields = [str(f) for f in names]
    if problems:
        raise e.ApiError(problems)
    if raw.get("top") is not None:
        query.top = _int(raw["top"], "top", 1, MAX_TOP)
    pagination = raw.get("pagination")
    if isinstance(pagination, dict):
        query.page_number = _int(pagination.get("pageNumber", 1), "pageNumber", 1, 10**9)
        query.page_size = _int(
            pagination.get("pageSize", DEFAULT_PAGE_SIZE), "pageSize", 1, MAX_TOP
        )
    return query


def _coerce(value: Any, like: Any) -> Any:
    if isinstance(like, str):
        return str(value).casefold() if value is not None else None
    if isinstance(like, bool):
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if isinstance(like, int | float) and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def matches(record: dict[str, Any], filters: list[tuple[str, str, Any]]) -> bool:
    """True when the record passes every filter (a list field ``eq`` means "contains")."""
    for name, op, value in filters:
        actual = record.get(name)
        if isinstance(actual, list):
            hit = any(
                _coerce(value, a) == (a.casefold() if isinstance(a, str) else a) for a in actual
            )
            ok = hit if op == "eq" else (not hit if op == "notEq" else False)
        elif actual is None or value is None:
            ok = (
                (actual is None and value is None) == (op == "eq")
                if op in ("eq", "notEq")
                else False
            )
        else:
            left = actual.casefold() if isinstance(actual, str) else actual
            try:
                ok = OPERATORS[op](left, _coerce(value, actual))
            except TypeError:
                ok = False
        if not ok:
            return False
    return True


def _sort_key(name: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    def key(record: dict[str, Any]) -> tuple[int, Any]:
        value = record.get(name)
        if value is None:
            return (0, "")
        if isinstance(value, str):
            return (1, value.casefold())
        return (2, value) if isinstance(value, int | float) else (3, str(value))

    return key


def run(state: LogiSenseState, path: str, query: Query) -> tuple[int, list[dict[str, Any]]]:
    """(total matches, the requested page of rendered records)."""
    res = state.schema.by_path[path]
    with state.lock:
        candidates, filters = _candidates(state, path, query)
        needs_render = any(
            name not in res.fields and name not in res.read_only for name, _, _ in filters
        )
        hits = []
        for record in candidates:
            view = state.render(path, record) if needs_render else record
            if matches(view, filters):
                hits.append(record)
        for name, desc in reversed(query.order_by):
            hits.sort(key=_sort_key(name), reverse=desc)
        hits = hits[: query.top]
        total = len(hits)
        if query.page_size is not None:
            start = (query.page_number - 1) * query.page_size
            hits = hits[start : start + query.page_size]
        items = [state.render(path, r) for r in hits]
    if query.fields:
        keep = {"identity", *query.fields}
        items = [{k: v for k, v in item.items() if k in keep} for item in items]
    return total, items


def _candidates(
    state: LogiSenseState, path: str, query: Query
) -> tuple[list[dict[str, Any]], list[tuple[str, str, Any]]]:
    """Records to scan, and the filters left once an ``sfdcid`` filter used the index."""
    lookup = {
        state.path("account"): state.mapping.account.sfdcid_search_name,
        state.path("contact"): state.mapping.contact.sfdcid_search_name,
    }.get(path)
    rest = [f for f in query.filters if f[0] != lookup]
    for name, op, value in query.filters:
        if name == lookup:
            if op != "eq" or not isinstance(value, str):
                raise e.fail(e.BAD_QUERY, f"'{name}' can only be searched with 'eq' and a text")
            table = state.tables[path]
            return [table[i] for i in state.find_sfdcid(path, value)], rest
    return list(state.tables[path].values()), rest
