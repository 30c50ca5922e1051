"""Logging set-up, once per process: structlog renders every line, as JSON or for a console.

billsync's own code logs structured events with ``structlog.get_logger()`` (an event name plus
keys such as ``entity``, ``object``, ``attempt``, ``reason``, ``trace_id``; docs/operations.md
lists them). Libraries and older modules log through the standard ``logging`` module; their
records are routed through the same processors (``ProcessorFormatter``), so a process writes one
format only. Every configured secret is redacted from every line, whichever way it was logged.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor

REDACTED = "[redacted]"

#: Library loggers that speak at every reconnect attempt or request; billsync logs the state
#: change of each connection itself (``connection.lost`` / ``connection.back``).
QUIET_LIBRARIES = ("transitions", "urllib3", "pika", "amqp", "kombu", "cheroot", "alembic")


class RedactSecrets:
    """A structlog processor (and helper) that replaces each known secret value in every string
    value of an event, including rendered exceptions."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __call__(self, logger: Any, method: str, event: EventDict) -> EventDict:
        if not self.secrets:
            return event
        for key, value in list(event.items()):
            if isinstance(value, str):
                event[key] = self.redact(value)
            elif key not in ("_record", "_from_structlog") and not isinstance(
                value, (int, float, bool, type(None))
            ):
                event[key] = self.redact(str(value))
        return event


def _drop_color_message(logger: Any, method: str, event: EventDict) -> EventDict:
    event.pop("color_message", None)
    return event


def _shared() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_color_message,
    ]


def configure(
    *,
    level: str = "INFO",
    fmt: str = "console",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and the root logger of this process (JSON for ``fmt="json"``)."""
    redact = RedactSecrets(secrets)
    shared = _shared()
    final: list[Processor] = [structlog.processors.format_exc_info, redact]
    if fmt == "json":
        final += [structlog.processors.JSONRenderer(default=str)]
    else:
        final += [structlog.dev.ConsoleRenderer(colors=False)]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.PositionalArgumentsFormatter()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def quiet_libraries() -> None:
    """For one-shot commands: library loggers say nothing at all (the command's own error line
    says what failed), so a broker that is down prints one line, not pika's seven."""
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.CRITICAL + 1)


def bind(**keys: Any) -> None:
    """Keys added to every line this thread logs from now on (e.g. ``worker``)."""
    structlog.contextvars.bind_contextvars(**keys)


class ConnectionState:
    """One log line per change of a connection's state: ``connection.lost`` with the cause when
    it first fails, ``connection.back`` when it works again; the attempts in between are silent
    (a broker down for an hour is two lines, not one per reconnect)."""

    def __init__(self, name: str, target: str = "") -> None:
        self.name = name
        self.target = target
        self.up = True
        self._log = structlog.get_logger("billsync.connection")

    def lost(self, cause: BaseException | str) -> None:
        """The connection failed (logged only if it was up)."""
        if self.up:
            self.up = False
            reason = cause if isinstance(cause, str) else describe(cause)
            self._log.warning(
                "connection.lost", connection=self.name, target=self.target, reason=reason
            )

    def back(self) -> None:
        """The connection works (logged only if it was down)."""
        if not self.up:
            self.up = True
            self._log.info("connection.back", connection=self.name, target=self.target)


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception and its root cause, on one line."""
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    root = exc
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    if root is not exc and str(root):
        text += f" (cause: {type(root).__name__}: {root})"
    return " ".join(text.split())
