"""Malformed and hostile messages are dead-lettered with their reason while good ones flow
(issue 6 acceptance 3 and 5), on both backends; the hostile corpus of issue 12 (compression
bombs, deep nesting, NaN, ids with a trailing newline or too long, foreign content types and
encodings) never reaches a decoder, never crashes the worker, and costs under 50 MB of RSS."""

from __future__ import annotations

import bz2
import json
import os
import time
from typing import Any

import kombu
import pytest
from sqlalchemy import text

from adapters.broker.topology import Topology
from billsync.bootstrap import open_store
from billsync.messages import is_salesforce_id
from tests.conftest import settings_for, wait_until
from tests.core.helpers import Store, ls_accounts
from tests.factories import account, account_id
from tests.reliability.checker import check
from tests.reliability.report import record
from workers.ops import deadletters


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


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _hostile(good: dict[str, Any]) -> list[tuple[str, bytes, dict[str, Any], str]]:
    """(name, body, publish options, fragment of the reason) for each hostile case."""
    plain = {"content_type": "application/json", "content_encoding": "binary"}
    bomb = bz2.compress(b"\0" * (100 * 1024 * 1024), 9)  # 113 bytes that expand to 100 MB
    newline_id = json.dumps({**good, "record_id": good["record_id"] + "\n"}).encode()
    return [
        ("bz2 bomb", bomb, {**plain, "headers": {"compression": "application/x-bz2"}}, "compress"),
        (
            "gzip header",
            json.dumps(good).encode(),
            {**plain, "headers": {"compression": "application/x-gzip"}},
            "compress",
        ),
        (
            "pickle",
            b"\x80\x04K\x01.",
            {"content_type": "application/x-python-serialize", "content_encoding": "binary"},
            "content type",
        ),
        (
            "foreign encoding",
            json.dumps(good).encode("utf-16"),
            {"content_type": "application/json", "content_encoding": "utf-16"},
            "content encoding",
        ),
        ("deep nesting", b"[" * 100_000 + b"]" * 100_000, plain, "nests"),
        ("NaN", json.dumps({**good, "fields": {"Name": float("nan")}}).encode(), plain, "NaN"),
        (
            "Infinity in a number field",
            json.dumps({**good, "fields": {"AnnualRevenue": float("inf")}}).encode(),
            plain,
            "Infinity",
        ),
        ("record id with a newline", newline_id, plain, "record_id"),
        (
            "id field too long",
            json.dumps(
                {**good, "fields": {**good["fields"], "ParentId": "001" + "A" * 30}}
            ).encode(),
            plain,
            "ParentId must be a 15- or 18-character Salesforce id",
        ),
        (
            "id field with a newline",
            json.dumps(
                {**good, "fields": {**good["fields"], "ParentId": good["record_id"] + "\n"}}
            ).encode(),
            plain,
            "ParentId must be",
        ),
        (
            "NUL in a value",
            json.dumps({**good, "fields": {"Name": "a\u0000b"}}).encode(),
            plain,
            "NUL",
        ),
        (
            "lone surrogate",
            b'{"schema": "billsync.change/1", "id": "x", "object": "Account", "record_id": "'
            + good["record_id"].encode()
            + b'", "change_type": "UPDATE", "commit_timestamp": 1, "fields": {"Name": "\\ud800"}}',
            plain,
            "unicode string",
        ),
        (
            "huge integer",
            json.dumps({**good, "sequence": 10**40}).encode(),
            plain,
            "sequence",
        ),
        (
            "integer with 5,000 digits",
            b'{"schema": "billsync.change/1", "sequence": ' + b"9" * 5000 + b"}",
            plain,
            "not valid JSON",
        ),
    ]


def test_hostile_messages_are_refused_with_their_reason(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    """Every hostile case is dead-lettered within seconds with its true reason, visible in
    ``billsync dlq list``; the worker keeps running, its RSS grows less than 50 MB, and the
    valid messages around them are pushed."""
    logisense.faults.update({"record_writes": True})
    service = run_worker()
    started = time.monotonic()
    topology = Topology(prefix=backend.prefix)
    good = json.loads(account(1).model_dump_json(by_alias=True))
    cases = _hostile(good)
    rss_before = _rss_mb()
    publish([account(n) for n in range(1, 4)])
    with kombu.Connection(backend.broker_url) as connection:
        producer = connection.Producer()
        for _name, body, options, _fragment in cases:
            producer.publish(
                body,
                exchange=topology.exchange(),
                routing_key="change",
                declare=[topology.work_queue()],
                **options,
            )
        if backend.name != "embedded":
            import amqp

            channel = connection.connection.channel()
            channel.basic_publish(
                amqp.Message(json.dumps(good).encode(), content_type=b"\xff\xfeapplication"),
                exchange=topology.exchange_name,
                routing_key="change",
            )
            cases.append(("non-UTF-8 content type", b"", {}, "content type"))
    publish([account(n) for n in range(4, 7)])
    store = Store(backend.database_url)
    wait_until(lambda: store.settled([account_id(n) for n in range(1, 7)]), what="good pushed")
    sessions = open_store(settings_for(backend, logisense), pool_size=2)
    letters = wait_until(
        lambda: (lambda found: found if len(found) >= len(cases) else None)(
            deadletters.list_dead_letters(sessions, limit=100)
        ),
        timeout=30,
        what="every hostile message dead-lettered",
    )
    assert len(letters) == len(cases)
    reasons = [letter.reason for letter in letters]
    for name, _body, _options, fragment in cases:
        assert any(fragment in reason for reason in reasons), (name, fragment, reasons)
    assert not any("crashed" in reason for reason in reasons)
    growth = _rss_mb() - rss_before
    outcome = check(
        fault=f"hostile corpus, {len(cases)} cases ({backend.name})",
        duration_s=time.monotonic() - started,
        changes=6 + len(cases),
        database_url=backend.database_url,
        logisense=logisense,
        expected={account_id(n): {"name": f"Account {n}"} for n in range(1, 7)},
        dead_lettered=len(letters),
        notes=f"every case dead-lettered with its reason; worker RSS +{growth:.0f} MB",
    )
    record(outcome)
    assert outcome.clean, outcome.row()
    assert growth < 50, f"RSS grew {growth:.0f} MB"
    assert all(thread.is_alive() for thread in service._threads)
    assert service.consumer.link.reconnects == 0
    assert set(ls_accounts(logisense)) == {account_id(n) for n in range(1, 7)}


def test_a_message_the_store_refuses_is_dead_lettered_alone(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    """A store refusal (here a constraint the store enforces on one record) dead-letters that one
    message with the store's reason; the rest of its batch is merged and pushed."""
    run_worker(prefetch=50)
    poison = account_id(7)
    store = Store(backend.database_url)
    with store.sessions.begin() as session:
        if backend.name == "embedded":
            session.execute(
                text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON sync_record "
                    f"WHEN NEW.sfid = '{poison}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        else:
            session.execute(
                text(
                    "ALTER TABLE sync_record ADD CONSTRAINT refuse_poison "
                    f"CHECK (sfid <> '{poison}')"
                )
            )
    publish([account(n) for n in range(1, 13)])
    others = [account_id(n) for n in range(1, 13) if n != 7]
    wait_until(lambda: store.settled(others), what="the rest pushed")
    sessions = open_store(settings_for(backend, logisense), pool_size=2)
    letters = wait_until(lambda: deadletters.list_dead_letters(sessions), what="dead letter")
    assert len(letters) == 1
    assert "the store refused this message's data" in letters[0].reason
    assert "refuse" in letters[0].reason.split("data", 1)[1]  # the store's own words
    assert set(ls_accounts(logisense)) == set(others)
    assert poison not in store.states()


@pytest.mark.parametrize(
    "value", ["001000000000001AAA\n", "001000000000001AAA'", "001000000000001AAAX", ""]
)
def test_ids_are_matched_whole(value: str) -> None:
    """``is_salesforce_id`` matches the whole string: a trailing newline is not an id."""
    assert not is_salesforce_id(value)
    assert is_salesforce_id("001000000000001AAA")
