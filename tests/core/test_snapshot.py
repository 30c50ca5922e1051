"""Snapshot merging: newest (commit timestamp, replay id, sequence) wins, whatever the order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from statemachine.snapshot import Snapshot

changes = st.lists(
    st.tuples(
        st.dictionaries(
            st.sampled_from(["Name", "Phone", "LogiSense_Sync__c"]),
            st.one_of(st.text(max_size=3), st.booleans(), st.none()),
            min_size=1,
        ),
        st.tuples(st.integers(0, 5), st.integers(0, 3), st.integers(0, 2)),
    ),
    max_size=12,
    unique_by=lambda c: c[1],
)


@settings(deadline=None)
@given(changes, st.randoms())
def test_merge_is_order_independent_and_idempotent(batch: list, rng: object) -> None:
    in_order = Snapshot()
    for fields, stamp in sorted(batch, key=lambda c: c[1]):
        in_order.merge(fields, stamp)
    shuffled = list(batch) + list(batch)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    other = Snapshot()
    for fields, stamp in shuffled:
        other.merge(fields, stamp)
    assert other.values == in_order.values


def test_same_millisecond_transactions_are_ordered_by_replay_id() -> None:
    snapshot = Snapshot()
    snapshot.merge({"LogiSense_Sync__c": True}, (1000, 8, 1))
    snapshot.merge({"LogiSense_Sync__c": False}, (1000, 5, 1))
    assert snapshot.values["LogiSense_Sync__c"] is True
    assert snapshot.merge({"LogiSense_Sync__c": True}, (1000, 8, 1)) == set()
