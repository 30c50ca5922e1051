"""The REST API under ``/services/data/vNN.N/``: sObject CRUD, upsert, describe, query, limits.

:class:`RestApi` dispatches one :class:`~simulators.salesforce.wire.Call`. Writes run in a store
transaction, or inside the caller's when a ``POST composite`` passes one in (``tx``), so that a
composite request is one transaction with one ``transactionKey``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from simulators.salesforce.bulk import BulkQueryApi
from simulators.salesforce.describe import describe, global_describe
from simulators.salesforce.errors import ApiError, bad_request, not_found
from simulators.salesforce.query import QueryService
from simulators.salesforce.sobject_collections import CollectionsApi
from simulators.salesforce.store import OrgStore
from simulators.salesforce.transaction import Transaction, field_def
from simulators.salesforce.wire import ApiUsage, Call, Reply


class RestApi:
    """Routes REST calls to the org; see the module docstring."""

    def __init__(self, store: OrgStore, *, usage: ApiUsage) -> None:
        self.store = store
        self.usage = usage
        self.queries = QueryService(store)
        self.collections = CollectionsApi(self)
        self.bulk = BulkQueryApi(self.queries, now_iso=store.now_iso)

    def handle(self, call: Call, tx: Transaction | None = None) -> Reply:
        """Answer one call (raises :class:`ApiError` for Salesforce errors)."""
        parts, method = call.parts, call.method
        head = parts[0] if parts else ""
        if head in ("query", "queryAll") and method == "GET":
            return self.queries.handle(call, include_deleted=head == "queryAll")
        if head == "sobjects":
            return self._sobjects(call, parts[1:], tx)
        if head == "jobs" and parts[1:2] == ["query"]:
            return self.bulk.handle(call, parts[2:])
        if head == "composite" and parts[1:2] == ["sobjects"]:
            return self.collections.handle(call, parts[2:], tx)
        if head == "composite" and len(parts) == 1 and method == "POST":
            from simulators.salesforce.composite import run_composite

            return run_composite(self, call)
        if head == "tooling" and parts[1:] == ["query"] and method == "GET":
            return Reply(200, self._channel_members(call))
        if head == "limits" and method == "GET":
            return Reply(200, self._limits())
        if not parts and method == "GET":
            return Reply(200, {"sobjects": f"/services/data/v{call.version}/sobjects"})
        raise not_found()

    @contextmanager
    def writing(self, call: Call, tx: Transaction | None) -> Iterator[Transaction]:
        """The transaction to write in: the caller's (with a savepoint) or a new one."""
        if tx is None:
            with self.store.transaction(call.origin) as own:
                yield own
            return
        savepoint = tx.savepoint()
        try:
            yield tx
        except ApiError:
            tx.rollback(savepoint)
            raise

    def _sobjects(self, call: Call, parts: list[str], tx: Transaction | None) -> Reply:
        method = call.method
        if not parts:
            if method == "GET":
                return Reply(200, global_describe(self.store))
            raise not_found()
        obj = self.store.object(parts[0])
        rest = parts[1:]
        if not rest:
            if method == "POST":
                return self._create(call, obj.name, tx)
            if method == "GET":
                return Reply(200, {"objectDescribe": describe(obj, brief=True), "recentItems": []})
        elif rest == ["describe"] and method == "GET":
            return Reply(200, describe(obj))
        elif len(rest) == 1:
            return self._record(call, obj.name, rest[0], tx)
        elif len(rest) == 2:
            return self._by_external_id(call, obj.name, rest[0], rest[1], tx)
        return Reply(
            405,
            [
                {
                    "errorCode": "METHOD_NOT_ALLOWED",
                    "message": f"HTTP Method '{method}' not allowed. Allowed are GET,POST",
                }
            ],
        )

    def _create(self, call: Call, sobject: str, tx: Transaction | None) -> Reply:
        values = _object_body(call)
        with self.writing(call, tx) as own:
            record_id = own.insert(sobject, values)
        return Reply(201, {"id": record_id, "success": True, "errors": []})

    def _record(self, call: Call, sobject: str, record_id: str, tx: Transaction | None) -> Reply:
        if call.method == "GET":
            return Reply(200, self.render(call, sobject, self.store.read(sobject, record_id)))
        if call.method == "PATCH":
            values = _object_body(call)
            with self.writing(call, tx) as own:
                own.update(sobject, record_id, values)
            return Reply(204)
        if call.method == "DELETE":
            with self.writing(call, tx) as own:
                own.delete(sobject, record_id)
            return Reply(204)
        raise not_found()

    def _by_external_id(
        self, call: Call, sobject: str, field: str, value: str, tx: Transaction | None
    ) -> Reply:
        if call.method == "PATCH":
            values = _object_body(call)
            fdef = field_def(self.store.object(sobject), field)
            given = values.get(fdef.name) if fdef else None
            if given is not None and str(given) != value:
                raise bad_request(
                    "INVALID_FIELD",
                    f"The value of {field} in the URL does not match the value in the body",
                )
            with self.writing(call, tx) as own:
                record_id, created = own.upsert(sobject, field, value, values)
            body = {"id": record_id, "success": True, "errors": [], "created": created}
            return Reply(201 if created else 200, body)
        record_id = self._find_external(sobject, field, value)
        if call.method == "GET":
            return Reply(200, self.render(call, sobject, self.store.read(sobject, record_id)))
        if call.method == "DELETE":
            with self.writing(call, tx) as own:
                own.delete(sobject, record_id)
            return Reply(204)
        raise not_found()

    def _find_external(self, sobject: str, field: str, value: str) -> str:
        fdef = field_def(self.store.object(sobject), field)
        if fdef is None or not fdef.external_id:
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {field}"
            )
        record_id = self.store.find_external(sobject, fdef.name, value)
        if record_id is None:
            raise not_found()
        return record_id

    def render(self, call: Call, sobject: str, record: dict[str, Any]) -> dict[str, Any]:
        """A record as the REST API returns it, honouring ``?fields=``."""
        obj = self.store.object(sobject)
        wanted = [f.strip() for f in call.query.get("fields", "").split(",") if f.strip()]
        names = []
        for name in wanted or list(obj.fields):
            fdef = field_def(obj, name)
            if fdef is None:
                raise bad_request("INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'")
            names.append(fdef.name)
        url = f"/services/data/v{call.version}/sobjects/{sobject}/{record['Id']}"
        out: dict[str, Any] = {"attributes": {"type": sobject, "url": url}}
        for name in names:
            out[name] = record.get(name)
        return out

    def _channel_members(self, call: Call) -> dict[str, Any]:
        """Tooling API ``query`` of ``PlatformEventChannelMember`` (the only tooling object here):
        one member of the ``ChangeEvents`` channel per object selected for CDC; the query's
        select list and filters are not evaluated."""
        soql = call.query.get("q", "")
        match = re.search(r"\bFROM\s+(\w+)", soql, re.IGNORECASE)
        if match is None:
            raise bad_request("MALFORMED_QUERY", "unexpected token: no FROM clause")
        if match.group(1).lower() != "platformeventchannelmember":
            raise bad_request("INVALID_TYPE", f"sObject type '{match.group(1)}' is not supported.")
        records = []
        for name in sorted(self.store.cdc_entities):
            entity = self.store.object(name).change_event_channel.removeprefix("/data/")
            records.append(
                {
                    "attributes": {"type": "PlatformEventChannelMember"},
                    "Id": "0v8" + name[:12].ljust(12, "0") + "AAA",
                    "DeveloperName": f"ChangeEvents_{entity}",
                    "EventChannel": "ChangeEvents",
                    "SelectedEntity": entity,
                }
            )
        return {"size": len(records), "totalSize": len(records), "done": True, "records": records}

    def _limits(self) -> dict[str, Any]:
        limit, used = self.usage.limit, self.usage.used
        return {"DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)}}


def _object_body(call: Call) -> dict[str, Any]:
    body = call.json()
    if not isinstance(body, dict):
        raise bad_request("JSON_PARSER_ERROR", "Expected a JSON object as the request body")
    return body
