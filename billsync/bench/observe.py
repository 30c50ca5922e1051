"""Reading a rig's store: how many entities are where, and when they were pushed.

The transition history (SPEC §2) stamps every move with the worker's wall clock, written in the
same transaction as the state; the benchmark times pushes from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from adapters.store import figures
from billsync.bench.harness import Rig

SETTLED_STATES = ("pushed", "failed")
Progress = Callable[[str], None]


class NotSettled(RuntimeError):
    """The entities did not all reach ``pushed`` or ``failed`` in time."""


def state_counts(rig: Rig, object_name: str = "Account") -> dict[str, int]:
    """Entities of ``object_name`` per state."""
    return rig.read(lambda session: figures.states_of(session, object_name))


def settled_count(rig: Rig, sfids: set[str] | None = None) -> int:
    """Accounts in ``pushed`` or ``failed`` with no work left (of ``sfids`` if given)."""
    found = rig.read(figures.settled_sfids)
    return len(found & sfids) if sfids is not None else len(found)


def pushed_count_since(rig: Rig, since: float) -> int:
    """Accounts whose latest push happened after ``since`` (epoch seconds)."""
    return rig.read(lambda session: figures.pushed_since(session, since))


def first_push_after(rig: Rig, since: float) -> dict[str, float]:
    """Per account sfid, the time of its first push at or after ``since``."""
    return rig.read(lambda session: figures.first_push_after(session, since))


def last_push_time(rig: Rig, since: float) -> float | None:
    """When the last push since ``since`` happened."""
    return rig.read(lambda session: figures.last_push_at(session, since))


def wait_until(
    check: Callable[[], int],
    goal: int,
    *,
    timeout_s: float,
    what: str,
    progress: Progress | None = None,
    interval_s: float = 0.25,
) -> None:
    """Poll ``check`` until it reaches ``goal``; NotSettled after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last_note = 0.0
    while True:
        done = check()
        if done >= goal:
            return
        if time.monotonic() > deadline:
            raise NotSettled(f"{what}: {done} of {goal} after {timeout_s:.0f} s")
        if progress is not None and time.monotonic() - last_note > 2.0:
            progress(f"{what}: {done:,} of {goal:,}")
            last_note = time.monotonic()
        time.sleep(interval_s)
