"""The records billsync writes (accounts, contacts, price plans): find, create, update, read, list.

The three resources behave the same way on the wire, so one class serves all of them; the client
names them. ``find_by_sfdcid`` is what makes creates safe to repeat (SPEC §6): a worker that died
between the write and its ack looks the record up by its Salesforce id before creating it again.
"""

from __future__ import annotations

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
    """One writable LogiSense resource (``Account``, ``Contact``, ``Account/PricePlan``)."""

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

    def find_by_sfdcid(self, sfdcid: str) -> dict[str, Any] | None:
        """The record whose ``sfdcid`` equals ``sfdcid``, or None (one ``Search`` call)."""
        if not isinstance(sfdcid, str) or not sfdcid:
            raise PermanentError(
                f"a Salesforce id to look up must be a non-empty string: {sfdcid!r}"
            )
        field = self.session.names.sfdcid_field
        query = {"top": 2, "search": [{"name": field, "operator": "eq", "value": sfdcid}]}
        body = self.session.call(
            "POST", self.path, noun=self.noun, action="Search", body={"query": query}
        )
        items = list_items(body)
        exact = [item for item in items if item.get(field) == sfdcid]
        found = exact or items
        return found[0] if found else None

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Create a record; the created instance as LogiSense stored it (with its ``identity``)."""
        body = self.session.call("POST", self.path, noun=self.noun, body=fields)
        return self._instance(body, None)

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
