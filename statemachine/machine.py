"""The sync state machine of SPEC §2, defined once as data and shared by every entity.

One ``transitions.Machine`` holds the table; entities are not registered with it (thousands of
them are normal): the moves it defines are read from it once into a lookup table. Anything the
table does not allow raises ``IllegalTransition``. No I/O happens here: persistence calls
``fire`` and writes the result.
"""

from __future__ import annotations

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

TRANSITIONS: tuple[dict[str, object], ...] = (
    {"trigger": "validate", "source": PENDING, "dest": VALIDATED},
    {"trigger": "reject", "source": PENDING, "dest": FAILED},
    {"trigger": "sync_account", "source": VALIDATED, "dest": ACCOUNT_SYNCED},
    {"trigger": "push", "source": ACCOUNT_SYNCED, "dest": PUSHED},
    {"trigger": "fail", "source": [VALIDATED, ACCOUNT_SYNCED], "dest": FAILED},
    {"trigger": "change", "source": [PUSHED, FAILED], "dest": PENDING},
    {"trigger": "retry", "source": FAILED, "dest": PENDING},
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
            transitions=[dict(t) for t in TRANSITIONS],
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
            return self._moves[(state, trigger)]
        except KeyError:
            raise IllegalTransition(f"cannot {trigger!r} from {state!r}") from None

    def fire(self, record: HasState, trigger: str) -> tuple[str, str]:
        """Move ``record`` by ``trigger``; returns (from, to)."""
        source = record.state
        record.state = self.next_state(source, trigger)
        return source, record.state

    def allowed(self, state: str, trigger: str) -> bool:
        """Whether ``trigger`` is legal from ``state``."""
        return bool(self._machine.get_transitions(trigger=trigger, source=state))


MACHINE = SyncMachine()
