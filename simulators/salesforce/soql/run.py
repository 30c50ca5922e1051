"""Running a query: candidate records, filtered, ordered and sliced, shaped as Salesforce's.

One run binds the cached query tree to the store (:mod:`simulators.salesforce.soql.binding`),
plans it (:mod:`simulators.salesforce.soql.plan`), reads candidates by id or by scanning, and
shapes each record as the REST API does: ``attributes`` first, the selected fields in order,
parent relationships nested, child subqueries as ``{totalSize, done, records}`` or null.
Deleted records show only in ``queryAll`` (``include_deleted``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from simulators.salesforce.soql.binding import Getter, QueryableStore, Row, StoreBinding
from simulators.salesforce.soql.parse import parse
from simulators.salesforce.soql.plan import ChildNode, Node, ParentNode, Plan, Planner
from simulators.salesforce.soql.tree import Query


@dataclass
class QueryResult:
    """What a query returns: Salesforce-shaped records and the total count (``COUNT()`` too)."""

    records: list[dict[str, Any]]
    total_size: int


def run_query(
    soql: str, store: QueryableStore, *, include_deleted: bool = False, api_version: str = "59.0"
) -> QueryResult:
    """Run one SOQL query; raises :class:`SoqlError` for what Salesforce would refuse."""
    query = parse(soql)
    return _Run(soql, store, include_deleted, api_version).execute(query)


class _Run:
    """One execution: binds names to the store, compiles filters, caches lookups for the run."""

    def __init__(
        self, soql: str, store: QueryableStore, include_deleted: bool, api_version: str
    ) -> None:
        self.soql, self.store, self.include_deleted = soql, store, include_deleted
        self.url_prefix = f"/services/data/v{api_version}/sobjects/"
        self.binding = StoreBinding(soql, store, include_deleted)
        self.planner = Planner(self.binding, self.fetch, datetime.now(UTC).date())
        self._children: dict[int, dict[Any, list[Row]]] = {}

    def execute(self, query: Query) -> QueryResult:
        """Run the top-level query."""
        plan = self.planner.plan(query, self.binding.object_name(query), nested=False)
        rows = self.fetch(plan)
        if plan.count_only:
            return QueryResult([], len(rows))
        return QueryResult(
            [self.project(row, plan.sobject, plan.projection) for row in rows], len(rows)
        )

    def visible(self, row: Row) -> bool:
        """Deleted rows show only in queryAll."""
        return self.include_deleted or not row.get("IsDeleted")

    def fetch(self, plan: Plan) -> list[Row]:
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

    def project(self, row: Row, sobject: str, projection: dict[str, Node]) -> dict[str, Any]:
        """One record in Salesforce's shape: attributes, then the selected fields in order."""
        record_id = row.get("Id")
        record: dict[str, Any] = {
            "attributes": {"type": sobject, "url": f"{self.url_prefix}{sobject}/{record_id}"}
        }
        for key, node in projection.items():
            if node is None:
                record[key] = row.get(key)
            elif isinstance(node, ParentNode):
                reference = row.get(node.fk)
                parent = (
                    self.binding.parent(node.target, reference) if reference is not None else None
                )
                record[key] = (
                    None if parent is None else self.project(parent, node.target, node.fields)
                )
            else:
                record[key] = self.child_records(node, record_id)
        return record

    def child_records(self, node: ChildNode, parent_id: Any) -> dict[str, Any] | None:
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
