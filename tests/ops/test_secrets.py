"""No secret leaks (SPEC §8, issue 6 acceptance 7): after a short end-to-end run with a known
password, expired tokens, LogiSense errors, a refused entity, a rule failure and dead letters,
neither the password nor any token LogiSense issued appears in the logs, the dead letters or
anywhere in the database."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from adapters.broker.publisher import open_publisher
from adapters.broker.topology import Topology
from billsync import logs
from billsync.bootstrap import worker_service
from billsync.config import load_settings
from simulators.logisense import LogiSenseSimulator
from tests.conftest import wait_until
from tests.core.helpers import Store
from tests.factories import account, account_id, contact, contact_id, update
from workers.ops import deadletters

PASSWORD = "Pw-Zebra-93fq1-Kettle"
CLIENT_ID = "client-Quartz-5521"
USERNAME = "billsync-ops"


@pytest.fixture
def issued_tokens() -> Iterator[tuple[LogiSenseSimulator, list[str]]]:
    """A simulator with distinctive credentials that remembers every token it issued."""
    sim = LogiSenseSimulator(username=USERNAME, password=PASSWORD, client_id=CLIENT_ID)
    tokens: list[str] = []
    issue = sim.tokens.issue

    def remembering(*args: Any, **kwargs: Any) -> Any:
        grant = issue(*args, **kwargs)
        tokens.extend([grant.access_token, grant.refresh_token])
        return grant

    sim.tokens.issue = remembering  # type: ignore[method-assign]
    with sim:
        yield sim, tokens


@pytest.fixture
def captured_logs(restore_logging: None) -> Iterator[io.StringIO]:
    """Where the configured (redacting, JSON) log handler writes during the test."""
    stream = io.StringIO()
    yield stream


def _bad_messages() -> list[bytes]:
    return [
        b"{not json",
        b'{"schema": "billsync.change/9", "id": "x"}',
        b'{"schema": "billsync.change/1", "id": "y", "object": "Account", "record_id": 5}',
    ]


def test_no_secret_in_logs_dead_letters_or_store(
    issued_tokens: tuple[LogiSenseSimulator, list[str]], captured_logs: io.StringIO, tmp_path: Path
) -> None:
    sim, tokens = issued_tokens
    prefix = f"t{uuid.uuid4().hex[:8]}"
    database = tmp_path / "store.db"
    settings = load_settings(
        broker_url=f"memory://{prefix}",
        database_url=f"sqlite:///{database}",
        queue_prefix=prefix,
        ls_base_url=sim.base_url,
        ls_username=USERNAME,
        ls_password=PASSWORD,
        ls_client_id=CLIENT_ID,
        worker_concurrency=4,
        sweep_interval_s=0.1,
        backoff_base_s=0.05,
        backoff_cap_s=0.2,
        retry_budget_s=5,
        log_format="json",
        log_level="DEBUG",
    )
    logs.configure(level="DEBUG", fmt="json", secrets=settings.secrets())
    logging.getLogger().handlers[0].setStream(captured_logs)  # type: ignore[attr-defined]
    logging.getLogger("billsync.ops-test").warning("login uses %s", PASSWORD)

    service = worker_service(settings)
    service.start()
    topology = Topology(prefix=prefix)
    try:
        assert service.consumer.ready.wait(15)
        _run_scenario(sim, settings.broker_url or "", topology, Store(settings.database_url))
        wait_until(
            lambda: deadletters.count_dead_letters(service.ctx.sessions) == 3,
            what="dead letters archived",
        )
    finally:
        service.stop(timeout=10)

    assert len(tokens) >= 4, "the run should have logged in again after the tokens expired"
    secrets = [PASSWORD, *tokens]
    log_text = captured_logs.getvalue()
    assert "[redacted]" in log_text and "dead-lettered" in log_text
    _assert_clean("logs", log_text, secrets)
    _assert_clean("dead letters", _dead_letter_text(service.ctx.sessions), secrets)
    _assert_clean("database", _database_text(settings.database_url), secrets)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("store.db*"))
    for secret in secrets:
        assert secret.encode() not in raw, "a secret is in the database files"


def _run_scenario(sim: LogiSenseSimulator, broker: str, topology: Topology, store: Store) -> None:
    from adapters.broker.publisher import publish_messages

    publish_messages(broker, topology, [account(1), contact(1, 1)])
    wait_until(lambda: store.settled([account_id(1), contact_id(1)]), what="first sync")
    sim.tokens.expire_all()
    sim.faults.error_rate = 0.5
    publish_messages(
        broker,
        topology,
        [
            account(2),
            account(3, LogiSense_Bill_Group__c="No Such Group"),
            account(4, Name="N" * 300),
            update("Account", account_id(1), Name="Renamed"),
        ],
    )
    publisher = open_publisher(broker, topology)
    for body in _bad_messages():
        publisher.publish(body, routing_key=topology.routing_key)
    publisher.close()
    ids = [account_id(n) for n in (1, 2, 3, 4)]
    wait_until(lambda: store.settled(ids), timeout=30, what="second sync settled")
    sim.faults.error_rate = 0.0
    states = store.states()
    assert states[account_id(3)] == "failed"
    assert states[account_id(4)] == "failed"
    assert any(h.trigger == "retry-scheduled" for i in ids for h in store.history(i))


def _dead_letter_text(sessions: Any) -> str:
    parts = []
    for view in deadletters.list_dead_letters(sessions, include_replayed=True):
        letter = deadletters.get_dead_letter(sessions, view.id)
        assert letter is not None
        parts += [
            repr(view),
            letter.reason,
            repr(letter.headers),
            letter.body.decode(errors="replace"),
        ]
    return "\n".join(parts)


def _database_text(url: str) -> str:
    """Every value of every column of every table, as text."""
    engine = create_engine(url)
    parts = []
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    parts.append(
                        value.decode(errors="replace") if isinstance(value, bytes) else str(value)
                    )
    engine.dispose()
    assert any("N" * 300 in p or "255" in p for p in parts), "the refusal should be stored"
    return "\n".join(parts)


def _assert_clean(where: str, haystack: str, secrets: list[str]) -> None:
    assert haystack, f"nothing was captured from the {where}"
    for secret in secrets:
        assert secret not in haystack, f"a secret appears in the {where}"
