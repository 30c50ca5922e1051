"""The records billsync writes (accounts, contacts, price plans): find, create, update, read, list.

Every LogiSense resource behaves the same way on the wire (search, create, PATCH, read, page), so
one class serves all of them; ``accounts``, ``contacts`` and ``price_plans`` build billsync's view
of a record (extensions, contact points, the parent row) on top of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from billsync.errors import NotFound, PermanentError, TransientError

from .envelopes import list_items, write_instance
from .session import LogiSenseSession

DEFAULT_PAGE_SIZE = 1000


def identity_of(value: Any) -> int:
    """A record identity as a positive int; anything else is refused before it reaches a URL."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PermanentError(f"a LogiSense identity must be a positive integer, not {value!r}")
    return value


class RecordResource:
    """One LogiSense resource (``Account``, ``Contact``, ``Account/PricePlan``, ``Currency``...)."""

    def __init__(
        self,
        session: LogiSenseSession,
        path: str,
        noun: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        self.session = session
        self.path = path
        self.noun = noun
        self.page_size = page_size

    def search(self, filters: list[tuple[str, str, Any]], *, top: int = 100) -> list[Any]:
        """Records matching every ``(name, operator, value)`` filter (one ``Search`` call)."""
        query = {
            "top": top,
            "search": [
                {"name": name, "operator": op, "value": value, "condition": "and"}
                for name, op, value in filters
            ],
        }
        body = self.session.call(
            "POST", self.path, noun=self.noun, action="Search", body={"query": query}
        )
        return list_items(body)

    def paged(self) -> Iterator[dict[str, Any]]:
        """Every record through ``GET /Paged``, page details in the ``Pagination`` header."""
        number = 1
        while True:
            header = json.dumps({"pageNumber": number, "pageSize": self.page_size})
            body = self.session.call(
                "GET", self.path, noun=self.noun, action="Paged", headers={"Pagination": header}
            )
            items = list_items(body)
            yield from items
            total = body.get("totalCount") if isinstance(body, dict) else None
            seen = (number - 1) * self.page_size + len(items)
            if len(items) < self.page_size or (isinstance(total, int) and seen >= total):
                return
            number += 1

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Create a record; the created instance as LogiSense stored it (with its ``identity``)."""
        body = self.session.call("POST", self.path, noun=self.noun, body=fields)
        return self._instance(body, None)

    def delete(self, identity: int) -> None:
        """DELETE one record (billsync only removes connector rows, never billing data)."""
        self.session.call("DELETE", self.path, noun=self.noun, identity=identity_of(identity))

    def update(self, identity: int, fields: dict[str, Any]) -> dict[str, Any]:
        """PATCH only ``fields`` (the rest of the record is left as it is); the updated instance."""
        identity = identity_of(identity)
        body = self.session.call("PATCH", self.path, noun=self.noun, identity=identity, body=fields)
        return self._instance(body, identity)

    def get(self, identity: int) -> dict[str, Any] | None:
        """The record, or None when LogiSense has no record with that identity."""
        identity = identity_of(identity)
        try:
            body = self.session.call("GET", self.path, noun=self.noun, identity=identity)
        except NotFound:
            return None
        if isinstance(body, dict) and "items" in body:  # some versions wrap a single read
            items = list_items(body)
            return items[0] if items else None
        return body if isinstance(body, dict) else None

    def iter_all(self) -> Iterator[dict[str, Any]]:
        """Every record, by ascending identity, one ``Search`` page at a time.

        Paging by "identity greater than the last one seen" (not by page number) means records
        created while the iteration runs can neither be skipped nor be seen twice.
        """
        last = 0
        while True:
            query = {
                "top": self.page_size,
                "search": [{"name": "identity", "operator": "gt", "value": last}],
                "orderBy": [{"name": "identity", "direction": "asc"}],
                "pagination": {"pageNumber": 1, "pageSize": self.page_size},
            }
            body = self.session.call(
                "POST", self.path, noun=self.noun, action="Search", body={"query": query}
            )
            items = list_items(body)
            yield from items
            if len(items) < self.page_size:
                return
            last = max(int(item["identity"]) for item in items)

    def _instance(self, body: Any, identity: int | None) -> dict[str, Any]:
        instance = write_instance(body)
        if instance is not None and len(instance) > 1:
            return instance
        known = instance["identity"] if instance else identity
        if known is None:
            raise TransientError(f"LogiSense accepted the {self.noun} but sent no identity back")
        fetched = self.get(known)
        if fetched is None:
            raise TransientError(f"LogiSense accepted {self.noun} {known} but cannot read it back")
        return fetched
