"""The outcome checker can fail: a duplicate create, a lost account, a stale one, a move the state
machine forbids and a failed valid entity are each reported."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from adapters.store.db import make_engine, migrate, session_factory
from adapters.store.models import SyncRecord, Transition
from tests.reliability.checker import check


def _logisense(rows: list[dict[str, Any]], writes: list[dict[str, Any]]) -> Any:
    """What the checker reads of the LogiSense simulator: its flattened account views and its
    write journal."""
    return SimpleNamespace(
        state=SimpleNamespace(account_views=lambda: [dict(r) for r in rows]),
        stats=SimpleNamespace(lock=threading.Lock(), writes=writes),
    )


def test_the_checker_reports_every_kind_of_problem(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    migrate(url)
    sessions = session_factory(make_engine(url, pool_size=1))
    with sessions.begin() as session:
        for sfid, state in (("A1", "pushed"), ("A2", "failed"), ("A3", "pushed")):
            session.add(SyncRecord(object="Account", sfid=sfid, state=state, values={}, stamps={}))
        session.flush()
        records = {r.sfid: r.id for r in session.query(SyncRecord)}
        session.add(
            Transition(
                record_id=records["A3"],
                from_state="pending",
                to_state="pushed",
                trigger="push",
                at=1.0,
                worker="w",
            )
        )
    create = {"method": "POST", "path": "/ResourceServer/api/v7/Account", "status": 201}
    logisense = _logisense(
        rows=[
            {"sfdcid": "A1", "name": "Account 1"},
            {"sfdcid": "A3", "name": "Old name"},
        ],
        writes=[
            {**create, "body": {"sfdcid": "A1"}},
            {**create, "body": {"sfdcid": "A1"}, "response_lost": True},
            {**create, "body": [{"sfdcid": "BAD"}]},
        ],
    )
    outcome = check(
        fault="test",
        duration_s=1,
        changes=3,
        database_url=url,
        logisense=logisense,
        expected={
            "A1": {"name": "Account 1"},
            "A2": {"name": "Account 2"},
            "A3": {"name": "Account 3"},
        },
        invalid={"BAD"},
    )
    assert outcome.duplicated == ["A1"]
    assert outcome.lost == ["A2"]
    assert outcome.stale == ["A3"]
    assert outcome.failed == ["A2"]
    assert outcome.invalid_in_logisense == ["BAD"]  # ids are case-sensitive, kept as they are
    assert outcome.bad_history == ["A3: pending->pushed"]
    assert not outcome.clean
