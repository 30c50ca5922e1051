"""Drift repair: put Salesforce's values back into LogiSense through the ordinary sync.

Nothing is written to LogiSense here. Each drifted entity is re-queued instead: the drifted
fields are forgotten from the written payload (so the worker's diff sends them again) and the
entity moves ``pushed -> pending`` in one transaction, after a ``SNAPSHOT`` change with the
Salesforce values is published when Salesforce was read (stamped with the time of the read, so
a change committed after the read still wins).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from adapters.store import records as store
from adapters.store.db import Sessions
from billsync import messages
from statemachine import lifecycle
from statemachine.machine import FAILED

if TYPE_CHECKING:
    from workers.drift.check import DriftReport

DRIFT_WORKER = "drift"


def repair(
    report: DriftReport,
    sessions: Sessions,
    *,
    publish: Callable[[list[messages.ChangeMessage]], int] | None = None,
) -> list[str]:
    """Re-queue every drifted entity so that a worker writes Salesforce's values again.

    When Salesforce was read, a ``SNAPSHOT`` change carrying its values is published first
    (stamped with the time of the read, so a change committed after the read still wins).
    Returns the Salesforce ids re-queued.
    """
    drifted = report.drifted()
    if publish is not None and report.source == "salesforce":
        snapshots = [
            snapshot_message(object_name, sfid, *report.salesforce_values[(object_name, sfid)])
            for object_name, sfid in drifted
            if (object_name, sfid) in report.salesforce_values
        ]
        if snapshots:
            publish(snapshots)
    requeued = []
    for (object_name, sfid), differences in drifted.items():
        fields = [d.field for d in differences if d.kind == "field"]
        reason = "drift repair: LogiSense differs in " + (", ".join(fields) or "nothing")
        if all(d.kind == "store-behind" for d in differences):
            reason = "drift repair: the store missed a Salesforce change"
        if mark_for_repush(sessions, object_name, sfid, fields, reason=reason):
            requeued.append(sfid)
    return requeued


def snapshot_message(
    object_name: str, sfid: str, values: dict[str, Any], read_ms: int
) -> messages.ChangeMessage:
    """A ``SNAPSHOT`` change with Salesforce's values as read at ``read_ms``."""
    fields = {
        k: v
        for k, v in values.items()
        if k != "Id" and not k.startswith("_") and (v is None or isinstance(v, str | int | float))
    }
    return messages.change(
        object_name,
        sfid,
        fields,
        change_type="SNAPSHOT",
        commit_timestamp=read_ms,
        source="reconcile",
    )


def mark_for_repush(
    sessions: Sessions,
    object_name: str,
    sfid: str,
    ls_fields: Iterable[str],
    *,
    reason: str,
    clock: Callable[[], float] = time.time,
) -> bool:
    """In one transaction: forget ``ls_fields`` from the written payload and, for a pushed entity,
    move it ``pushed -> pending`` now. False when the entity is failed or gone (nothing done)."""
    with sessions.begin() as session:
        record = store.by_sfids(session, object_name, [sfid]).get(sfid)
        if record is None or record.state == FAILED:
            return False
        now = clock()
        detail = dict(record.detail or {})
        written = dict(detail.get("written") or {})
        for name in ls_fields:
            written.pop(name.split(".")[0], None)  # "points.email" lives under "points"
        detail["written"] = written
        record.detail = detail
        change = lifecycle.repaired(record, reason)
        store.apply(session, record, change, worker=DRIFT_WORKER, at=now, now=now)
        return True
