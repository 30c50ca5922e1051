"""Binding a query's names to the simulator's store: objects, fields, relationships, parents.

SOQL names are case-insensitive and relationships may be written by their relationship name or
derived from a lookup field (``AccountId`` → ``Account``, ``X__c`` → ``X__r``); the store knows
only canonical names. A binding resolves a field path once into relationship steps and a
canonical field, answers Salesforce's ``INVALID_FIELD`` / ``INVALID_TYPE`` for unknown names,
and caches what it read from the store for the run (field maps, links, parent records).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from simulators.salesforce.soql.errors import (
    NO_SUCH_COLUMN_HINT,
    OBJECT_HINT,
    RELATIONSHIP_HINT,
    SoqlError,
    positioned,
)
from simulators.salesforce.soql.tree import FieldPath, Query

Row = dict[str, Any]
Getter = Callable[[Row], Any]
#: One relationship step: (output name, foreign key field, parent object).
Link = tuple[str, str, str]


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


class StoreBinding:
    """The names of one run bound to the store, with the store's answers cached for the run."""

    def __init__(self, soql: str, store: QueryableStore, include_deleted: bool) -> None:
        self.soql, self.store, self.include_deleted = soql, store, include_deleted
        self._fields: dict[str, dict[str, str] | None] = {}
        self._links: dict[tuple[str, str], Link | None] = {}
        self._parents: dict[tuple[str, Any], Row | None] = {}

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
            detail = f"sObject type '{sobject}' is not supported. {OBJECT_HINT}"
            message = positioned(self.soql, at.line, at.column, detail) if at else detail
            raise SoqlError("INVALID_TYPE", message)
        return fields

    def _known_fields(self, sobject: str) -> dict[str, str] | None:
        """An object's folded field names (read from the store once a run), or None."""
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

    def parent_link(self, sobject: str, name: str) -> Link | None:
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

    def resolve(self, sobject: str, path: FieldPath) -> tuple[list[Link], str]:
        """The relationship steps and canonical field name of a path; INVALID_FIELD if unknown."""
        steps, current = [], sobject
        for name in path.names[:-1]:
            link = self.parent_link(current, name)
            if link is None:
                detail = (
                    f"Didn't understand relationship '{name}' in field path. {RELATIONSHIP_HINT}"
                )
                raise SoqlError(
                    "INVALID_FIELD", positioned(self.soql, path.line, path.column, detail)
                )
            steps.append(link)
            current = link[2]
        field = self.object_fields(current).get(path.names[-1].lower())
        if field is None:
            detail = (
                f"No such column '{path.names[-1]}' on entity '{current}'. {NO_SUCH_COLUMN_HINT}"
            )
            raise SoqlError("INVALID_FIELD", positioned(self.soql, path.line, path.column, detail))
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


def _relationship_name(foreign_key: str) -> str | None:
    """The canonical relationship name of a lookup field: AccountId → Account, X__c → X__r."""
    if foreign_key.endswith("__c"):
        return foreign_key[:-3] + "__r"
    if foreign_key.endswith("Id") and len(foreign_key) > 2:
        return foreign_key[:-2]
    return None
