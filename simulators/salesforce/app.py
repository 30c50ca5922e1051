"""The simulator's WSGI application: OAuth, REST and CometD routes with Salesforce's envelopes.

Authentication, the daily API limit and the ``Sforce-Limit-Info`` header live here, once for
every REST route; handlers in :mod:`rest` and :mod:`cometd` only see parsed calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import unquote

from simulators.salesforce.cometd import MIN_VERSION, CometdServer
from simulators.salesforce.errors import ApiError
from simulators.salesforce.oauth import OAuthError, SessionRegistry
from simulators.salesforce.rest import RestApi
from simulators.salesforce.wire import (
    REASONS,
    ApiUsage,
    Call,
    Reply,
    call_client,
    parse_query,
    read_body,
)

REST_PATH = re.compile(r"^/services/data/v(\d+\.\d)(?:/(.*))?$")
COMETD_PATH = re.compile(r"^/cometd/(\d+\.\d)(?:/.*)?$")
TOKEN_PATH = "/services/oauth2/token"
LATEST_VERSION = 62
MAX_BAYEUX_REQUEST = 32_768
FAULT_CODES = {
    429: "TOO_MANY_REQUESTS",
    500: "UNKNOWN_EXCEPTION",
    502: "SERVER_UNAVAILABLE",
    503: "SERVER_UNAVAILABLE",
    504: "REQUEST_TIMEOUT",
}
StartResponse = Callable[..., Any]


def fault_body(status: int) -> tuple[bytes, str]:
    """An injected fault in Salesforce's REST error envelope."""
    code = FAULT_CODES.get(status, "UNKNOWN_EXCEPTION")
    body = [{"message": f"simulated fault: HTTP {status}", "errorCode": code}]
    return json.dumps(body).encode(), "application/json"


def api_versions() -> list[dict[str, str]]:
    """``GET /services/data``: the API versions served (any version answers; these are listed)."""
    return [
        {"label": f"v{v}.0", "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
        for v in range(int(MIN_VERSION), LATEST_VERSION + 1)
    ]


def route_of(method: str, path: str) -> str:
    """A stable route name for the per-route counts (ids and versions folded out)."""
    if path.startswith("/cometd/"):
        return "/cometd"
    match = REST_PATH.match(path)
    if match is None:
        return path
    parts = [p for p in (match.group(2) or "").split("/") if p] or [""]
    if parts[0] == "sobjects" and len(parts) == 3 and parts[2] != "describe":
        parts[2] = "{id}"
    elif parts[0] == "sobjects" and len(parts) == 4:
        parts[3] = "{value}"
    elif parts[0] in ("query", "queryAll") and len(parts) == 2:
        parts[1] = "{locator}"
    elif parts[0] == "jobs" and len(parts) >= 3:
        parts[2] = "{id}"
    return "/services/data/" + "/".join(parts)


class SalesforceApp:
    """Dispatches a WSGI request to the token, REST or CometD handler."""

    def __init__(
        self,
        *,
        rest: RestApi,
        sessions: SessionRegistry,
        cometd: CometdServer,
        usage: ApiUsage,
        base_url: Callable[[], str],
    ) -> None:
        self.rest = rest
        self.sessions = sessions
        self.cometd = cometd
        self.usage = usage
        self.base_url = base_url

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == TOKEN_PATH:
            reply = self._token(environ)
        elif path.rstrip("/") == "/services/data":
            reply = Reply(200, api_versions())
        elif path.startswith("/services/data/"):
            reply = self._rest(environ, path)
        elif path.startswith("/cometd/"):
            reply = self._cometd(environ, path)
        else:
            reply = Reply(
                404,
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
            )
        return _send(start_response, reply)

    def _token(self, environ: dict[str, Any]) -> Reply:
        if environ.get("REQUEST_METHOD") != "POST":
            return Reply(
                405, {"error": "invalid_request", "error_description": "must use HTTP POST"}
            )
        form = parse_query(read_body(environ).decode("utf-8", "replace"))
        form.update(parse_query(environ.get("QUERY_STRING", "")))
        try:
            return Reply(200, self.sessions.issue(form, self.base_url()))
        except OAuthError as exc:
            return Reply(exc.status, {"error": exc.error, "error_description": exc.description})

    def _rest(self, environ: dict[str, Any], path: str) -> Reply:
        match = REST_PATH.match(path)
        if match is None:
            return Reply(
                404,
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
            )
        if not self.sessions.valid(environ.get("HTTP_AUTHORIZATION")):
            expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            return Reply(401, expired, [("WWW-Authenticate", "Token")])
        used = self.usage.count()
        if used > self.usage.limit:
            body = [
                {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
            ]
            return Reply(403, body, [self.usage.header()])
        call = Call(
            method=environ.get("REQUEST_METHOD", "GET"),
            parts=[unquote(p) for p in (match.group(2) or "").split("/") if p],
            query=parse_query(environ.get("QUERY_STRING", "")),
            body=read_body(environ),
            version=match.group(1),
            client=call_client(environ.get("HTTP_SFORCE_CALL_OPTIONS")),
            headers={"sforce-query-options": environ.get("HTTP_SFORCE_QUERY_OPTIONS", "")},
        )
        try:
            reply = self.rest.handle(call)
        except ApiError as exc:
            reply = Reply(exc.status, exc.rest_body())
        reply.headers.append(self.usage.header())
        return reply

    def _cometd(self, environ: dict[str, Any], path: str) -> Reply:
        match = COMETD_PATH.match(path)
        if match is None or float(match.group(1)) < MIN_VERSION:
            return Reply(400, [{"errorCode": "NOT_FOUND", "message": "Unsupported CometD version"}])
        if int(environ.get("CONTENT_LENGTH") or 0) > MAX_BAYEUX_REQUEST:
            return Reply(
                413, [{"channel": None, "successful": False, "error": "413::Request too large"}]
            )
        try:
            messages = json.loads(read_body(environ) or b"[]")
        except ValueError:
            return Reply(400, [{"channel": None, "successful": False, "error": "400::Bad request"}])
        if isinstance(messages, dict):
            messages = [messages]
        if not self.sessions.valid(environ.get("HTTP_AUTHORIZATION")):
            return Reply(401, self.cometd.unauthorized(messages))
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        browser = cookie["BAYEUX_BROWSER"].value if "BAYEUX_BROWSER" in cookie else None
        parts, new_browser = self.cometd.handle(messages, browser)
        headers = []
        if new_browser:
            headers.append(
                ("Set-Cookie", f"BAYEUX_BROWSER={new_browser}; Path=/; Secure; HttpOnly")
            )
        return Reply(200, None, headers, raw=("[" + ",".join(parts) + "]").encode())


def _send(start_response: StartResponse, reply: Reply) -> list[bytes]:
    data = reply.encode()
    headers = list(reply.headers)
    if reply.status != 204 and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json;charset=UTF-8"))
    headers.append(("Content-Length", str(len(data))))
    start_response(f"{reply.status} {REASONS.get(reply.status, 'Status')}", headers)
    return [data]
