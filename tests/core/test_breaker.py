"""Circuit breakers with an injected clock (milliseconds, no I/O): when calls stop, when one
probe goes through, what a refused login does."""

from __future__ import annotations

from typing import Any

import pytest

from billsync.errors import AuthenticationFailed, RemoteRejected, TransientError
from workers.sync.retries import CircuitBreaker, CircuitOpen, GuardedClient


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class System:
    """An outside system's client whose answer the test sets."""

    def __init__(self) -> None:
        self.calls = 0
        self.answer: Any = "ok"

    def read(self) -> Any:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def guarded(clock: Clock, **options: Any) -> tuple[GuardedClient, System, CircuitBreaker]:
    breaker = CircuitBreaker("logisense", clock=clock, **options)
    system = System()
    return GuardedClient(system, breaker), system, breaker


def test_opens_after_consecutive_failures_then_probes_and_closes() -> None:
    clock = Clock()
    client, system, breaker = guarded(clock, threshold=3, probe_s=2.0, probe_cap_s=8.0)
    back: list[str] = []
    breaker.on_close.append(back.append)
    system.answer = TransientError("503")
    for _ in range(3):
        with pytest.raises(TransientError):
            client.read()
    assert breaker.state == "open" and breaker.opened == 1
    with pytest.raises(CircuitOpen):
        client.read()
    assert system.calls == 3, "an open circuit makes no call"
    assert not breaker.may_claim()

    clock.now += 2.0
    assert breaker.may_claim() and not breaker.may_claim(), "one entity per probe interval"
    with pytest.raises(TransientError):
        client.read()  # the probe fails: the interval doubles
    assert system.calls == 4
    clock.now += 2.0
    with pytest.raises(CircuitOpen):
        client.read()
    clock.now += 2.0
    system.answer = "ok"
    assert client.read() == "ok"
    assert breaker.state == "closed" and back == ["logisense"]
    assert client.read() == "ok" and system.calls == 6


def test_a_refusal_of_the_request_means_the_system_is_up() -> None:
    clock = Clock()
    client, system, breaker = guarded(clock, threshold=2)
    system.answer = TransientError("timeout")
    with pytest.raises(TransientError):
        client.read()
    system.answer = RemoteRejected("bad field", status=400)
    with pytest.raises(RemoteRejected):
        client.read()
    system.answer = TransientError("timeout")
    with pytest.raises(TransientError):
        client.read()
    assert breaker.state == "closed", "failures must be consecutive"


def test_a_refused_login_stops_calls_with_one_login_per_interval() -> None:
    clock = Clock()
    client, system, breaker = guarded(clock, threshold=5, auth_probe_s=60.0)
    system.answer = AuthenticationFailed("LogiSense refused the login (401)")
    with pytest.raises(CircuitOpen):
        client.read()  # transient for the entity: it is retried, not failed
    assert breaker.state == "open" and breaker.auth_failures == 1
    for _ in range(100):
        with pytest.raises(CircuitOpen):
            client.read()
    assert system.calls == 1, "a hundred entities, one login attempt"
    clock.now += 60.0
    with pytest.raises(CircuitOpen):
        client.read()
    assert system.calls == 2 and breaker.auth_failures == 2
