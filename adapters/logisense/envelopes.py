"""Reading LogiSense envelopes, and turning a refused response into billsync's error types.

LogiSense wraps everything: lists in ``{"items": [...]}``, writes in ``{"results": {"items":
[{"instance": ...}]}}`` and refusals in ``{"errors": [{"code", "message"}, ...]}`` listing every
problem. Translating the status here, in one pure function, keeps the retry decision of SPEC §5
(transient: 5xx, 408, 429; permanent: other 4xx) in one place that tests can read.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

from billsync.errors import (
    BillsyncError,
    NotFound,
    RemoteRejected,
    TransientError,
)

# The closing entry of every LogiSense error list ("Errors found. Transaction rolled back"): kept in
# ``errors`` for fidelity, left out of the one-line message because it says nothing new.
ROLLED_BACK_CODE = 2000
MAX_MESSAGE_ERRORS = 20


def error_messages(body: Any) -> list[str]:
    """Every ``message`` of an error envelope, in order; ``[]`` for any other body."""
    if not isinstance(body, dict):
        return []
    errors = body.get("errors")
    if isinstance(errors, list):
        return [_entry_message(e) for e in errors if _entry_message(e)]
    for key in ("error_description", "error", "message", "Message"):
        if isinstance(body.get(key), str) and body[key]:
            return [body[key]]
    return []


def _entry_message(entry: Any) -> str:
    if isinstance(entry, dict):
        return str(entry.get("message") or entry.get("Message") or "")
    return str(entry) if entry else ""


def _meaningful(body: Any, messages: list[str]) -> list[str]:
    """The messages worth a human's attention: the rolled-back trailer dropped."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return messages
    kept = [
        _entry_message(e)
        for e in errors
        if _entry_message(e) and not (isinstance(e, dict) and e.get("code") == ROLLED_BACK_CODE)
    ]
    return kept or messages


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); None when absent or garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def refusal(status: int, body: Any, *, noun: str, retry_after: str | None = None) -> BillsyncError:
    """The billsync error for a non-2xx data response (401 is handled by the caller first).

    5xx and 408 are transient; 429 is transient with the server's ``Retry-After``; 404 is
    ``NotFound``; every other 4xx (409 included) is ``RemoteRejected`` carrying each message.
    """
    messages = error_messages(body)
    detail = "; ".join(_meaningful(body, messages)[:MAX_MESSAGE_ERRORS])
    suffix = f": {detail}" if detail else ""
    if status == 429:
        wait = retry_after_seconds(retry_after)
        hint = f" (retry after {wait:g} s)" if wait is not None else ""
        return TransientError(
            f"LogiSense throttled the {noun} request (429){hint}{suffix}", retry_after=wait
        )
    if status >= 500 or status == 408:
        return TransientError(f"LogiSense failed on the {noun} request ({status}){suffix}")
    if status == 404:
        return NotFound(f"LogiSense has no such {noun} (404){suffix}", status=404, errors=messages)
    return RemoteRejected(
        f"LogiSense refused the {noun} ({status}){suffix}", status=status, errors=messages
    )


def write_instance(body: Any) -> dict[str, Any] | None:
    """The ``instance`` of the first result of a create/patch envelope, if the server sent one."""
    try:
        item = body["results"]["items"][0]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(item, dict):
        return None
    instance = item.get("instance")
    if isinstance(instance, dict):
        return instance
    return {"identity": item["identity"]} if isinstance(item.get("identity"), int) else None


def list_items(body: Any) -> list[dict[str, Any]]:
    """The ``items`` of a list or search envelope (a bare list is accepted too)."""
    items = body.get("items") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict)]


def total_count(body: Any) -> int | None:
    """The envelope's ``totalCount`` when present."""
    value = body.get("totalCount") if isinstance(body, dict) else None
    return value if isinstance(value, int) else None
