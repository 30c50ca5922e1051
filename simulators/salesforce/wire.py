"""Request and response plumbing shared by the REST, OAuth and CometD handlers.

Handlers get a parsed :class:`Call` and return a :class:`Reply`; the WSGI app turns the reply into
one buffered write. Keeping handlers free of WSGI makes ``POST composite`` able to run its
subrequests through the very same REST handlers.

:class:`BufferedBody` reads every request body whole before anything else looks at it, whether it
came with a ``Content-Length`` or ``Transfer-Encoding: chunked`` (jsforce, the CometD JavaScript
client and most Node clients send chunked bodies). The WSGI server drains unread bodies of known
length itself, but not chunked ones: an unread chunked body would be parsed as the next request
on a kept-alive connection.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from simulators.salesforce.errors import bad_request

REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    300: "Multiple Choices",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    500: "Server Error",
}


@dataclass
class Call:
    """One API call: method, path parts after the API version, query, body and caller."""

    method: str
    parts: list[str]
    query: dict[str, str]
    body: bytes = b""
    version: str = "59.0"
    client: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON (``JSON_PARSER_ERROR`` when it is not)."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise bad_request("JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None

    @property
    def origin(self) -> str:
        """The ``changeOrigin`` of writes made by this call."""
        base = f"com/salesforce/api/rest/{self.version}"
        return f"{base};client={self.client}" if self.client else base


@dataclass
class Reply:
    """A handler's answer: status, JSON body (None for no body), extra headers."""

    status: int
    body: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    raw: bytes | None = None

    def encode(self) -> bytes:
        """The body bytes."""
        if self.raw is not None:
            return self.raw
        return b"" if self.body is None else json.dumps(self.body).encode()


def parse_query(query_string: str) -> dict[str, str]:
    """The query string as a flat dict (last value wins)."""
    return {k: v[-1] for k, v in parse_qs(query_string, keep_blank_values=True).items()}


def call_client(options: str | None) -> str | None:
    """The ``client=`` value of a ``Sforce-Call-Options`` header."""
    for option in (options or "").split(","):
        name, _, value = option.strip().partition("=")
        if name.strip().lower() == "client" and value.strip():
            return value.strip()
    return None


def read_body(environ: dict[str, Any]) -> bytes:
    """The request body (empty when none)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length > 0 else b""


#: The largest request body taken on each kind of route (bytes). Bayeux's 32,768 is documented
#: (``413`` beyond it); REST's is the simulator's bound on memory, above any call billsync or the
#: contract clients make; the token endpoint takes a short form (a JWT assertion fits easily).
MAX_BAYEUX_BODY = 32_768
MAX_TOKEN_BODY = 65_536
MAX_REST_BODY = 52_428_800
READ_CHUNK = 65_536


def body_limit(path: str) -> int:
    """The body size limit of the route at ``path``."""
    if path.startswith("/cometd/"):
        return MAX_BAYEUX_BODY
    if path.startswith("/services/oauth2/"):
        return MAX_TOKEN_BODY
    return MAX_REST_BODY


def too_large_body(path: str, limit: int) -> bytes:
    """A 413 body in the envelope of the route at ``path``."""
    if path.startswith("/cometd/"):
        body: Any = [{"channel": None, "successful": False, "error": "413::Request too large"}]
    elif path.startswith("/services/oauth2/"):
        body = {"error": "invalid_request", "error_description": "request too large"}
    else:
        body = [
            {
                "message": f"The request body exceeds the limit of {limit} bytes",
                "errorCode": "REQUEST_ENTITY_TOO_LARGE",
            }
        ]
    return json.dumps(body).encode()


class BodyTooLarge(Exception):
    """A request body longer than its route's limit."""


class BufferedBody:
    """WSGI middleware: read the whole request body first, chunked or not, within its limit.

    Downstream code then sees a ``Content-Length`` and an in-memory ``wsgi.input``, so every
    handler (REST, OAuth, CometD, the ``/__sim/`` admin routes, injected faults) reads chunked
    bodies the same way and no request leaves bytes on a kept-alive connection. A body over the
    limit is answered 413, on which the server closes the connection (its remaining bytes are
    never read).
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], limit_of: Callable[[str], int]) -> None:
        self.app = app
        self.limit_of = limit_of

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        limit = self.limit_of(path)
        try:
            body = self._read(environ, limit)
        except BodyTooLarge:
            data = too_large_body(path, limit)
            start_response(
                f"413 {REASONS[413]}",
                [
                    ("Content-Type", "application/json;charset=UTF-8"),
                    ("Content-Length", str(len(data))),
                    ("Connection", "close"),
                ],
            )
            return [data]
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = io.BytesIO(body)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)

    @staticmethod
    def _read(environ: dict[str, Any], limit: int) -> bytes:
        stream = environ["wsgi.input"]
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            parts: list[bytes] = []
            size = 0
            while True:
                part = stream.read(READ_CHUNK)
                if not part:
                    return b"".join(parts)
                size += len(part)
                if size > limit:
                    raise BodyTooLarge
                parts.append(part)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > limit:
            raise BodyTooLarge
        return stream.read(length) if length > 0 else b""


class ApiUsage:
    """The daily API request counter behind ``Sforce-Limit-Info`` and REQUEST_LIMIT_EXCEEDED."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.day = _utc_day()
        self._lock = threading.Lock()

    def count(self) -> int:
        """Count one call; the usage including it (the count starts again each UTC day)."""
        with self._lock:
            today = _utc_day()
            if today != self.day:
                self.day, self.used = today, 0
            self.used += 1
            return self.used

    def header(self) -> tuple[str, str]:
        """The ``Sforce-Limit-Info`` header."""
        return ("Sforce-Limit-Info", f"api-usage={min(self.used, self.limit)}/{self.limit}")


def _utc_day() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime())
