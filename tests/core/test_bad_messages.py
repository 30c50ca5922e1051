"""Malformed and hostile messages are dead-lettered with their reason while good ones flow
(issue 6 acceptance 3 and 5), on both backends."""

from __future__ import annotations

import json
from typing import Any

import kombu

from adapters.broker.topology import Topology
from billsync.bootstrap import open_store
from tests.conftest import settings_for, wait_until
from tests.core.helpers import Store, ls_accounts
from tests.factories import account, account_id
from workers import deadletters


def _bad_bodies() -> list[bytes]:
    good = json.loads(account(1).model_dump_json(by_alias=True))
    variants: list[bytes] = [b"{not json", b"\xff\xfe\x00", b"[]", b'"just a string"']
    variants.append(json.dumps({**good, "schema": "billsync.change/9"}).encode())
    variants.append(json.dumps({**good, "commit_timestamp": "yesterday"}).encode())
    variants.append(json.dumps({**good, "object": "User"}).encode())
    variants.append(json.dumps({**good, "record_id": "001' OR Id != '"}).encode())
    variants.append(json.dumps({**good, "fields": {"Name; DROP TABLE": 1}}).encode())
    variants.append(json.dumps({**good, "fields": {"Name": "x" * (5 * 1024 * 1024)}}).encode())
    return variants


def test_bad_messages_are_dead_lettered_and_good_ones_flow(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    run_worker()
    topology = Topology(prefix=backend.prefix)
    bad = _bad_bodies()
    with kombu.Connection(
        backend.broker_url, transport_options={"confirm_publish": True}
    ) as connection:
        producer = connection.Producer()
        for body in bad:
            producer.publish(
                body,
                exchange=topology.exchange(),
                routing_key="change",
                content_type="application/json",
                content_encoding="binary",
                declare=[topology.work_queue()],
            )
    publish([account(n) for n in range(1, 6)])
    store = Store(backend.database_url)
    wait_until(lambda: store.settled([account_id(n) for n in range(1, 6)]), what="good pushed")
    sessions = open_store(settings_for(backend, logisense), pool_size=2)
    letters = wait_until(
        lambda: (lambda found: found if len(found) >= len(bad) else None)(
            deadletters.list_dead_letters(sessions, limit=100)
        ),
        what="every bad message dead-lettered",
    )
    assert len(letters) == len(bad)
    assert all(letter.reason for letter in letters)
    reasons = " | ".join(letter.reason for letter in letters)
    for fragment in (
        "not valid UTF-8 JSON",
        "unknown schema",
        "commit_timestamp",
        "object",
        "record_id",
        "over the",
        "expected a JSON object",
    ):
        assert fragment in reasons
    assert set(ls_accounts(logisense)) == {account_id(n) for n in range(1, 6)}


def test_replay_reprocesses_dead_letters(backend: Any, logisense: Any, run_worker: Any) -> None:
    run_worker()
    topology = Topology(prefix=backend.prefix)
    message = json.loads(account(9).model_dump_json(by_alias=True))
    message["schema"] = "billsync.change/0"
    with kombu.Connection(backend.broker_url) as connection:
        connection.Producer().publish(
            json.dumps(message).encode(),
            exchange=topology.exchange(),
            routing_key="change",
            content_encoding="binary",
            content_type="application/json",
            declare=[topology.work_queue()],
        )
    sessions = open_store(settings_for(backend, logisense), pool_size=2)
    letters = wait_until(lambda: deadletters.list_dead_letters(sessions), what="dead letter")
    with sessions.begin() as session:
        stored = session.get(deadletters.DeadLetter, letters[0].id)
        assert stored is not None
        fixed = json.loads(stored.body)
        fixed["schema"] = "billsync.change/1"
        stored.body = json.dumps(fixed).encode()
    assert deadletters.replay(sessions, backend.broker_url, topology, None) == 1
    store = Store(backend.database_url)
    wait_until(lambda: store.states().get(account_id(9)) == "pushed", what="replayed pushed")
    assert deadletters.list_dead_letters(sessions) == []
