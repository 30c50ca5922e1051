"""Fixtures for the broker tests: a real RabbitMQ (skipped locally when absent, required in CI),
a fresh random prefix per test so real ``billsync.*`` queues are never touched, and a TCP proxy
whose connections can be cut to simulate a dead broker link."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pika
import pytest
import requests

from adapters.broker.topology import Topology
from adapters.broker.urls import management_url, pika_parameters

BROKER_URL = os.environ.get("BILLSYNC_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The RabbitMQ under test; skip when absent, except in CI where absence is a failure."""
    if not _reachable(BROKER_URL):
        message = f"RabbitMQ is not reachable at {urlsplit(BROKER_URL).netloc.split('@')[-1]}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} and CI=true: start it (rabbitmq-server -detached)")
        pytest.skip(message)
    return BROKER_URL


@pytest.fixture(scope="session")
def management(broker_url: str) -> str:
    """The management API base URL; skip the test when the plugin is not enabled."""
    url = management_url(broker_url)
    parts = urlsplit(url)
    base = f"http://{parts.hostname}:{parts.port}"
    try:
        answer = requests.get(f"{base}/api/overview", auth=("guest", "guest"), timeout=3)
        if answer.status_code == 200:
            return url
    except requests.RequestException:
        pass
    pytest.skip("the management plugin is not enabled (run scripts/rabbitmq-setup)")


@pytest.fixture
def amqp(broker_url: str) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    """A plain pika channel for looking at what the broker holds."""
    connection = pika.BlockingConnection(pika_parameters(broker_url))
    yield connection.channel()
    if connection.is_open:
        connection.close()


@pytest.fixture
def topology(broker_url: str) -> Iterator[Topology]:
    """A topology under a fresh prefix (delivery limit 2), deleted with all its queues after."""
    topo = Topology(prefix=f"bstest-{uuid.uuid4().hex[:10]}", delivery_limit=2)
    yield topo
    connection = pika.BlockingConnection(pika_parameters(broker_url))
    channel = connection.channel()
    for name in (*topo.queue_names, f"{topo.prefix}.full"):
        channel.queue_delete(name)
    channel.exchange_delete(topo.exchange_name)
    channel.exchange_delete(topo.dead_letter_exchange_name)
    channel.exchange_delete(topo.dropped_exchange_name)
    connection.close()


class CuttableProxy:
    """A loopback TCP proxy to the broker whose live connections can be cut at once."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        """Drop every proxied connection, as a dead network link or a killed broker would."""
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()

    def close(self) -> None:
        """Stop accepting and cut what is open."""
        self.listener.close()
        self.cut()


@pytest.fixture
def proxy(broker_url: str) -> Iterator[CuttableProxy]:
    """A proxy in front of the broker under test."""
    parts = urlsplit(broker_url)
    running = CuttableProxy((parts.hostname or "127.0.0.1", parts.port or 5672))
    yield running
    running.close()
