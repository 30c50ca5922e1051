"""``POST composite``: up to 25 subrequests in one transaction, with ``@{ref.path}`` references.

Each subrequest runs through the REST handlers inside the composite's one transaction. With
``allOrNone`` a failure rolls everything back and the other subrequests answer
``PROCESSING_HALTED``; without it, only subrequests that reference a failed one are halted.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from simulators.salesforce.errors import ApiError, bad_request
from simulators.salesforce.wire import Call, Reply, parse_query

if TYPE_CHECKING:
    from simulators.salesforce.rest import RestApi
    from simulators.salesforce.transaction import Transaction

MAX_SUBREQUESTS = 25
REFERENCE = re.compile(r"@\{([^}]+)\}")
URL_PREFIX = re.compile(r"^/services/data/v(\d+\.\d)/")
HALTED_ROLLBACK = (
    "The transaction was rolled back since another operation in the same transaction failed."
)


class UnresolvedReference(Exception):
    """A subrequest names a reference whose request failed or does not exist."""


def run_composite(rest: RestApi, call: Call) -> Reply:
    """Run a composite request (see the module docstring)."""
    body = call.json()
    requests = body.get("compositeRequest") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        raise bad_request("JSON_PARSER_ERROR", "compositeRequest is required")
    if len(requests) > MAX_SUBREQUESTS:
        raise bad_request("LIMIT_EXCEEDED", f"Limit exceeded: {MAX_SUBREQUESTS} subrequests")
    all_or_none = bool(body.get("allOrNone", False))
    with rest.store.transaction(call.origin) as tx:
        start = tx.savepoint()
        responses = _run_all(rest, call, tx, requests, all_or_none)
        if all_or_none and any(r["httpStatusCode"] >= 400 for r in responses):
            tx.rollback(start)
            for response in responses:
                if response["httpStatusCode"] < 400 or response.get("_halted"):
                    response.update(httpStatusCode=400, body=[_halted(HALTED_ROLLBACK)])
    for response in responses:
        response.pop("_halted", None)
    return Reply(200, {"compositeResponse": responses})


def _run_all(
    rest: RestApi, call: Call, tx: Transaction, requests: list[Any], all_or_none: bool
) -> list[dict[str, Any]]:
    results: dict[str, Any] = {}
    responses: list[dict[str, Any]] = []
    failed = False
    for sub in requests:
        ref = str(sub.get("referenceId", ""))
        if failed and all_or_none:
            responses.append(_response(ref, 400, [_halted(HALTED_ROLLBACK)], halted=True))
            continue
        try:
            reply = _run_one(rest, call, tx, sub, results)
        except UnresolvedReference as exc:
            responses.append(_response(ref, 400, [_halted(str(exc))], halted=True))
            failed = True
            continue
        except ApiError as exc:
            reply = Reply(exc.status, exc.rest_body())
        failed = failed or reply.status >= 400
        if reply.status < 400:
            results[ref] = reply.body
        responses.append(_response(ref, reply.status, reply.body))
    return responses


def _run_one(
    rest: RestApi, call: Call, tx: Transaction, sub: dict[str, Any], results: dict[str, Any]
) -> Reply:
    url = _resolve(str(sub.get("url", "")), results)
    parts = urlsplit(url)
    match = URL_PREFIX.match(parts.path)
    if match is None:
        raise bad_request("INVALID_URL", f"Invalid url: {url}")
    import json

    body = sub.get("body")
    sub_call = Call(
        method=str(sub.get("method", "GET")).upper(),
        parts=[unquote(p) for p in parts.path[match.end() :].split("/") if p],
        query=parse_query(parts.query),
        body=json.dumps(_resolve(body, results)).encode() if body is not None else b"",
        version=match.group(1),
        client=call.client,
        headers=call.headers,
    )
    return rest.handle(sub_call, tx)


def _resolve(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return REFERENCE.sub(lambda m: str(_lookup(m.group(1), results)), value)
    if isinstance(value, list):
        return [_resolve(v, results) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, results) for k, v in value.items()}
    return value


def _lookup(path: str, results: dict[str, Any]) -> Any:
    tokens = re.findall(r"[^.\[\]]+", path)
    if not tokens or tokens[0] not in results:
        ref = tokens[0] if tokens else path
        raise UnresolvedReference(
            f"Invalid reference specified. No value for {path} found in {ref}. "
            f"Provided referenceId ({ref}) was not found in the result list."
        )
    value: Any = results[tokens[0]]
    for token in tokens[1:]:
        try:
            value = value[int(token)] if isinstance(value, list) else value[token]
        except (KeyError, IndexError, ValueError, TypeError):
            raise UnresolvedReference(
                f"Invalid reference specified. No value for {path} found in {tokens[0]}."
            ) from None
    return value


def _halted(message: str) -> dict[str, Any]:
    return {"errorCode": "PROCESSING_HALTED", "message": message}


def _response(ref: str, status: int, body: Any, *, halted: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "body": body,
        "httpHeaders": {},
        "httpStatusCode": status,
        "referenceId": ref,
    }
    if halted:
        response["_halted"] = True
    return response
