"""Bulk API 2.0 query jobs under ``/services/data/vNN.N/jobs/query``, as Salesforce documents them.

- ``POST jobs/query`` ``{"operation": "query"|"queryAll", "query": SOQL}`` creates a job in state
  ``UploadComplete``; the query runs against the org as it is at that moment.
- ``GET jobs/query/<id>`` reports the job: each poll moves it one step, ``UploadComplete`` →
  ``InProgress`` → ``JobComplete`` (a client must poll, as against a real org), with
  ``numberRecordsProcessed``.
- ``GET jobs/query/<id>/results[?locator=&maxRecords=]`` returns one set of results as CSV (every
  value quoted, a null is an empty value, booleans ``true``/``false``), with the headers
  ``Sforce-NumberOfRecords`` and ``Sforce-Locator`` (the next set's locator, or ``null``). A
  locator stays valid as long as the job exists, so a set can be read again. Results of a job
  that is not complete are refused.
- ``PATCH jobs/query/<id>`` ``{"state": "Aborted"}`` and ``DELETE jobs/query/<id>``.

Queries with ``GROUP BY``, ``ORDER BY``, ``LIMIT``, ``OFFSET``, ``TYPEOF`` or aggregates are
refused, as the Bulk API 2.0 documentation lists them as unsupported.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulators.salesforce.errors import ApiError, bad_request, not_found
from simulators.salesforce.wire import Call, Reply

if TYPE_CHECKING:
    from simulators.salesforce.query import QueryService

#: Records in one result set when the client does not pass ``maxRecords``.
DEFAULT_SET_SIZE = 50_000
UNSUPPORTED = re.compile(r"\b(GROUP\s+BY|ORDER\s+BY|LIMIT|OFFSET|TYPEOF|COUNT\s*\()", re.IGNORECASE)
STEPS = ("UploadComplete", "InProgress", "JobComplete")
JOB_PREFIX = "750"


@dataclass
class QueryJob:
    """One query job: its answer (records, columns) and where it stands."""

    id: str
    operation: str
    sobject: str
    query: str
    version: str
    columns: list[str]
    records: list[dict[str, Any]]
    created: str
    state: str = "UploadComplete"
    polls: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The job info body."""
        done = self.state == "JobComplete"
        return {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": "005000000000001AAA",
            "createdDate": self.created,
            "systemModstamp": self.created,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "jobType": "V2Query",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
            "numberRecordsProcessed": len(self.records) if done else 0,
            "retries": 0,
            "totalProcessingTime": 0,
        }


class BulkQueryApi:
    """Holds the query jobs of the org (in memory, like everything the simulator keeps)."""

    def __init__(self, queries: QueryService, *, now_iso: Any) -> None:
        self.queries = queries
        self.now_iso = now_iso
        self.jobs: dict[str, QueryJob] = {}
        self._lock = threading.Lock()
        self._counter = 0

    def handle(self, call: Call, parts: list[str]) -> Reply:
        """Dispatch ``jobs/query[/<id>[/results]]``."""
        if not parts:
            if call.method == "POST":
                return self._create(call)
            if call.method == "GET":
                jobs = [job.describe() for job in self.jobs.values()]
                return Reply(200, {"done": True, "records": jobs, "nextRecordsUrl": None})
            raise not_found()
        job = self._job(parts[0])
        if len(parts) == 1:
            if call.method == "GET":
                return Reply(200, self._poll(job).describe())
            if call.method == "PATCH":
                return Reply(200, self._abort(call, job).describe())
            if call.method == "DELETE":
                with self._lock:
                    self.jobs.pop(job.id, None)
                return Reply(204)
        if parts[1:] == ["results"] and call.method == "GET":
            return self._results(call, job)
        raise not_found()

    def _create(self, call: Call) -> Reply:
        body = call.json()
        if not isinstance(body, dict):
            raise bad_request("JSON_PARSER_ERROR", "Expected a JSON object as the request body")
        operation = body.get("operation")
        soql = body.get("query")
        if operation not in ("query", "queryAll"):
            raise bad_request("INVALIDJOB", "InvalidJob : operation must be query or queryAll")
        if not isinstance(soql, str) or not soql.strip():
            raise bad_request("INVALIDJOB", "InvalidJob : a query must be provided")
        if body.get("contentType", "CSV") != "CSV":
            raise bad_request("INVALIDJOB", "InvalidJob : contentType must be CSV")
        found = UNSUPPORTED.search(soql)
        if found:
            raise bad_request(
                "INVALIDJOB",
                f"InvalidJob : Bulk API 2.0 does not support {found.group(1).upper()} in a query",
            )
        records, _total = self.queries.run(
            soql, include_deleted=operation == "queryAll", version=call.version
        )
        columns = _columns(soql)
        with self._lock:
            self._counter += 1
            job_id = f"{JOB_PREFIX}{self._counter:012d}AAA"
            job = QueryJob(
                id=job_id,
                operation=operation,
                sobject=_object(soql),
                query=soql,
                version=call.version,
                columns=columns,
                records=records,
                created=self.now_iso(),
            )
            self.jobs[job_id] = job
        return Reply(200, job.describe())

    def _job(self, job_id: str) -> QueryJob:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise not_found(f"Job with id {job_id} does not exist")
        return job

    def _poll(self, job: QueryJob) -> QueryJob:
        with self._lock:
            if job.state in STEPS[:-1]:
                job.state = STEPS[STEPS.index(job.state) + 1]
        return job

    def _abort(self, call: Call, job: QueryJob) -> QueryJob:
        body = call.json()
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            raise bad_request("INVALIDJOBSTATE", "InvalidJobState : only Aborted can be set")
        with self._lock:
            if job.state == "JobComplete":
                raise bad_request("INVALIDJOBSTATE", "InvalidJobState : the job is complete")
            job.state = "Aborted"
        return job

    def _results(self, call: Call, job: QueryJob) -> Reply:
        if job.state != "JobComplete":
            raise ApiError(
                400, "INVALIDJOBSTATE", f"InvalidJobState : the job is {job.state}, not complete"
            )
        if call.version != job.version:
            raise ApiError(409, "INVALIDVERSION", "Use the API version that created the job")
        size = _positive(call.query.get("maxRecords"), DEFAULT_SET_SIZE)
        start = _offset(call.query.get("locator"))
        chunk = job.records[start : start + size]
        end = start + len(chunk)
        locator = _locator(end) if end < len(job.records) else "null"
        headers = [
            ("Content-Type", "text/csv"),
            ("Sforce-NumberOfRecords", str(len(chunk))),
            ("Sforce-Locator", locator),
        ]
        return Reply(200, None, headers, raw=_csv(job.columns, chunk))


def _columns(soql: str) -> list[str]:
    match = re.match(r"^\s*SELECT\s+(.*?)\s+FROM\s", soql, re.IGNORECASE | re.DOTALL)
    if match is None:
        raise bad_request("MALFORMED_QUERY", "unexpected token: a SELECT list must be given")
    return [c.strip() for c in match.group(1).split(",") if c.strip()]


def _object(soql: str) -> str:
    match = re.search(r"\bFROM\s+([A-Za-z0-9_]+)", soql, re.IGNORECASE)
    return match.group(1) if match else ""


def _value(record: dict[str, Any], column: str) -> Any:
    value: Any = record
    for part in column.split("."):
        if not isinstance(value, dict):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv(columns: list[str], records: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_text(_value(record, c)) for c in columns])
    return out.getvalue().encode("utf-8")


def _locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str | None) -> int:
    if not locator:
        return 0
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4)).decode()
        return max(0, int(text))
    except ValueError:
        raise bad_request("INVALIDLOCATOR", f"Invalid locator: {locator[:40]}") from None


def _positive(value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) <= 0:
        raise bad_request("INVALIDMAXRECORDS", "maxRecords must be a positive integer")
    return int(value)
