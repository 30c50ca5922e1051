"""Liveness and readiness of a long-running process, served beside ``/metrics``.

``/healthz`` answers 200 while the process serves HTTP at all (a supervisor restarts it when it
does not). ``/readyz`` answers 200 only while every dependency the process needs right now is
reachable (the broker, the store and, for a worker, LogiSense) and 503 with the failing ones
otherwise, as JSON. Each probe opens a fresh, short connection (2 s timeout), so a broker that
went away is seen at the next probe, not after the worker's own reconnect back-off; results are
kept for ``PROBE_TTL_S`` so that a busy prober cannot load the dependencies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from billsync.logs import describe

PROBE_TIMEOUT_S = 2.0
PROBE_TTL_S = 1.0

#: A probe returns None when the dependency is reachable, else why not (one line).
Probe = Callable[[], str | None]


def broker_probe(url: str) -> Probe:
    """Open (and close) a connection to the broker at ``url``."""

    def probe() -> str | None:
        if not url.startswith(("amqp", "pyamqp")):
            return None
        from kombu import Connection

        try:
            with Connection(url, connect_timeout=PROBE_TIMEOUT_S) as connection:
                connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)
        except Exception as exc:
            return _scrubbed(describe(exc), url)
        return None

    return probe


def store_probe(sessions: Any) -> Probe:
    """Run ``SELECT 1`` on the store."""

    def probe() -> str | None:
        from adapters.store.connect import ping, root_cause

        try:
            with sessions() as session:
                ping(session)
        except Exception as exc:
            return root_cause(exc)
        return None

    return probe


def http_probe(base_url: str | None) -> Probe:
    """Any HTTP answer from ``base_url`` (even a 404) means the server is reachable."""

    def probe() -> str | None:
        if not base_url:
            return "not configured"
        import requests

        from adapters.http_failures import why

        try:
            with requests.Session() as session:
                session.trust_env = False
                session.get(base_url, timeout=PROBE_TIMEOUT_S, allow_redirects=False)
        except requests.RequestException as exc:
            return why(exc)
        return None

    return probe


@dataclass
class Readiness:
    """Named probes, run at most every ``ttl_s`` seconds."""

    probes: dict[str, Probe] = field(default_factory=dict)
    ttl_s: float = PROBE_TTL_S
    _at: float = -1e18
    _last: dict[str, str | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self) -> dict[str, str | None]:
        """Each probe's failure (None: reachable)."""
        with self._lock:
            if time.monotonic() - self._at >= self.ttl_s:
                self._last = {name: probe() for name, probe in self.probes.items()}
                self._at = time.monotonic()
            return dict(self._last)


def _scrubbed(text: str, url: str) -> str:
    from adapters.broker.urls import redact

    password = _password(url)
    text = text.replace(url, redact(url))
    return text.replace(password, "***") if password else text


def _password(url: str) -> str | None:
    if "://" not in url or "@" not in url:
        return None
    credentials = url.split("://", 1)[1].split("@", 1)[0]
    return credentials.split(":", 1)[1] if ":" in credentials else None
