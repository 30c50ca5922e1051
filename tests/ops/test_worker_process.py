"""A real ``billsync worker`` process, as a deployment runs it: with
``BILLSYNC_LOG_FORMAT=json`` every line it logs is a JSON object; ``/healthz`` and ``/readyz``
answer on its metrics port; and when its broker goes away (a TCP proxy in front of the shared
RabbitMQ is stopped) ``/readyz`` turns 503 within 5 s, the log says ``connection.lost`` once
with the cause, and both come back within 5 s of the broker's return."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import _delete_queues, logisense_env
from tests.ops.tcp_proxy import TcpProxy
from tests.ops.tools import assert_clean_metrics

READY_WITHIN_S = 5.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status(port: int, path: str) -> int | None:
    try:
        return requests.get(f"http://127.0.0.1:{port}{path}", timeout=3).status_code
    except requests.RequestException:
        return None


def _within(seconds: float, predicate: Callable[[], bool]) -> float | None:
    """Seconds until ``predicate`` held, or None if it did not within ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    return None


@pytest.fixture
def proxied_rabbitmq(rabbitmq_url: str) -> Any:
    """The shared RabbitMQ behind a proxy this test may stop, and a unique queue prefix."""
    parts = urlsplit(rabbitmq_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5672))
    proxy.start()
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    url = parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host).geturl()
    prefix = f"t{uuid.uuid4().hex[:8]}"
    yield proxy, url, prefix
    proxy.stop()
    _delete_queues(rabbitmq_url, prefix)


def test_worker_logs_json_and_readyz_follows_the_broker(
    proxied_rabbitmq: Any, logisense: Any, tmp_path: Path
) -> None:
    proxy, broker_url, prefix = proxied_rabbitmq
    port = _free_port()
    env = {
        **os.environ,
        "BILLSYNC_BROKER_URL": broker_url,
        "BILLSYNC_DATABASE_URL": f"sqlite:///{tmp_path}/store.db",
        "BILLSYNC_QUEUE_PREFIX": prefix,
        **logisense_env(logisense),
        "BILLSYNC_METRICS_PORT": str(port),
        "BILLSYNC_STORE_METRICS": "true",
        "BILLSYNC_LOG_FORMAT": "json",
        "BILLSYNC_LOG_LEVEL": "INFO",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "billsync", "worker", "-c", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        for line in worker.stderr or ():
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert _within(30, lambda: _status(port, "/readyz") == 200) is not None, "never ready"
        assert _status(port, "/healthz") == 200
        assert_clean_metrics(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)

        proxy.stop()
        down = _within(READY_WITHIN_S, lambda: _status(port, "/readyz") == 503)
        assert down is not None, "/readyz still 200 five seconds after the broker went away"
        failing = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()["failing"]
        assert set(failing) == {"broker"} and "refused" in failing["broker"].lower()
        assert _status(port, "/healthz") == 200
        time.sleep(2)  # the consumer keeps trying: still one "lost" line

        proxy.start()
        back = _within(READY_WITHIN_S, lambda: _status(port, "/readyz") == 200)
        assert back is not None, "/readyz not 200 five seconds after the broker came back"

        # The consumer reconnects after its back-off (up to 10 s) and says so once.
        def consumer_back() -> bool:
            return any('"connection.back"' in x and '"broker"' in x for x in list(lines))

        assert _within(40, consumer_back) is not None, "no connection.back from the consumer"
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        reader.join(timeout=10)
    stderr = "".join(lines)
    assert worker.returncode == 0, stderr[-2000:]
    events = [json.loads(line) for line in lines if line.strip()]  # every line is one JSON object
    assert all({"level", "timestamp", "event", "logger"} <= set(e) for e in events)
    lost = [e for e in events if e["event"] == "connection.lost" and e["connection"] == "broker"]
    back_lines = [e for e in events if e["event"] == "connection.back"]
    assert len(lost) == 1, lost
    assert str(proxy.port) in lost[0]["target"] and lost[0]["reason"]
    assert "guest:guest" not in stderr
    assert any(e["connection"] == "broker" for e in back_lines), events
