"""Translation of simple-salesforce and requests failures into billsync's error hierarchy.

This is the only place in billsync that looks inside those vendor exceptions. Messages carry
Salesforce's error codes and messages, never a URL's query, a token or a secret.
"""

from __future__ import annotations

from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError

from adapters.salesforce.auth import transport_error
from billsync.errors import NotFound, QuotaExhausted, RemoteRejected, TransientError

#: How long to wait before trying again after REQUEST_LIMIT_EXCEEDED (the retry cap applies too).
LIMIT_EXCEEDED_RETRY_S = 600.0
TRANSIENT_STATUSES = frozenset({408, 429})


def salesforce_messages(content: Any) -> list[str]:
    """``errorCode: message`` for each error in a Salesforce error body (list or dict form)."""
    items = content if isinstance(content, list) else [content]
    found = []
    for item in items:
        if isinstance(item, dict):
            code = item.get("errorCode") or item.get("statusCode") or item.get("error") or ""
            message = item.get("message") or item.get("error_description") or ""
            found.append(f"{code}: {message}".strip(": "))
        elif isinstance(item, (str, bytes)) and item:
            text = item.decode(errors="replace") if isinstance(item, bytes) else item
            found.append(text[:300])
    return found


def translate(exc: SalesforceError, what: str, *, retry_after: float | None = None) -> Exception:
    """The billsync error for a Salesforce HTTP error answer (401 is handled by the caller)."""
    status = int(exc.status)
    messages = salesforce_messages(exc.content)
    detail = "; ".join(messages) or f"HTTP {status}"
    if any(m.startswith("REQUEST_LIMIT_EXCEEDED") for m in messages):
        return QuotaExhausted(
            f"{what}: Salesforce's daily API limit is spent ({detail}); waiting for it",
            retry_after=LIMIT_EXCEEDED_RETRY_S,
        )
    if status >= 500 or status in TRANSIENT_STATUSES:
        return TransientError(f"{what}: HTTP {status} ({detail})", retry_after=retry_after)
    if status == 404:
        return NotFound(f"{what}: not found ({detail})", status=404, errors=messages)
    message = f"{what}: Salesforce refused it ({detail})"
    return RemoteRejected(message, status=status, errors=messages)


def translate_transport(exc: requests.RequestException, what: str) -> Exception:
    """The billsync error for a request that got no HTTP answer."""
    return transport_error(exc, what)
