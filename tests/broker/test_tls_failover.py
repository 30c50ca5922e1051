"""TLS host names are verified on both AMQP paths (kombu and pika), a private CA comes from
BILLSYNC_BROKER_CA_BUNDLE, and failover URLs (``amqp://h1;amqp://h2``) work on both paths.

RabbitMQ here speaks plain AMQP, so a small TLS front (this test's) terminates TLS with a
certificate from a private CA and forwards to it."""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pika
import pytest
import trustme

from adapters.broker.connections import BrokerTls, open_connection
from adapters.broker.urls import failover_urls, pika_parameters, pika_parameters_all


class TlsFront:
    """Accepts TLS on 127.0.0.1 with a certificate for ``names`` and forwards to ``target``."""

    def __init__(self, ca: trustme.CA, names: list[str], target: tuple[str, int]) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*names).configure_cert(self.context)
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                raw, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        upstream = socket.create_connection(self.target)
        pair = [client, upstream]
        try:
            while not self.stop.is_set():
                readable, _, _ = select.select(pair, [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            return
        finally:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.close()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture
def ca(tmp_path: Any) -> tuple[trustme.CA, str]:
    authority = trustme.CA()
    path = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, str(path)


@contextlib.contextmanager
def front(broker_url: str, ca: trustme.CA, names: list[str]) -> Iterator[str]:
    parts = urlsplit(broker_url)
    proxy = TlsFront(ca, names, (parts.hostname or "127.0.0.1", parts.port or 5672))
    try:
        yield f"amqps://guest:guest@127.0.0.1:{proxy.port}//"
    finally:
        proxy.close()


def test_kombu_verifies_the_brokers_host_name(broker_url: str, ca: Any) -> None:
    authority, bundle = ca
    tls = BrokerTls(ca_bundle=bundle)
    with (
        front(broker_url, authority, ["127.0.0.1"]) as url,
        open_connection(url, tls=tls) as connection,
    ):
        connection.ensure_connection(max_retries=1)
        assert connection.connected
    with (
        front(broker_url, authority, ["broker.example.invalid"]) as url,
        pytest.raises(Exception, match=r"(?i)hostname|match"),
        open_connection(url, tls=tls) as connection,
    ):
        connection.ensure_connection(max_retries=1)


def test_kombu_refuses_a_certificate_from_an_unknown_ca(broker_url: str, ca: Any) -> None:
    authority, _bundle = ca
    with (
        front(broker_url, authority, ["127.0.0.1"]) as url,
        pytest.raises(Exception, match=r"(?i)certificate"),
        open_connection(url, tls=BrokerTls()) as connection,
    ):
        connection.ensure_connection(max_retries=1)


def test_pika_verifies_the_brokers_host_name(broker_url: str, ca: Any) -> None:
    authority, bundle = ca
    context = BrokerTls(ca_bundle=bundle).context()
    with front(broker_url, authority, ["127.0.0.1"]) as url:
        params = pika_parameters(url, tls=context)
        assert params.ssl_options is not None
        assert params.ssl_options.server_hostname == "127.0.0.1"
        connection = pika.BlockingConnection(params)
        assert connection.is_open
        connection.close()
    with (
        front(broker_url, authority, ["broker.example.invalid"]) as url,
        pytest.raises(Exception),  # noqa: B017  (pika wraps the TLS error its own way)
    ):
        pika.BlockingConnection(pika_parameters(url, tls=context))


def test_failover_urls_on_both_paths(broker_url: str) -> None:
    """The first broker is down (a closed port): kombu's consumer path and pika both go on to
    the second."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    parts = urlsplit(broker_url)
    url = f"amqp://guest:guest@127.0.0.1:{dead_port}//;{parts.hostname}:{parts.port or 5672}"
    _first, second = failover_urls(url)
    assert urlsplit(second).port == (parts.port or 5672)
    assert urlsplit(second).username == "guest"
    connection = pika.BlockingConnection(pika_parameters_all(url))
    assert connection.is_open
    connection.close()

    from adapters.broker.consumer import ConsumerLink
    from adapters.broker.topology import Topology

    topology = Topology(prefix=f"bstest-failover-{dead_port}")
    link = ConsumerLink(url, topology, prefetch=1, max_message_bytes=1024)
    stop = threading.Event()
    served: list[bool] = []

    def session() -> None:
        served.append(True)
        stop.set()

    link.serve(stop, session)
    assert served == [True]
    assert link.reconnects == 1

    from adapters.broker.publisher import publish_messages
    from tests.factories import account

    assert publish_messages(url, topology, [account(1), account(2)]) == 2  # the pika publisher
    with open_connection(second) as connection:
        channel = connection.channel()
        for name in topology.queue_names:
            channel.queue_delete(name)
        for name in (topology.exchange_name, topology.dead_letter_exchange_name):
            channel.exchange_delete(name)
        channel.exchange_delete(topology.dropped_exchange_name)


def test_the_confirmed_publisher_uses_tls_with_the_ca_bundle(broker_url: str, ca: Any) -> None:
    """The ingest's publisher (pika) trusts BILLSYNC_BROKER_CA_BUNDLE and checks the host."""
    import uuid

    from adapters.broker.publisher import open_publisher
    from adapters.broker.topology import Topology
    from billsync.errors import TransientError
    from billsync.messages import encode
    from tests.factories import account

    authority, bundle = ca
    topology = Topology(prefix=f"bstest-tls-{uuid.uuid4().hex[:8]}")
    tls = BrokerTls(ca_bundle=bundle)
    try:
        with front(broker_url, authority, ["127.0.0.1"]) as url:
            publisher = open_publisher(url, topology, tls=tls)
            try:
                publisher.publish(encode(account(1)))
                publisher.flush(timeout=10)
            finally:
                publisher.close()
        with (
            front(broker_url, authority, ["broker.example.invalid"]) as url,
            pytest.raises(TransientError),
        ):
            open_publisher(url, topology, tls=tls)
    finally:
        with open_connection(broker_url) as connection:
            channel = connection.channel()
            for name in topology.queue_names:
                channel.queue_delete(name)
            for name in (
                topology.exchange_name,
                topology.dead_letter_exchange_name,
                topology.dropped_exchange_name,
            ):
                channel.exchange_delete(name)
