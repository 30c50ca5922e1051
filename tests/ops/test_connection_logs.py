"""A connection's state changes are logged once each: the store behind a TCP proxy goes away
while a worker merges changes (``connection.lost`` with the cause, however many retries), comes
back (``connection.back``), and the changes are merged and pushed after all."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from billsync import logs
from tests.conftest import new_postgres_database, settings_for, wait_until
from tests.core.helpers import Store
from tests.factories import account, account_id
from tests.ops.tcp_proxy import TcpProxy


@pytest.fixture
def proxied_postgres(postgres_server: str) -> Iterator[tuple[TcpProxy, str]]:
    """A fresh database reached through a proxy the test may stop."""
    url, drop = new_postgres_database(postgres_server)
    parts = urlsplit(url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    proxy.start()
    user = parts.netloc.rsplit("@", 1)[0]
    yield proxy, parts._replace(netloc=f"{user}@127.0.0.1:{proxy.port}").geturl()
    proxy.stop()
    drop()


def test_store_outage_is_two_lines_and_nothing_is_lost(
    proxied_postgres: tuple[TcpProxy, str], logisense: Any, restore_logging: None
) -> None:
    from adapters.broker.publisher import publish_messages
    from adapters.broker.topology import Topology
    from billsync.bootstrap import worker_service
    from tests.conftest import Backend

    proxy, database_url = proxied_postgres
    prefix = f"t{uuid.uuid4().hex[:8]}"
    backend = Backend("embedded", f"memory://{prefix}", database_url, prefix)
    captured = io.StringIO()
    logs.configure(level="INFO", fmt="json", stream=captured)
    service = worker_service(settings_for(backend, logisense))
    service.start()
    try:
        assert service.consumer.ready.wait(15)
        topology = Topology(prefix=prefix)
        publish_messages(backend.broker_url, topology, [account(1)])
        store = Store(database_url)
        wait_until(lambda: store.settled([account_id(1)], ("pushed",)), what="first push")
        proxy.stop()
        publish_messages(backend.broker_url, topology, [account(2)])

        def events() -> list[dict[str, Any]]:
            return [json.loads(x) for x in captured.getvalue().splitlines() if x.strip()]

        def store_lines(kind: str) -> list[dict[str, Any]]:
            return [e for e in events() if e["event"] == kind and e.get("connection") == "store"]

        wait_until(lambda: store_lines("connection.lost"), timeout=30, what="store lost")
        time.sleep(3)  # retries go on: still one line
        proxy.start()
        wait_until(lambda: store.settled([account_id(2)], ("pushed",)), what="pushed after")
        wait_until(lambda: store_lines("connection.back"), timeout=30, what="store back")
    finally:
        service.stop(timeout=10)
        logging.getLogger().handlers[:] = []
    lost = store_lines("connection.lost")
    assert len(lost) == 1, lost
    assert f"127.0.0.1:{proxy.port}" in lost[0]["target"]
    assert lost[0]["reason"].startswith("OperationalError")
    assert len(store_lines("connection.back")) == 1
