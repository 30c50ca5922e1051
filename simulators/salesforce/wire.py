"""Request and response plumbing shared by the REST, OAuth and CometD handlers.

Handlers get a parsed :class:`Call` and return a :class:`Reply`; the WSGI app turns the reply into
one buffered write. Keeping handlers free of WSGI makes ``POST composite`` able to run its
subrequests through the very same REST handlers.
"""

from __future__ import annotations

import json
import threading
import time
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
