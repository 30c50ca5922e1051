"""sObject Collections: ``composite/sobjects`` create, update, upsert, delete and retrieve.

Up to 200 records per call, all in one transaction (one ``transactionKey``). With ``allOrNone``
one failed record rolls every record back (the others report ``ALL_OR_NONE_OPERATION_ROLLED_BACK``);
without it, each failed record is rolled back alone and the rest commit. Results use ``statusCode``
in their errors, as the collections API does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulators.salesforce.errors import ApiError, bad_request, not_found
from simulators.salesforce.ids import to_18
from simulators.salesforce.transaction import Transaction
from simulators.salesforce.wire import Call, Reply

if TYPE_CHECKING:
    from simulators.salesforce.rest import RestApi

MAX_RECORDS = 200
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
    "using AllOrNone header",
    "fields": [],
}
Operation = Callable[[Transaction, Any], dict[str, Any]]


class CollectionsApi:
    """``/composite/sobjects`` routes; see the module docstring."""

    def __init__(self, rest: RestApi) -> None:
        self.rest = rest
        self.store = rest.store

    def handle(self, call: Call, parts: list[str], tx: Transaction | None) -> Reply:
        """Dispatch by method and path (``[]`` or ``[Type, ExternalIdField]``)."""
        method = call.method
        if method == "DELETE" and not parts:
            ids = [i for i in call.query.get("ids", "").split(",") if i]
            all_or_none = call.query.get("allOrNone", "false").lower() == "true"
            return self._run(call, tx, ids, all_or_none, self._delete)
        if method == "GET" and len(parts) == 1:
            return self._retrieve(call, parts[0])
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise bad_request("JSON_PARSER_ERROR", 'Expected {"records": [...]} in the body')
        records, all_or_none = body["records"], bool(body.get("allOrNone", False))
        if method == "POST" and not parts:
            return self._run(call, tx, records, all_or_none, self._create)
        if method == "PATCH" and not parts:
            return self._run(call, tx, records, all_or_none, self._update)
        if method == "PATCH" and len(parts) == 2:
            sobject, field = self.store.object(parts[0]).name, parts[1]
            return self._run(call, tx, records, all_or_none, self._upserter(sobject, field))
        raise not_found()

    def _run(
        self,
        call: Call,
        tx: Transaction | None,
        items: list[Any],
        all_or_none: bool,
        operation: Operation,
    ) -> Reply:
        if len(items) > MAX_RECORDS:
            raise bad_request(
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_RECORDS} records into "
                "this call",
            )
        with self.rest.writing(call, tx) as own:
            start = own.savepoint()
            results, failed = [], False
            for item in items:
                savepoint = own.savepoint()
                try:
                    results.append(operation(own, item))
                except ApiError as exc:
                    own.rollback(savepoint)
                    failed = True
                    results.append(
                        {"id": None, "success": False, "errors": [exc.collection_entry()]}
                    )
            if failed and all_or_none:
                own.rollback(start)
                for result in results:
                    if result["success"]:
                        result.update(success=False, errors=[ROLLED_BACK])
                        result.pop("created", None)
        return Reply(200, results)

    def _create(self, tx: Transaction, record: Any) -> dict[str, Any]:
        sobject, values = _typed(record)
        return {"id": tx.insert(sobject, values), "success": True, "errors": []}

    def _update(self, tx: Transaction, record: Any) -> dict[str, Any]:
        sobject, values = _typed(record)
        record_id = values.get("Id")
        if not record_id:
            raise bad_request("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        return {"id": tx.update(sobject, str(record_id), values), "success": True, "errors": []}

    def _upserter(self, sobject: str, field: str) -> Operation:
        def upsert(tx: Transaction, record: Any) -> dict[str, Any]:
            kind, values = _typed(record, default=sobject)
            if kind != sobject:
                raise bad_request("INVALID_TYPE", f"Record type {kind} does not match {sobject}")
            key = next((v for k, v in values.items() if k.lower() == field.lower()), None)
            record_id, created = tx.upsert(sobject, field, key, values)
            return {"id": record_id, "success": True, "errors": [], "created": created}

        return upsert

    def _delete(self, tx: Transaction, record_id: Any) -> dict[str, Any]:
        full = to_18(str(record_id))
        sobject = self.store.object_of_id(full) if full else None
        if full is None or sobject is None:
            raise bad_request("MALFORMED_ID", f"malformed id {record_id}")
        return {"id": tx.delete(sobject, full), "success": True, "errors": []}

    def _retrieve(self, call: Call, sobject: str) -> Reply:
        obj = self.store.object(sobject)
        out: list[dict[str, Any] | None] = []
        for record_id in [i for i in call.query.get("ids", "").split(",") if i]:
            record = self.store.get(obj.name, record_id)
            live = record is not None and not record["IsDeleted"]
            out.append(self.rest.render(call, obj.name, record) if live and record else None)
        return Reply(200, out)


def _typed(record: Any, default: str | None = None) -> tuple[str, dict[str, Any]]:
    if not isinstance(record, dict):
        raise bad_request("JSON_PARSER_ERROR", "Each record must be a JSON object")
    attributes = record.get("attributes") or {}
    sobject = attributes.get("type") if isinstance(attributes, dict) else None
    if not sobject and default is None:
        raise bad_request("INVALID_TYPE", "Must send a concrete entity type.")
    return str(sobject or default), {k: v for k, v in record.items() if k != "attributes"}
