"""Listening sockets are bounded and loopback by default: the push endpoint keeps answering while
slow sockets hang on it, refuses oversized bodies, and closes sockets that stall; the metrics
server binds 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import socket
import time
from typing import Any

import requests
from prometheus_client import CollectorRegistry

from billsync.config import load_settings
from billsync.metrics import start_metrics_server
from workers.ingest.push import MAX_BODY_BYTES, PushDesk, PushEndpoint, PushServer

TOKEN = "a-long-random-push-token-1234"


def _server(timeout_s: int = 2) -> tuple[PushServer, str]:
    desk = PushDesk(salesforce=None, send=lambda _message: None)  # type: ignore[arg-type]
    server = PushServer(PushEndpoint(desk, TOKEN), host="127.0.0.1", port=0, timeout_s=timeout_s)
    return server, server.start()


def test_slow_sockets_cannot_hold_the_push_endpoint() -> None:
    server, url = _server(timeout_s=5)
    slow: list[socket.socket] = []
    try:
        host, port = url.removeprefix("http://").split(":")
        for _ in range(20):  # each sends half a request, then stalls (the old 4 threads: stuck)
            sock = socket.create_connection((host, int(port)))
            sock.sendall(b"POST /push/opportunity/006000000000001AAA HTTP/1.1\r\nHost: x\r\n")
            slow.append(sock)
        started = time.monotonic()
        answer = requests.post(f"{url}/push/opportunity/006000000000001AAA", timeout=10)
        assert answer.status_code == 401
        assert time.monotonic() - started < 4, "answered before any stalled socket timed out"
        big = requests.post(
            f"{url}/push/opportunity/006000000000001AAA",
            data=b"x" * (MAX_BODY_BYTES + 1),
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert big.status_code == 413
        time.sleep(6)  # past the socket timeout: the server has closed the stalled sockets
        closed = 0
        for sock in slow:
            sock.settimeout(2)
            try:
                closed += sock.recv(1024) is not None
            except OSError:
                closed += 1
        assert closed == len(slow)
    finally:
        for sock in slow:
            sock.close()
        server.stop()


def test_metrics_listen_on_loopback_by_default() -> None:
    settings = load_settings()
    assert settings.metrics_host == "127.0.0.1"
    assert settings.http_host == "127.0.0.1"
    server = start_metrics_server(0, CollectorRegistry())
    try:
        assert server.host == "127.0.0.1"
    finally:
        server.stop()


def test_listening_addresses_are_configurable(monkeypatch: Any) -> None:
    monkeypatch.setenv("BILLSYNC_METRICS_HOST", "0.0.0.0")
    monkeypatch.setenv("BILLSYNC_HTTP_HOST", "::1")
    settings = load_settings()
    assert (settings.metrics_host, settings.http_host) == ("0.0.0.0", "::1")
