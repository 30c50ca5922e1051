"""What an operator needs from a failed HTTP call that got no answer: where it went (scheme, host
and port only: no path, query or credentials) and the root cause in words ("Connection
refused", "Name or service not known"), not the class names of four wrapped exceptions."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import requests

_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def where(exc: requests.RequestException) -> str:
    """``scheme://host:port`` of the request that failed, or "" when unknown."""
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    return origin(str(url)) if url else ""


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url``: no path, query or credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def why(exc: BaseException) -> str:
    """The root cause of a transport failure, in the operating system's words when it gave any."""
    text = str(exc)
    found = _ERRNO.search(text)
    if found:
        return found[1].strip()
    if "timed out" in text.lower():
        return "timed out"
    return type(exc).__name__
