"""Bulk API 2.0 query jobs: large reads (the backfill of an org's existing records).

A query job runs on Salesforce's side and is read back as CSV in result sets of up to
``set_size`` records, each naming the next set in its ``Sforce-Locator`` header (``null`` after
the last). A locator stays valid as long as the job exists, so a reader that stopped can resume
at the set it had not finished. CSV carries text only: values are typed back with the object's
describe (checkboxes to booleans, numbers to numbers, empty to null).

Requests go through ``SalesforceClient._call``, so login refresh, error translation and the API
call count are the REST client's.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.util import exception_handler

from adapters.salesforce.rest import SalesforceClient
from billsync.errors import PermanentError, TransientError

DEFAULT_SET_SIZE = 50_000
POLL_INTERVAL_S = 0.5
POLL_CAP_S = 10.0
MAX_WAIT_S = 3_600.0
NUMBER_TYPES = frozenset({"double", "currency", "percent"})
INTEGER_TYPES = frozenset({"int", "long"})
FAILED_STATES = frozenset({"Failed", "Aborted"})


@dataclass(frozen=True)
class ResultSet:
    """One set of a job's results: its records and the locator of the next set (None at the
    end)."""

    locator: str | None
    next_locator: str | None
    records: list[dict[str, Any]]


class BulkQueryClient:
    """Creates, polls and reads Bulk API 2.0 query jobs for one org."""

    def __init__(
        self,
        salesforce: SalesforceClient,
        *,
        set_size: int = DEFAULT_SET_SIZE,
        poll_interval_s: float = POLL_INTERVAL_S,
        max_wait_s: float = MAX_WAIT_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.salesforce = salesforce
        self.set_size = set_size
        self.poll_interval_s = poll_interval_s
        self.max_wait_s = max_wait_s
        self.sleep = sleep
        self._types: dict[str, dict[str, str]] = {}

    def start(self, soql: str, *, include_deleted: bool = False) -> str:
        """Create a query job; its id."""
        body = {"operation": "queryAll" if include_deleted else "query", "query": soql}
        job = self._json("create a Bulk API query job", "POST", "jobs/query", body)
        return str(job["id"])

    def state(self, job_id: str) -> str | None:
        """The job's state, or None when Salesforce no longer has it (deleted, or expired)."""
        try:
            job = self._json("read a Bulk API query job", "GET", f"jobs/query/{job_id}")
        except PermanentError:
            return None
        return str(job.get("state"))

    def wait(self, job_id: str) -> None:
        """Poll until the job is complete (backing off to ``POLL_CAP_S``); PermanentError if it
        failed or was aborted, TransientError if it takes longer than ``max_wait_s``."""
        deadline = time.monotonic() + self.max_wait_s
        delay = self.poll_interval_s
        while True:
            state = self.state(job_id)
            if state == "JobComplete":
                return
            if state is None or state in FAILED_STATES:
                raise PermanentError(f"Bulk API query job {job_id} ended as {state or 'missing'}")
            if time.monotonic() > deadline:
                raise TransientError(f"Bulk API query job {job_id} still {state}; try again")
            self.sleep(delay)
            delay = min(delay * 2, POLL_CAP_S)

    def result_sets(
        self, job_id: str, sobject: str, *, locator: str | None = None
    ) -> Iterator[ResultSet]:
        """The job's result sets from ``locator`` (the first set when None), records typed."""
        types = self._field_types(sobject)
        current = locator
        while True:
            text, next_locator = self._results(job_id, current)
            records = [_typed(row, types) for row in csv.DictReader(io.StringIO(text))]
            yield ResultSet(current, next_locator, records)
            if next_locator is None:
                return
            current = next_locator

    # -- plumbing ----------------------------------------------------------------------

    def _results(self, job_id: str, locator: str | None) -> tuple[str, str | None]:
        params: dict[str, Any] = {"maxRecords": self.set_size}
        if locator:
            params["locator"] = locator

        def get(sf: Salesforce) -> tuple[str, str | None]:
            url = f"{sf.base_url}jobs/query/{job_id}/results"
            answer = sf.session.get(
                url,
                headers={**sf.headers, "Accept": "text/csv"},
                params=params,
                timeout=self.salesforce.timeout_s,
            )
            if answer.status_code >= 300:
                exception_handler(answer, f"jobs/query/{job_id}/results")
            following = answer.headers.get("Sforce-Locator")
            answer.encoding = "utf-8"
            return answer.text, None if following in (None, "", "null") else following

        result: tuple[str, str | None] = self.salesforce._call("read Bulk API results", get)
        return result

    def _json(self, what: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
        def send(sf: Salesforce) -> Any:
            kwargs: dict[str, Any] = {"json": body} if body is not None else {}
            return sf.restful(path, method=method, timeout=self.salesforce.timeout_s, **kwargs)

        answer = self.salesforce._call(what, send)
        if not isinstance(answer, dict):
            raise TransientError(f"{what}: unexpected answer from Salesforce")
        return answer

    def _field_types(self, sobject: str) -> dict[str, str]:
        if sobject not in self._types:
            described = self._json(f"describe {sobject}", "GET", f"sobjects/{sobject}/describe")
            self._types[sobject] = {
                str(f["name"]): str(f.get("type", "string")) for f in described.get("fields", [])
            }
        return self._types[sobject]


def _typed(row: dict[str, str], types: dict[str, str]) -> dict[str, Any]:
    """A CSV row with Salesforce's types back: empty → None, checkbox → bool, numbers."""
    out: dict[str, Any] = {}
    for name, text in row.items():
        kind = types.get(name, "string")
        if text == "" or text is None:
            out[name] = None
        elif kind == "boolean":
            out[name] = text.lower() == "true"
        elif kind in INTEGER_TYPES:
            out[name] = int(text)
        elif kind in NUMBER_TYPES:
            out[name] = float(text)
        else:
            out[name] = text
    return out
