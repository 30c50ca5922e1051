"""An outcome checker in the spirit of Jepsen's: the whole history of a fault run (every state
transition in the store, every write LogiSense received) compared with Salesforce's final state.

It finds:
- **lost**: a valid account with no LogiSense account carrying its ``sfdcid``;
- **duplicated**: more than one successful create for one ``sfdcid`` in LogiSense's write
  journal (a response lost after the write counts: the write happened), or two accounts with it;
- **stale**: a LogiSense account whose fields differ from Salesforce's final values;
- **invalid in LogiSense**: a write for an account the rules refuse;
- **failed**: a valid entity that ended ``failed``;
- **bad history**: a move the state machine does not allow, a history whose moves do not chain
  (one move's target is the next one's source), or a final state that differs from the history.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from adapters.store.db import make_engine, session_factory
from adapters.store.models import SyncRecord, Transition
from statemachine.machine import TRANSITIONS

ALLOWED = {
    (source, str(t["dest"]))
    for t in TRANSITIONS
    for source in (t["source"] if isinstance(t["source"], list) else [t["source"]])
}


@dataclass
class Outcome:
    """What a fault run left behind, as the reliability table shows it."""

    fault: str
    duration_s: float
    changes: int
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    invalid_in_logisense: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bad_history: list[str] = field(default_factory=list)
    dead_lettered: int = 0
    writes: int = 0
    notes: str = ""

    @property
    def clean(self) -> bool:
        """True when nothing was lost, duplicated, stale, wrongly written or failed."""
        return not (
            self.lost
            or self.duplicated
            or self.stale
            or self.invalid_in_logisense
            or self.failed
            or self.bad_history
        )

    def row(self) -> dict[str, Any]:
        """The reliability table's row."""
        return {
            "fault": self.fault,
            "duration_s": round(self.duration_s, 1),
            "changes": self.changes,
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "dead_lettered": self.dead_lettered,
            "failed": len(self.failed),
            "stale": len(self.stale),
            "bad_history": len(self.bad_history),
            "logisense_writes": self.writes,
            "notes": self.notes,
        }


def check(
    *,
    fault: str,
    duration_s: float,
    changes: int,
    database_url: str,
    logisense: Any,
    expected: dict[str, dict[str, Any]],
    invalid: set[str] = frozenset(),  # type: ignore[assignment]
    dead_lettered: int = 0,
    notes: str = "",
) -> Outcome:
    """Compare the run's history and LogiSense with ``expected`` (sfid → final LogiSense
    field values, for every valid account); ``invalid`` lists accounts the rules refuse."""
    outcome = Outcome(fault, duration_s, changes, dead_lettered=dead_lettered, notes=notes)
    _check_logisense(outcome, logisense, expected, invalid)
    _check_history(outcome, database_url, expected)
    return outcome


def _check_logisense(
    outcome: Outcome, logisense: Any, expected: dict[str, dict[str, Any]], invalid: set[str]
) -> None:
    # The documented shape keeps sfdcid among the extensions: the views flatten it.
    rows = [r for r in logisense.state.account_views() if r.get("sfdcid")]
    with logisense.stats.lock:
        journal = list(logisense.stats.writes)
    outcome.writes = len(journal)
    # Salesforce ids are case-sensitive: ...7a and ...7A are two records.
    held = Counter(r["sfdcid"] for r in rows)
    by_sfdcid = {r["sfdcid"]: r for r in rows}
    creates: Counter[str] = Counter()
    for write in journal:
        sfdcid = _sfdcid_of(write.get("body"))
        if sfdcid is None or write["status"] >= 400:
            continue
        if sfdcid in invalid:
            outcome.invalid_in_logisense.append(sfdcid)
        if write["method"] == "POST" and write["path"].rstrip("/").endswith("/Account"):
            creates[sfdcid] += 1
    for sfid, values in expected.items():
        key = sfid
        if held[key] == 0:
            outcome.lost.append(sfid)
            continue
        if held[key] > 1 or creates[key] > 1:
            outcome.duplicated.append(sfid)
        row = by_sfdcid[key]
        if any(row.get(name) != value for name, value in values.items()):
            outcome.stale.append(sfid)


def _check_history(outcome: Outcome, database_url: str, expected: dict[str, Any]) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        sessions = session_factory(engine)
        with sessions() as session:
            records = {r.id: r for r in session.scalars(select(SyncRecord))}
            moves: dict[int, list[Transition]] = defaultdict(list)
            for row in session.scalars(select(Transition).order_by(Transition.id)):
                if row.from_state != row.to_state:
                    moves[row.record_id].append(row)
    finally:
        engine.dispose()
    for record in records.values():
        if record.state == "failed" and record.sfid in expected:
            outcome.failed.append(record.sfid)
        history = moves.get(record.id, [])
        for move in history:
            if (move.from_state, move.to_state) not in ALLOWED:
                outcome.bad_history.append(f"{record.sfid}: {move.from_state}->{move.to_state}")
        for before, after in itertools.pairwise(history):
            if before.to_state != after.from_state:
                outcome.bad_history.append(f"{record.sfid}: moves do not chain at {after.id}")
        if history and history[-1].to_state != record.state:
            outcome.bad_history.append(f"{record.sfid}: state {record.state} not its history's")


def _sfdcid_of(body: Any) -> str | None:
    """The ``sfdcid`` a write's JSON body carries (at any depth: an extension, a contact point)."""
    stack = [body]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            found = value.get("sfdcid")
            if isinstance(found, str) and found:
                return found
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None
