"""The Bayeux long-poll client against the simulator's CometD endpoint, faults included."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adapters.salesforce.auth import SalesforceAuth
from adapters.salesforce.streaming import (
    StreamEvent,
    StreamingClient,
    backoff_delay,
    is_invalid_replay,
    read_timeout,
)

pytestmark = pytest.mark.timeout(60)

ACCOUNTS = "/data/AccountChangeEvent"


class Listener:
    """Runs ``events()`` on a thread, as the ingest worker would, collecting every event.

    Unless told otherwise it resumes from the last replay id it received on a channel (as if each
    event were stored at once), which is what the ingest worker does with its stored ids.
    """

    def __init__(
        self,
        admin: Any,
        *,
        replay_from: Callable[[str], int] | None = None,
        on_invalid_replay: Callable[[str], int] | None = None,
    ) -> None:
        self.events: list[StreamEvent] = []
        self.last: dict[str, int] = {}
        self.cond = threading.Condition()
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.auth = SalesforceAuth(
            admin.base_url,
            client_id=admin.client_id,
            client_secret=admin.client_secret,
            ca_bundle=admin.sim.ca_file,
        )
        self.client = StreamingClient(
            self.auth,
            [ACCOUNTS],
            replay_from=replay_from or (lambda channel: self.last.get(channel, -1)),
            on_invalid_replay=on_invalid_replay,
            backoff_cap_s=1.0,
        )
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            for batch in self.client.events(self.stop):
                with self.cond:
                    self.events.extend(batch)
                    for event in batch:
                        self.last[event.channel] = event.replay_id
                    self.cond.notify_all()
        except BaseException as exc:
            self.error = exc

    def start(self) -> Listener:
        self.thread.start()
        deadline = time.monotonic() + 5
        while self.client.subscriptions == 0 and time.monotonic() < deadline:
            assert self.error is None, self.error
            time.sleep(0.01)
        assert self.client.subscriptions > 0, "never subscribed"
        return self

    def names(self) -> list[str]:
        with self.cond:
            return [str(e.payload.get("Name")) for e in self.events]

    def wait_for_names(self, names: set[str], timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(
                lambda: names <= {e.payload.get("Name") for e in self.events}, timeout
            )

    def close(self) -> None:
        """Stop from the test's thread, as a shutting-down ingest process would."""
        self.stop.set()
        self.client.close()
        self.thread.join(timeout=8)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


@pytest.fixture
def sf_listen(sf_admin: Any) -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def listen(**options: Any) -> Listener:
        listener = Listener(sf_admin, **options).start()
        made.append(listener)
        return listener

    yield listen
    for listener in made:
        if listener.thread.is_alive():
            listener.close()


def test_receives_a_rest_write_within_one_second(
    sf_admin: Any, sf_listen: Callable[..., Listener]
) -> None:
    listener = sf_listen()
    started = time.time()
    account_id = sf_admin.create_account("Acme Fast")
    assert listener.wait_for_names({"Acme Fast"}, timeout=1.0)
    event = listener.events[0]
    assert event.received_at - started < 1.0
    assert event.channel == ACCOUNTS
    header = event.payload["ChangeEventHeader"]
    assert header["changeType"] == "CREATE" and header["recordIds"] == [account_id]
    listener.close()


def test_resumes_from_a_stored_replay_id_with_exactly_the_later_events(
    sf_admin: Any, sf_listen: Callable[..., Listener]
) -> None:
    for name in ("A1", "A2", "A3"):
        sf_admin.create_account(name)
    first = sf_listen(replay_from=lambda channel: -2)
    assert first.wait_for_names({"A1", "A2", "A3"}, timeout=3)
    stored = next(e.replay_id for e in first.events if e.payload["Name"] == "A2")
    first.close()
    for name in ("A4", "A5"):
        sf_admin.create_account(name)
    second = sf_listen(replay_from=lambda channel: stored)
    assert second.wait_for_names({"A3", "A4", "A5"}, timeout=3)
    time.sleep(0.3)
    assert second.names() == ["A3", "A4", "A5"]
    ids = [e.replay_id for e in second.events]
    assert ids == sorted(ids) and ids[0] > stored
    second.close()


def test_invalid_replay_id_asks_the_caller_then_subscribes_again(
    sf_admin: Any, sf_listen: Callable[..., Listener]
) -> None:
    asked: list[str] = []

    def reconcile(channel: str) -> int:
        asked.append(channel)
        return -1

    listener = sf_listen(replay_from=lambda channel: 987_654_321, on_invalid_replay=reconcile)
    assert asked == [ACCOUNTS]
    sf_admin.create_account("After Reconcile")
    assert listener.wait_for_names({"After Reconcile"}, timeout=2)
    listener.close()


def test_a_replay_id_past_retention_is_treated_as_invalid(
    sf_admin: Any, sf_listen: Callable[..., Listener]
) -> None:
    sf_admin.create_account("Old")
    first = sf_listen(replay_from=lambda channel: -2)
    assert first.wait_for_names({"Old"}, timeout=2)
    stored = first.events[0].replay_id
    first.close()
    sf_admin.admin("cdc/age", {"hours": 73})
    asked: list[str] = []
    second = sf_listen(
        replay_from=lambda channel: stored,
        on_invalid_replay=lambda channel: asked.append(channel) or -1,
    )
    assert asked == [ACCOUNTS]
    second.close()


def test_gap_events_pass_through_with_their_header(
    sf_admin: Any, sf_listen: Callable[..., Listener]
) -> None:
    account_id = sf_admin.create_account("Gappy")
    listener = sf_listen()
    sf_admin.admin("cdc/gap", {"object": "Account", "ids": [account_id]})
    sf_admin.admin("cdc/overflow", {"object": "Account"})
    with listener.cond:
        assert listener.cond.wait_for(lambda: len(listener.events) >= 2, 2)
    headers = [e.payload["ChangeEventHeader"] for e in listener.events]
    assert headers[0]["changeType"] == "GAP_UPDATE" and headers[0]["recordIds"] == [account_id]
    assert headers[1]["changeType"] == "GAP_OVERFLOW"
    listener.close()


def test_forgotten_client_handshakes_again_and_keeps_receiving(
    sf_admin: Any, sf_listen: Callable[..., Listener]
) -> None:
    listener = sf_listen()
    sf_admin.create_account("Before Forget")
    assert listener.wait_for_names({"Before Forget"}, timeout=2)
    sf_admin.admin("forget-clients", {})
    sf_admin.create_account("After Forget")
    assert listener.wait_for_names({"After Forget"}, timeout=6)
    assert listener.client.handshakes >= 2
    assert listener.names().count("After Forget") >= 1
    listener.close()


def test_expired_token_logs_in_again_and_keeps_receiving(
    sf_admin: Any, sf_listen: Callable[..., Listener]
) -> None:
    sf_admin.faults(token_ttl_s=1.0)
    listener = sf_listen()
    sf_admin.create_account("T1")
    assert listener.wait_for_names({"T1"}, timeout=2)
    time.sleep(2.5)
    sf_admin.create_account("T2")
    assert listener.wait_for_names({"T2"}, timeout=6)
    assert listener.client.relogins >= 1
    assert listener.auth.logins >= 2
    listener.close()


def test_dropped_long_polls_recover_without_loss(
    sf_admin: Any, sf_listen: Callable[..., Listener]
) -> None:
    listener = sf_listen()
    sf_admin.faults(drop_longpoll_rate=0.5)
    names = {f"Drop {n}" for n in range(6)}
    for name in sorted(names):
        sf_admin.create_account(name)
        time.sleep(0.3)
    assert listener.wait_for_names(names, timeout=10)
    sf_admin.faults(drop_longpoll_rate=0.0)
    listener.close()


def test_close_from_another_thread_ends_a_held_long_poll_at_once(
    sf_admin: Any, sf_listen: Callable[..., Listener]
) -> None:
    listener = sf_listen()
    time.sleep(0.3)  # the client now holds a 2-second /meta/connect
    started = time.monotonic()
    listener.close()
    assert time.monotonic() - started < 1.0


def test_stop_alone_ends_the_loop_within_one_long_poll(
    sf_admin: Any, sf_listen: Callable[..., Listener]
) -> None:
    listener = sf_listen()
    started = time.monotonic()
    listener.stop.set()
    listener.thread.join(timeout=8)
    assert not listener.thread.is_alive()
    assert time.monotonic() - started < 4.5
    listener.close()


def test_backoff_is_capped_and_jittered() -> None:
    delays = [backoff_delay(n, base=0.25, cap=5.0) for n in range(1, 40)]
    assert all(0 <= d <= 5.0 for d in delays)
    assert len(set(delays)) > 1
    assert backoff_delay(1, base=0.25, cap=5.0) <= 0.25


def test_read_timeout_is_a_little_above_the_advice() -> None:
    assert 110 < read_timeout(110_000) <= 120
    assert 2 < read_timeout(2_000) <= 4.5


def test_invalid_replay_errors_are_recognised() -> None:
    assert is_invalid_replay(
        "400::The replayId {123} you provided was invalid.  Please provide a valid ID, -2 to "
        "replay all events, or -1 to replay only new events."
    )
    assert not is_invalid_replay("403::Unknown client")
