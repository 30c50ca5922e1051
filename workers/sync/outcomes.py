"""One structured log line per entity outcome, so that the logs tell each entity's story.

Every line carries ``entity`` (the Salesforce id), ``object``, ``attempt``, ``reason`` and
``trace_id``, and its event is the outcome (``retry scheduled``, ``waiting on``, ``released``,
``pushed``, ``failed``). The trace id follows one change of the entity through every retry: the
id the intake recorded with the change (``detail["trace_id"]``) when there is one, else the
entity and its change version. Rendering (JSON or console) is configured once per process in
``billsync.logs``; these lines go through structlog whatever the renderer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog

from statemachine.lifecycle import Change, Outcome

log = structlog.get_logger("billsync.outcomes")

#: Outcomes that are worth a line (progress inside one round of work is not an outcome).
LOGGED = frozenset(
    {Outcome.RETRY_SCHEDULED, Outcome.WAITING, Outcome.PUSHED, Outcome.FAILED, Outcome.RELEASED}
)


def trace_id(record: Any) -> str:
    """The id that ties together the lines about one change of an entity."""
    detail = getattr(record, "detail", None) or {}
    given = detail.get("trace_id") if isinstance(detail, dict) else None
    return str(given) if given else f"{record.object}:{record.sfid}:v{record.version or 0}"


def log_outcome(record: Any, change: Change) -> None:
    """The line for ``change`` of ``record``."""
    if change.outcome not in LOGGED:
        return
    method = log.warning if change.outcome is Outcome.FAILED else log.info
    method(
        str(change.outcome),
        entity=record.sfid,
        object=record.object,
        attempt=change.attempts,
        reason=change.reason,
        state=change.state,
        trace_id=trace_id(record),
    )


def log_released(woken: Iterable[Any], target: str) -> None:
    """A line per entity woken because ``target`` is ready (or failed)."""
    for entity in woken:
        log.info(
            str(Outcome.RELEASED),
            entity=entity.sfid,
            object=entity.object,
            attempt=entity.attempts,
            reason=f"{target} is ready",
            trace_id=f"{entity.object}:{entity.sfid}",
        )


def log_event(outcome: Outcome | str, **fields: Any) -> None:
    """A line for an event that is not one entity's change (a circuit opened, an alert)."""
    log.warning(str(outcome), **fields)


def route_to_logging_unless_configured() -> None:
    """Send these lines through the standard logging set-up (its handlers, levels, secret
    redaction) when nothing configured structlog for this process, so that they never go
    straight to stdout."""
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.KeyValueRenderer(key_order=["event", "entity", "object"]),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
