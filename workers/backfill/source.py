"""Reading the in-scope records that exist in Salesforce, page by page, from a resumable position.

Small volumes use a REST query ordered by ``Id`` (the position is the last id read, so a restart
asks for ``Id > last``); volumes above ``bulk_threshold`` use a Bulk API 2.0 query job (the
position is the job and the locator of the next result set, which Salesforce keeps as long as
the job exists; a job that is gone is started again). Every page fetch passes ``pace()`` first:
the one place where a pacer of API usage slows these non-urgent reads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from adapters.salesforce.bulk import BulkQueryClient
from adapters.salesforce.reads import count
from adapters.salesforce.rest import SalesforceClient, require_field, require_object
from adapters.store.backfill import Position
from statemachine.fieldmap import FieldMap
from workers.ingest.reread import Rereader

log = logging.getLogger("billsync.backfill")

#: What "in scope" means for each object a backfill reads (SPEC §3).
SCOPE: dict[str, str] = {
    "Account": "LogiSense_Sync__c = true",
    "Contact": "LogiSense_Sync__c = true",
    "AccountContactRelation": "IsDirect = false AND Contact.LogiSense_Sync__c = true",
    "Opportunity": "IsWon = true",
}
#: ``--object`` choices and the objects each reads, in the order they are loaded.
OBJECT_SETS: dict[str, tuple[str, ...]] = {
    "Account": ("Account",),
    "Contact": ("Contact", "AccountContactRelation"),
    "Opportunity": ("Opportunity",),
    "all": ("Account", "Contact", "AccountContactRelation", "Opportunity"),
}
REST_PAGE = 2_000
DEFAULT_BULK_THRESHOLD = 10_000


@dataclass(frozen=True)
class Page:
    """Records read, and the position after them (to store once they are safely published)."""

    records: list[dict[str, Any]]
    position: Position


class BackfillSource:
    """Counts and reads the in-scope records of one object from a stored position."""

    def __init__(
        self,
        salesforce: SalesforceClient,
        field_map: FieldMap,
        *,
        bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
        bulk: BulkQueryClient | None = None,
        pace: Callable[[], object] | None = None,
    ) -> None:
        self.salesforce = salesforce
        self.rereader = Rereader(salesforce, field_map)
        self.bulk_threshold = bulk_threshold
        self.bulk = bulk or BulkQueryClient(salesforce)
        # A backfill is the least urgent reader there is: it slows down as the org's daily API
        # usage nears the limit (docs/adapters-salesforce.md, "API limits").
        self._pace = pace or salesforce.pace_non_urgent

    def pace(self) -> None:
        """Called before every page read: waits as the daily API usage nears its limit."""
        self._pace()

    def count(self, object_name: str) -> int:
        """How many in-scope records ``object_name`` has (one ``COUNT()`` query)."""
        soql = f"SELECT COUNT() FROM {require_object(object_name)} WHERE {SCOPE[object_name]}"
        self.pace()
        return count(self.salesforce, soql)

    def fields(self, object_name: str) -> list[str]:
        """The fields a backfilled record carries: the mapped ones and its modstamp."""
        return [require_field(f) for f in self.rereader.fields(object_name)]

    def start(self, object_name: str, total: int) -> Position:
        """A fresh position: REST below the bulk threshold, Bulk API 2.0 above it."""
        mode = "bulk" if total > self.bulk_threshold else "rest"
        return Position(object_name, mode, total=total, started_at=time.time())

    def pages(self, position: Position) -> Iterator[Page]:
        """Pages from ``position`` to the end; the last page's position has ``done`` set."""
        if position.mode == "bulk":
            yield from self._bulk_pages(position)
        else:
            yield from self._rest_pages(position)

    def _select(self, object_name: str) -> str:
        return f"SELECT {', '.join(self.fields(object_name))} FROM {object_name}"

    def _rest_pages(self, position: Position) -> Iterator[Page]:
        name = position.object
        where = SCOPE[name]
        if position.last_id:
            where += f" AND Id > '{position.last_id}'"
        soql = f"{self._select(name)} WHERE {where} ORDER BY Id"
        chunk: list[dict[str, Any]] = []
        published = position.published
        self.pace()
        for record in self.salesforce.iter_query(soql):
            chunk.append(record)
            if len(chunk) >= REST_PAGE:
                published += len(chunk)
                yield Page(
                    chunk, replace(position, last_id=str(chunk[-1]["Id"]), published=published)
                )
                chunk = []
                self.pace()
        published += len(chunk)
        last: str | None = str(chunk[-1]["Id"]) if chunk else position.last_id
        yield Page(chunk, replace(position, last_id=last, published=published, done=True))

    def _bulk_pages(self, position: Position) -> Iterator[Page]:
        name = position.object
        job_id = position.job_id
        if job_id is None or self.bulk.state(job_id) is None:
            if job_id is not None:
                log.warning(
                    "Bulk API job %s is gone; reading %s again from the start", job_id, name
                )
            self.pace()
            job_id = self.bulk.start(f"{self._select(name)} WHERE {SCOPE[name]}")
            position = replace(position, job_id=job_id, locator=None, published=0)
        self.bulk.wait(job_id)
        published = position.published
        self.pace()
        for result in self.bulk.result_sets(job_id, name, locator=position.locator):
            published += len(result.records)
            done = result.next_locator is None
            after = replace(position, locator=result.next_locator, published=published, done=done)
            yield Page(result.records, after)
            if not done:
                self.pace()
