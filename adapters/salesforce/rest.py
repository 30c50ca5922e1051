"""The Salesforce REST client: SOQL reads of synced records and allowlisted catalog writes.

Built on simple-salesforce. Two safety properties hold here and nowhere else:

- every write passes ``_require_writable``, which refuses any object outside
  ``WRITABLE_OBJECTS`` before a byte is sent (SPEC §1: billsync never writes Account, Contact,
  Opportunity, OpportunityLineItem or their custom children);
- nothing but validated Salesforce ids, validated field names and validated object names is
  ever put into SOQL text.

Vendor exceptions are translated into billsync.errors in ``_call`` (see errors.py beside this).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from adapters.call_observers import CallObservers, outcome_of
from adapters.salesforce.auth import SalesforceAuth
from adapters.salesforce.errors import translate, translate_transport
from adapters.salesforce.limits import (
    DEFAULT_MAX_DELAY_S,
    DEFAULT_SLOW_SHARE,
    LIMIT_HEADER,
    ApiUsage,
    ReadPacer,
)
from billsync.errors import (
    AuthenticationFailed,
    NotFound,
    PermanentError,
    TransientError,
    WriteNotAllowed,
)
from billsync.messages import is_salesforce_id

WRITABLE_OBJECTS = frozenset(
    {
        "Pricebook2",
        "Product2",
        "PricebookEntry",
        "Product_Service__c",
        "LogiSense_Reference__c",
        "LogiSense_Sync_Request__e",
    }
)
IDS_PER_QUERY = 200
RECORDS_PER_COLLECTION = 200
FIELD_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*$")
OBJECT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
T = TypeVar("T")


def require_field(name: str) -> str:
    """``name`` if it is a plain (or dotted relationship) field name, else PermanentError."""
    if not isinstance(name, str) or len(name) > 255 or not FIELD_RE.match(name):
        raise PermanentError(f"refused field name {name!r}: not a Salesforce field name")
    return name


def require_object(name: str) -> str:
    """``name`` if it is a plain sObject name, else PermanentError."""
    if not isinstance(name, str) or len(name) > 100 or not OBJECT_RE.match(name):
        raise PermanentError(f"refused object name {name!r}: not a Salesforce object name")
    return name


def require_id(value: str) -> str:
    """``value`` if it is a 15/18-character Salesforce id, else PermanentError (no HTTP call)."""
    if not isinstance(value, str) or not is_salesforce_id(value):
        raise PermanentError(f"refused record id {str(value)[:40]!r}: not a Salesforce id")
    return value


def _require_writable(sobject: str) -> str:
    if sobject not in WRITABLE_OBJECTS:
        raise WriteNotAllowed(
            f"billsync does not write {sobject!r} in Salesforce; "
            f"it writes only {', '.join(sorted(WRITABLE_OBJECTS))}"
        )
    return sobject


def soql_datetime(ms: int) -> str:
    """A SOQL datetime literal (UTC) for milliseconds since the epoch."""
    moment = datetime.fromtimestamp(ms / 1000.0, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "attributes"}


class SalesforceClient:
    """Reads and allowlisted writes against one org's REST API, with one shared token.

    ``api_calls`` counts the REST requests made (queries, pages, reads and writes, not logins),
    for the "REST calls per CDC change" figure of SPEC §9. ``api_usage`` holds the org's daily API
    usage from the last ``Sforce-Limit-Info`` header; ``pace_non_urgent()`` is what backfill,
    drift and re-reads call before each read (see adapters/salesforce/limits.py).
    """

    def __init__(
        self,
        instance_url: str,
        *,
        session_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        username: str | None = None,
        password: str | None = None,
        security_token: str | None = None,
        ca_bundle: str | None = None,
        api_version: str = "59.0",
        call_client: str = "billsync",
        timeout_s: float = 15.0,
        auth: SalesforceAuth | None = None,
        proxy: str | None = None,
        slow_share: float = DEFAULT_SLOW_SHARE,
        max_delay_s: float = DEFAULT_MAX_DELAY_S,
    ) -> None:
        self.auth = auth or SalesforceAuth(
            instance_url,
            session_id=session_id,
            client_id=client_id,
            client_secret=client_secret,
            username=username,
            password=password,
            security_token=security_token,
            ca_bundle=ca_bundle,
            timeout_s=timeout_s,
            proxy=proxy,
        )
        self.api_version = api_version
        self.api_usage = ApiUsage()
        self.server_date: str | None = None  # the last answer's Date header (clock check)
        self.pacer = ReadPacer(self.api_usage, slow_share=slow_share, max_delay_s=max_delay_s)
        self.call_client = call_client
        self.timeout_s = timeout_s
        self.api_calls = 0
        #: Told of every REST answer: system, operation, outcome and seconds (the metrics listen).
        self.observers = CallObservers()
        #: The org's API usage from the last ``Sforce-Limit-Info`` header: (used, limit).
        self._count_lock = threading.Lock()
        self._retry_after = threading.local()
        self._sf: Salesforce | None = None
        self._sf_lock = threading.Lock()

    # -- reads ---------------------------------------------------------------------------

    def pace_non_urgent(self) -> float:
        """Call before each non-urgent read: waits as the daily API usage nears its limit."""
        return self.pacer.before_read()

    def query_all(self, soql: str) -> list[dict[str, Any]]:
        """Every record of a SOQL query, following ``nextRecordsUrl`` page by page."""
        return list(self.iter_query(soql))

    def iter_query(self, soql: str, *, paced: bool = False) -> Iterator[dict[str, Any]]:
        """The records of a SOQL query, fetching the next page only when it is needed.

        ``paced``: a non-urgent read (backfill, drift, re-reads), which waits before each page
        as the daily API usage nears its limit (``pace_non_urgent``).
        """
        if paced:
            self.pace_non_urgent()
        page = self._call("query", lambda sf: sf.query(soql, timeout=self.timeout_s))
        while True:
            for record in page.get("records", []):
                yield _strip(record)
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            if paced:
                self.pace_non_urgent()
            page = self._call("query", partial(_query_more, url=next_url, timeout=self.timeout_s))

    def records_by_ids(
        self, sobject: str, ids: Iterable[str], fields: Sequence[str], *, paced: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Records by id, ``IDS_PER_QUERY`` ids a query, keyed by the id Salesforce returns.

        Every id and field is validated before the first query, so one bad id sends nothing.
        """
        require_object(sobject)
        wanted = list(dict.fromkeys(require_id(i) for i in ids))
        select = self._select_list(fields)
        found: dict[str, dict[str, Any]] = {}
        for batch in _chunks(wanted, IDS_PER_QUERY):
            in_list = ", ".join(f"'{record_id}'" for record_id in batch)
            soql = f"SELECT {select} FROM {sobject} WHERE Id IN ({in_list})"
            for record in self.iter_query(soql, paced=paced):
                found[record["Id"]] = record
        return found

    def changed_since(
        self, sobject: str, since_ms: int, fields: Sequence[str], *, paced: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Records whose ``SystemModstamp`` is after ``since_ms``, oldest first (reconciliation)."""
        require_object(sobject)
        select = self._select_list(fields)
        soql = (
            f"SELECT {select} FROM {sobject} WHERE SystemModstamp > {soql_datetime(int(since_ms))}"
            " ORDER BY SystemModstamp"
        )
        return self.iter_query(soql, paced=paced)

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        """One record with all its fields, or None when Salesforce has no such record."""
        path = f"sobjects/{require_object(sobject)}/{require_id(record_id)}"
        try:
            record = self._call(f"read {sobject}", lambda sf: self._rest(sf, path, "GET"))
        except NotFound:
            return None
        return _strip(record) if isinstance(record, dict) else None

    # -- the org's set-up (for billsync doctor) ------------------------------------------

    def describe(self, sobject: str) -> dict[str, Any]:
        """``GET sobjects/<T>/describe``: the object's fields as the integration user sees them."""
        path = f"sobjects/{require_object(sobject)}/describe"
        answer = self._call(f"describe {sobject}", lambda sf: self._rest(sf, path, "GET"))
        if not isinstance(answer, dict):
            raise TransientError(f"describe {sobject}: unexpected answer from Salesforce")
        return answer

    def tooling_query(self, soql: str) -> list[dict[str, Any]]:
        """Records of a Tooling API query (one page; the set-up objects billsync reads are few)."""
        answer = self._call(
            "tooling query",
            lambda sf: sf.toolingexecute("query/", params={"q": soql}, timeout=self.timeout_s),
        )
        if not isinstance(answer, dict):
            raise TransientError("tooling query: unexpected answer from Salesforce")
        return [_strip(r) for r in answer.get("records", [])]

    def daily_api_requests(self) -> tuple[int, int]:
        """``(used, limit)`` of the org's daily API requests (``GET limits``; one call)."""
        answer = self._call("limits", lambda sf: self._rest(sf, "limits", "GET"))
        daily = answer.get("DailyApiRequests") if isinstance(answer, dict) else None
        if not isinstance(daily, dict) or "Max" not in daily:
            raise TransientError("limits: unexpected answer from Salesforce")
        limit = int(daily["Max"])
        return limit - int(daily.get("Remaining", limit)), limit

    def api_versions(self) -> list[str]:
        """The REST API versions the org serves (``GET /services/data/``)."""

        def versions(sf: Salesforce) -> Any:
            url = f"{self.auth.instance_url}/services/data/"
            response = sf.session.get(url, headers=sf.headers, timeout=self.timeout_s)
            if response.status_code != 200:
                raise TransientError(f"API versions: HTTP {response.status_code}")
            return response.json()

        answer = self._call("API versions", versions)
        return [str(v.get("version")) for v in answer if isinstance(v, dict)]

    # -- writes (allowlisted) ------------------------------------------------------------

    def upsert_many(
        self, sobject: str, external_id_field: str, records: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Upsert by external id, 200 records a call; one result per record, in order."""
        _require_writable(sobject)
        require_field(external_id_field)
        for record in records:
            if record.get(external_id_field) in (None, ""):
                raise PermanentError(f"upsert of {sobject}: a record lacks {external_id_field}")
        path = f"composite/sobjects/{sobject}/{external_id_field}"
        return self._collection(sobject, "PATCH", path, records)

    def create_many(self, sobject: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create records, 200 a call; one result (``id``, ``success``, ``errors``) per record."""
        _require_writable(sobject)
        return self._collection(sobject, "POST", "composite/sobjects", records)

    def update_many(self, sobject: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Update records by ``Id``, 200 a call; one result per record, in order."""
        _require_writable(sobject)
        for record in records:
            require_id(record.get("Id", ""))
        return self._collection(sobject, "PATCH", "composite/sobjects", records)

    def publish_event(self, event: str, fields: dict[str, Any]) -> str:
        """Publish a platform event (``Name`` or ``Name__e``); returns the event's id."""
        name = event if event.endswith("__e") else f"{event}__e"
        _require_writable(require_object(name))
        path = f"sobjects/{name}"
        result = self._call(
            f"publish {name}", lambda sf: self._rest(sf, path, "POST", json=dict(fields))
        )
        if not isinstance(result, dict) or not result.get("success", True):
            raise PermanentError(f"publish {name}: Salesforce did not accept the event")
        return str(result.get("id", ""))

    def _collection(
        self, sobject: str, method: str, path: str, records: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for batch in _chunks(records, RECORDS_PER_COLLECTION):
            body = {
                "allOrNone": False,
                "records": [{**r, "attributes": {"type": sobject}} for r in batch],
            }
            send = partial(self._rest, path=path, method=method, json=body)
            answer = self._call(f"{method} {sobject}", send)
            if not isinstance(answer, list) or len(answer) != len(batch):
                raise TransientError(f"{method} {sobject}: unexpected collection answer")
            results.extend(answer)
        return results

    # -- plumbing ------------------------------------------------------------------------

    def _select_list(self, fields: Sequence[str]) -> str:
        names = ["Id"] + [require_field(f) for f in fields if f != "Id"]
        return ", ".join(dict.fromkeys(names))

    def _rest(self, sf: Salesforce, path: str, method: str, **kwargs: Any) -> Any:
        return sf.restful(path, method=method, timeout=self.timeout_s, **kwargs)

    def _call(self, what: str, operation: Callable[[Salesforce], Any]) -> Any:
        """Run one REST operation; re-login once on an expired session; translate errors."""
        for attempt in (1, 2):
            sf = self._client()
            token = sf.session_id
            self._retry_after.value = None
            try:
                return operation(sf)
            except SalesforceExpiredSession:
                if attempt == 2 or not self.auth.can_refresh:
                    raise AuthenticationFailed(
                        f"{what}: Salesforce refused the session (INVALID_SESSION_ID)"
                    ) from None
                self._use_token(self.auth.refresh(stale=token))
            except SalesforceError as exc:
                raise translate(exc, what, retry_after=self._retry_after.value) from None
            except requests.RequestException as exc:
                raise translate_transport(exc, what) from None
            except ValueError:
                raise TransientError(f"{what}: unreadable answer from Salesforce") from None
        raise AssertionError("unreachable")

    def _client(self) -> Salesforce:
        with self._sf_lock:
            if self._sf is None:
                session = self.auth.new_session()
                session.headers["Sforce-Call-Options"] = f"client={self.call_client}"
                session.hooks["response"].append(self._on_response)
                self._sf = Salesforce(
                    instance_url=self.auth.instance_url,
                    session_id=self.auth.access_token,
                    session=session,
                    version=self.api_version,
                )
            return self._sf

    def _use_token(self, token: str) -> None:
        with self._sf_lock:
            if self._sf is not None:
                self._sf.session_id = token
                self._sf.headers["Authorization"] = "Bearer " + token

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if "/services/data/" in response.url:
            with self._count_lock:
                self.api_calls += 1
            self.observers.notify(
                "salesforce",
                _operation(response),
                outcome_of(response.status_code),
                response.elapsed.total_seconds(),
            )
        self.api_usage.record(response.headers.get(LIMIT_HEADER))
        self.server_date = response.headers.get("Date") or self.server_date
        if response.status_code == 403 and b"REQUEST_LIMIT_EXCEEDED" in response.content[:2000]:
            self.api_usage.exceeded()
        if response.status_code == 429:
            self._retry_after.value = _seconds(response.headers.get("Retry-After"))

    def __repr__(self) -> str:
        return f"SalesforceClient({self.auth.instance_url!r}, api_version={self.api_version!r})"


def _query_more(sf: Salesforce, *, url: str, timeout: float) -> Any:
    return sf.query_more(url, identifier_is_url=True, timeout=timeout)


def _operation(response: requests.Response) -> str:
    """``METHOD kind`` of a REST call: query, sobjects/<Object>, composite, ... (ids dropped)."""
    path = response.url.split("/services/data/", 1)[-1].split("?", 1)[0]
    parts = path.split("/")[1:3]  # drop the version
    kind = parts[0] if parts else ""
    if kind == "sobjects" and len(parts) > 1:
        kind = f"sobjects/{parts[1]}"
    method = response.request.method if response.request is not None else "GET"
    return f"{method} {kind}".strip()


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
