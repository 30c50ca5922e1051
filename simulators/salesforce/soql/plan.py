"""Planning a query for one run: the output shape, the compiled filter, order and Id fast path.

A plan binds the cached, store-independent query tree to one object of the store: every field
path resolved, the WHERE condition compiled into a plain function of a row, ORDER BY keys into
getters. ``Id = '...'`` and ``Id IN (...)`` conjuncts (and semi-joins on ``Id``) become an id
hint, so the run reads those records through the store's ``get`` instead of scanning.
Semi-join sub-selects run once per run; the planner is handed the run's ``fetch`` for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from simulators.salesforce.soql.binding import Getter, Row, StoreBinding
from simulators.salesforce.soql.errors import (
    RELATIONSHIP_HINT,
    SoqlError,
    malformed,
    positioned,
)
from simulators.salesforce.soql.tree import (
    BoolOp,
    Comparison,
    Condition,
    CountAll,
    FieldPath,
    InList,
    Like,
    Not,
    Query,
    SemiJoin,
)
from simulators.salesforce.soql.values import (
    ValueTest,
    is_id_field,
    like_test,
    membership_test,
    semi_join_test,
    value_test,
)

Predicate = Callable[[Row], bool]


@dataclass
class ParentNode:
    """Selected fields of a parent record, reached through ``fk`` (nested in the output)."""

    fk: str
    target: str
    fields: dict[str, Node]


@dataclass
class ChildNode:
    """A child subquery: child records whose ``fk`` points at the outer record."""

    fk: str
    plan: Plan


Node = ParentNode | ChildNode | None


@dataclass
class Plan:
    """A query bound to one object for one run: field names resolved, filters compiled."""

    sobject: str
    projection: dict[str, Node]
    count_only: bool
    predicate: Predicate | None
    order: list[tuple[Getter, bool, bool]]
    limit: int | None
    offset: int
    id_hint: list[str] | None


class Planner:
    """Builds the plans of one run; semi-join results are kept for the run (by condition)."""

    def __init__(
        self, binding: StoreBinding, fetch: Callable[[Plan], list[Row]], today: date
    ) -> None:
        self.binding, self.fetch, self.today = binding, fetch, today
        self._semi_joins: dict[int, dict[Any, None]] = {}

    def plan(self, query: Query, sobject: str, *, nested: bool) -> Plan:
        """Bind a query to an object: projection, filter, order, and the Id fast path."""
        projection, count_only = self.projection(query, sobject, nested)
        order = [
            (self.binding.accessor(sobject, key.field)[0], key.descending, key.nulls_last)
            for key in query.order
        ]
        predicate = self.predicate(query.where, sobject) if query.where is not None else None
        return Plan(
            sobject=sobject,
            projection=projection,
            count_only=count_only,
            predicate=predicate,
            order=order,
            limit=query.limit,
            offset=query.offset,
            id_hint=self.id_hint(query.where, sobject),
        )

    def projection(self, query: Query, sobject: str, nested: bool) -> tuple[dict[str, Node], bool]:
        """The output shape of the select list; checks COUNT() is used alone at the top."""
        counts = sum(isinstance(item, CountAll) for item in query.select)
        if counts and (nested or len(query.select) > 1):
            detail = "COUNT() must be the only element in the SELECT list of a top-level query"
            raise malformed(self.binding.soql, query.line, query.column, detail)
        projection: dict[str, Node] = {}
        for item in query.select:
            if isinstance(item, FieldPath):
                self.add_field(projection, sobject, item)
            elif isinstance(item, Query):
                projection[item.sobject] = self.child_node(sobject, item)
        return projection, bool(counts)

    def add_field(self, projection: dict[str, Node], sobject: str, path: FieldPath) -> None:
        """Place a selected field in the output tree, nesting it under its parent relationships."""
        steps, field = self.binding.resolve(sobject, path)
        level = projection
        for name, foreign_key, target in steps:
            node = level.get(name)
            if not isinstance(node, ParentNode):
                node = level[name] = ParentNode(foreign_key, target, {})
            level = node.fields
        if field in level:
            detail = f"duplicate field selected: {'.'.join(path.names)}"
            raise malformed(self.binding.soql, path.line, path.column, detail)
        level[field] = None

    def child_node(self, sobject: str, subquery: Query) -> ChildNode:
        """A child subquery, its FROM naming a child relationship of the outer object."""
        relationship = self.binding.store.child_relationship(sobject, subquery.sobject)
        if relationship is None:
            detail = (
                f"Didn't understand relationship '{subquery.sobject}' in FROM part of query "
                f"call. {RELATIONSHIP_HINT}"
            )
            raise SoqlError(
                "INVALID_TYPE",
                positioned(self.binding.soql, subquery.line, subquery.column, detail),
            )
        child, foreign_key = relationship
        self.binding.object_fields(child, subquery)
        return ChildNode(foreign_key, self.plan(subquery, child, nested=True))

    def predicate(self, condition: Condition, sobject: str) -> Predicate:
        """Compile a WHERE condition into a function of a row."""
        if isinstance(condition, BoolOp):
            parts = [self.predicate(operand, sobject) for operand in condition.operands]
            return _all_of(parts) if condition.conjunction else _any_of(parts)
        if isinstance(condition, Not):
            inner = self.predicate(condition.operand, sobject)
            return lambda row: not inner(row)
        get, field = self.binding.accessor(sobject, condition.field)
        test: ValueTest
        if isinstance(condition, Comparison):
            test = value_test(condition.op, condition.literal, self.today, is_id_field(field))
        elif isinstance(condition, InList):
            test = membership_test(condition.literals, self.today, is_id_field(field))
        elif isinstance(condition, Like):
            test = like_test(condition.pattern)
        else:
            test = semi_join_test(self.semi_join_values(condition))
        if getattr(condition, "negated", False):
            return lambda row: not test(get(row))
        return lambda row: test(get(row))

    def semi_join_values(self, condition: SemiJoin) -> dict[Any, None]:
        """The values a semi-join sub-select returns (computed once per run, in order)."""
        key = id(condition)
        if key not in self._semi_joins:
            sub = condition.query
            sobject = self.binding.object_name(sub)
            if len(sub.select) != 1 or not isinstance(sub.select[0], FieldPath):
                detail = "a semi-join sub-select must select exactly one field"
                raise malformed(self.binding.soql, sub.line, sub.column, detail)
            get, _ = self.binding.accessor(sobject, sub.select[0])
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
