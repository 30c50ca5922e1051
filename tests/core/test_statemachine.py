"""The transition table of SPEC §2: exactly these moves, anything else raises."""

from __future__ import annotations

import itertools

import pytest

from statemachine.machine import MACHINE, STATES, TRIGGERS, IllegalTransition

SPEC_MOVES = {
    ("pending", "validate"): "validated",
    ("pending", "reject"): "failed",
    ("validated", "sync_account"): "account-synced",
    ("account-synced", "push"): "pushed",
    ("validated", "fail"): "failed",
    ("account-synced", "fail"): "failed",
    ("pushed", "change"): "pending",
    ("failed", "change"): "pending",
    ("failed", "retry"): "pending",
}


@pytest.mark.parametrize(("state", "trigger"), list(itertools.product(STATES, TRIGGERS)))
def test_every_move_is_the_specified_one_or_raises(state: str, trigger: str) -> None:
    expected = SPEC_MOVES.get((state, trigger))
    if expected is None:
        with pytest.raises(IllegalTransition):
            MACHINE.next_state(state, trigger)
        assert not MACHINE.allowed(state, trigger)
    else:
        assert MACHINE.next_state(state, trigger) == expected
        assert MACHINE.allowed(state, trigger)


def test_fire_moves_a_record_and_reports_both_ends() -> None:
    class Record:
        state = "pending"

    record = Record()
    assert MACHINE.fire(record, "validate") == ("pending", "validated")
    assert record.state == "validated"
    with pytest.raises(IllegalTransition):
        MACHINE.fire(record, "push")
    assert record.state == "validated"


def test_unknown_state_raises() -> None:
    with pytest.raises(IllegalTransition):
        MACHINE.next_state("archived", "validate")
