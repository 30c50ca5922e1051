"""SOQL over REST: ``query`` and ``queryAll`` with ``nextRecordsUrl`` paging.

The SOQL engine (:mod:`simulators.salesforce.soql`) runs against the store under the org lock;
results larger than a batch (2,000 records, or ``Sforce-Query-Options: batchSize=N``) are kept
under a query locator that ``GET query/<locator>-<offset>`` pages through, as Salesforce does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from simulators.salesforce.errors import ApiError, bad_request, not_found
from simulators.salesforce.wire import Call, Reply

if TYPE_CHECKING:
    from simulators.salesforce.store import OrgStore

BATCH_SIZE = 2000
MAX_OPEN_CURSORS = 200


class QueryService:
    """Runs SOQL and keeps the cursors of unfinished results."""

    def __init__(self, store: OrgStore) -> None:
        self.store = store
        self._cursors: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self._counter = 0

    def handle(self, call: Call, *, include_deleted: bool) -> Reply:
        """``GET query?q=`` (first batch) or ``GET query/<locator>-<offset>`` (later ones)."""
        batch = _batch_size(call.headers.get("sforce-query-options", ""))
        if len(call.parts) == 2:
            return Reply(200, self._page(call, call.parts[1], batch))
        soql = call.query.get("q")
        if not soql:
            raise bad_request("MALFORMED_QUERY", "A query string must be provided.")
        records, total = self.run(soql, include_deleted=include_deleted, version=call.version)
        if not records:
            return Reply(200, {"totalSize": total, "done": True, "records": []})
        return Reply(200, self._first(call, records, batch))

    def run(
        self, soql: str, *, include_deleted: bool, version: str
    ) -> tuple[list[dict[str, Any]], int]:
        """Records and ``totalSize`` of a SOQL query (raises ``ApiError`` on bad SOQL)."""
        try:
            from simulators.salesforce import soql as engine
        except ImportError:
            raise ApiError(500, "UNKNOWN_EXCEPTION", "the SOQL engine is not installed") from None
        with self.store.lock:
            try:
                result = engine.run_query(
                    soql, self.store, include_deleted=include_deleted, api_version=version
                )
            except engine.SoqlError as exc:
                raise ApiError(400, exc.error_code, str(exc)) from None
        return list(result.records), result.total_size

    def _first(self, call: Call, records: list[dict[str, Any]], batch: int) -> dict[str, Any]:
        if len(records) <= batch:
            return {"totalSize": len(records), "done": True, "records": records}
        with self._lock:
            self._counter += 1
            locator = f"01g{self._counter:012d}"
            self._cursors[locator] = records
            while len(self._cursors) > MAX_OPEN_CURSORS:
                self._cursors.popitem(last=False)
        return self._slice(call, locator, records, 0, batch)

    def _page(self, call: Call, token: str, batch: int) -> dict[str, Any]:
        locator, _, offset = token.rpartition("-")
        with self._lock:
            records = self._cursors.get(locator)
        if records is None or not offset.isdigit():
            raise not_found("invalid query locator")
        return self._slice(call, locator, records, int(offset), batch)

    def _slice(
        self, call: Call, locator: str, records: list[dict[str, Any]], start: int, batch: int
    ) -> dict[str, Any]:
        end = start + batch
        page: dict[str, Any] = {
            "totalSize": len(records),
            "done": end >= len(records),
            "records": records[start:end],
        }
        if end < len(records):
            page["nextRecordsUrl"] = f"/services/data/v{call.version}/query/{locator}-{end}"
        return page


def _batch_size(options: str) -> int:
    for option in options.split(","):
        name, _, value = option.strip().partition("=")
        if name.strip() == "batchSize" and value.strip().isdigit():
            return max(200, min(BATCH_SIZE, int(value)))
    return BATCH_SIZE
