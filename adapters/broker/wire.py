"""What billsync takes off the wire, checked on the raw delivery before kombu decodes anything.

kombu decompresses a body in ``Message.__init__`` whenever a ``compression`` header names a codec
(a 391-byte bz2 body became 31 MB there), before any consumer code runs. So each channel that
consumes billsync queues gets a guard in front of kombu's message construction: it takes the
``compression`` header off the raw delivery (kombu then hands the body over as it came) and
records why the delivery is refused: a compression header, a content type or encoding other than
billsync's, or a body over the size limit. The consumer dead-letters a refused delivery with that
reason without ever parsing it.

py-amqp decodes a message's short-string properties (``content_type`` ...) as strict UTF-8 while
reading the frame: one non-UTF-8 ``content_type`` raised inside ``drain_events`` on every delivery
attempt, so that message could never be taken, refused or dead-lettered.
``tolerate_invalid_utf8`` makes that decoding lenient (invalid bytes become lone surrogates, which
the guard refuses as a foreign content type).
"""

from __future__ import annotations

from typing import Any

#: The content types and encodings billsync's producers use (and an absent one, for old
#: producers that set neither).
CONTENT_TYPES = frozenset({"application/json", None, ""})
CONTENT_ENCODINGS = frozenset({"utf-8", "utf8", "binary", None, ""})
#: Set on a refused delivery's headers (as seen by the consumer): why it must not be decoded.
REFUSED_HEADER = "x-billsync-refused"
#: Keeps the ``compression`` header's value, shown in the dead letter.
COMPRESSION_HEADER = "x-billsync-compression"


def shown(value: Any, limit: int = 80) -> str:
    """A value safe to put in a reason, a log line or a JSON column: printable ASCII, bounded."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "backslashreplace")
    else:
        text = str(value).encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return repr(text[:limit]) if len(text) <= limit else repr(text[:limit]) + "..."


def refusal(
    headers: dict[Any, Any],
    content_type: Any,
    content_encoding: Any,
    size: int,
    max_bytes: int,
) -> str | None:
    """Why a raw delivery must not be decoded, or None when billsync may parse it."""
    if "compression" in headers:
        return (
            f"refused a compressed message (compression {shown(headers['compression'])}): "
            "billsync messages are plain JSON; decompressing untrusted bodies is not safe"
        )
    if content_type not in CONTENT_TYPES:
        return f"refused content type {shown(content_type)}: billsync messages are application/json"
    if content_encoding not in CONTENT_ENCODINGS:
        return (
            f"refused content encoding {shown(content_encoding)}: billsync messages are UTF-8 JSON"
        )
    if size > max_bytes:
        return (
            f"message is {size:,} bytes, over the {max_bytes:,}-byte limit; "
            "send one record per message"
        )
    return None


def guard_channel(channel: Any, *, max_bytes: int) -> None:
    """Put the guard in front of the channel's message class, which py-amqp's
    ``message_to_python`` and kombu's virtual transports (``memory://``) both call with the raw
    delivery; idempotent. The guard is a subclass, so kombu's own ``isinstance`` checks hold."""
    original: type[Any] = channel.Message
    if getattr(original, "billsync_guard", False):
        return

    class GuardedMessage(original):
        billsync_guard = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            _inspect(args[0] if args else kwargs["payload"], max_bytes)
            super().__init__(*args, **kwargs)

    channel.Message = GuardedMessage


def _inspect(raw: Any, max_bytes: int) -> None:
    if isinstance(raw, dict):  # kombu's virtual transports (memory://)
        headers = raw.setdefault("headers", {}) or {}
        raw["headers"] = headers
        content_type, encoding = raw.get("content-type"), raw.get("content-encoding")
        size = len(raw.get("body") or b"") * 3 // 4
    else:  # py-amqp's Message
        properties = raw.properties
        headers = properties.get("application_headers") or {}
        properties["application_headers"] = headers
        content_type = properties.get("content_type")
        encoding = properties.get("content_encoding")
        size = len(raw.body or b"")
    reason = refusal(headers, content_type, encoding, size, max_bytes)
    if "compression" in headers:
        headers[COMPRESSION_HEADER] = shown(headers.pop("compression"))
    if reason is not None:
        headers[REFUSED_HEADER] = reason


_tolerant = False


def tolerate_invalid_utf8() -> None:
    """Make py-amqp decode short-string properties leniently (see the module docstring).

    py-amqp's property decoder looks ``pstr_t`` up in its module at each call, so replacing it
    there is enough; idempotent.
    """
    global _tolerant
    if _tolerant:
        return
    from amqp import serialization

    def lenient(value: Any) -> Any:
        if isinstance(value, bytes):
            return value.decode("utf-8", "surrogateescape")
        return value

    serialization.pstr_t = lenient
    _tolerant = True
