"""The sync state machine of SPEC §2, defined once as data and shared by every entity.

One ``transitions.Machine`` holds the table; entities are not registered with it (thousands of
them are normal): the moves it defines are read from it once into a lookup table. Anything the
table does not allow raises ``IllegalTransition``. No I/O happens here: persistence calls
``fire`` and writes the result.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from transitions import Machine

PENDING = "pending"
VALIDATED = "validated"
ACCOUNT_SYNCED = "account-synced"
PUSHED = "pushed"
FAILED = "failed"

STATES = (PENDING, VALIDATED, ACCOUNT_SYNCED, PUSHED, FAILED)
#: States in which an entity still has work to do.
ACTIVE_STATES = (PENDING, VALIDATED, ACCOUNT_SYNCED)


class Trigger(StrEnum):
    """Every name a history row can carry: the moves of the table, then the events that leave
    the state as it is (their rows say what happened without moving the entity)."""

    VALIDATE = "validate"
    REJECT = "reject"
    SYNC_ACCOUNT = "sync_account"
    PUSH = "push"
    FAIL = "fail"
    CHANGE = "change"
    RETRY = "retry"
    # Events that keep the state:
    RETRY_SCHEDULED = "retry-scheduled"
    QUOTA_WAIT = "quota-wait"
    WAIT = "wait"
    RECEIVED = "received"
    DELETED = "deleted"
    UNDELETED = "undeleted"
    SCOPE = "scope"
    PUSH_REQUESTED = "push-requested"
    DRIFT = "drift"


TRANSITIONS: tuple[dict[str, object], ...] = (
    {"trigger": Trigger.VALIDATE, "source": PENDING, "dest": VALIDATED},
    {"trigger": Trigger.REJECT, "source": PENDING, "dest": FAILED},
    {"trigger": Trigger.SYNC_ACCOUNT, "source": VALIDATED, "dest": ACCOUNT_SYNCED},
    {"trigger": Trigger.PUSH, "source": ACCOUNT_SYNCED, "dest": PUSHED},
    {"trigger": Trigger.FAIL, "source": [VALIDATED, ACCOUNT_SYNCED], "dest": FAILED},
    {"trigger": Trigger.CHANGE, "source": [PUSHED, FAILED], "dest": PENDING},
    {"trigger": Trigger.RETRY, "source": FAILED, "dest": PENDING},
)
TRIGGERS = tuple(sorted({str(t["trigger"]) for t in TRANSITIONS}))


class IllegalTransition(Exception):
    """A transition the table does not allow: a programming error, never a data problem."""


class HasState(Protocol):
    """Anything with a ``state`` attribute (a sync record, or a plain object in tests)."""

    state: str


class SyncMachine:
    """The one machine of the transition table; thread-safe (read-only after construction)."""

    def __init__(self) -> None:
        self._machine = Machine(
            model=None,
            states=list(STATES),
            transitions=[{**t, "trigger": str(t["trigger"])} for t in TRANSITIONS],
            initial=None,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )
        # The machine is the definition; moving a record is a lookup in the table it defines,
        # so thousands of records need no model registration and no lock.
        self._moves: dict[tuple[str, str], str] = {
            (source, trigger): str(transitions[0].dest)
            for trigger, event in self._machine.events.items()
            for source, transitions in event.transitions.items()
            if transitions
        }

    def next_state(self, state: str, trigger: str) -> str:
        """The state ``trigger`` leads to from ``state``; raises IllegalTransition if none."""
        if state not in STATES:
            raise IllegalTransition(f"unknown state {state!r}")
        try:
            return self._moves[(state, str(trigger))]
        except KeyError:
            raise IllegalTransition(f"cannot {trigger!r} from {state!r}") from None

    def fire(self, record: HasState, trigger: str) -> tuple[str, str]:
        """Move ``record`` by ``trigger``; returns (from, to)."""
        source = record.state
        record.state = self.next_state(source, trigger)
        return source, record.state

    def allowed(self, state: str, trigger: str) -> bool:
        """Whether ``trigger`` is legal from ``state``."""
        return bool(self._machine.get_transitions(trigger=str(trigger), source=state))


MACHINE = SyncMachine()
