"""The Salesforce simulator's HTTP wire: chunked request bodies and kept-alive connections.

Node clients (jsforce, the CometD JavaScript client) send bodies with
``Transfer-Encoding: chunked``. Every route must read them whole, within the same size limits as
bodies of known length, and leave nothing on the connection for the next request to trip on.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from simulators.salesforce import SalesforceSimulator
from simulators.salesforce.wire import MAX_BAYEUX_BODY
from tests.simulators.conftest import SF_CLIENT_ID, SF_CLIENT_SECRET

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Connection:
    """One kept-alive HTTPS connection to the simulator, sending chunked bodies on request."""

    def __init__(self, sim: SalesforceSimulator) -> None:
        parts = urlsplit(sim.base_url)
        context = ssl.create_default_context(cafile=sim.ca_file)
        self.http = http.client.HTTPSConnection(parts.hostname, parts.port, context=context)
        self.http.connect()
        self.socket = self.http.sock

    def send(
        self, method: str, path: str, body: bytes | None = None, **headers: str
    ) -> tuple[int, Any, dict[str, str]]:
        """Send ``body`` in small chunks (no Content-Length); status, JSON body, headers."""
        chunks: Iterator[bytes] | None = None
        if body is not None:
            chunks = iter([body[i : i + 9] for i in range(0, len(body), 9)])
        self.http.request(method, path, body=chunks, headers=headers, encode_chunked=True)
        response = self.http.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None, dict(response.getheaders())

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def conn(sf_sim: SalesforceSimulator) -> Iterator[Connection]:
    connection = Connection(sf_sim)
    yield connection
    connection.close()


def token_form(secret: str = SF_CLIENT_SECRET) -> bytes:
    return (
        f"grant_type=client_credentials&client_id={SF_CLIENT_ID}&client_secret={secret}"
    ).encode()


def test_chunked_bodies_work_on_every_route_of_one_kept_alive_connection(
    conn: Connection,
) -> None:
    status, token, _ = conn.send("POST", "/services/oauth2/token", token_form(), **FORM)
    assert status == 200, token
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    json_body = {**auth, "Content-Type": "application/json"}
    status, created, _ = conn.send(
        "POST",
        "/services/data/v59.0/sobjects/Account",
        json.dumps({"Name": "Chunked Inc", "Type": "Customer"}).encode(),
        **json_body,
    )
    assert status == 201, created
    status, record, _ = conn.send(
        "GET", f"/services/data/v59.0/sobjects/Account/{created['id']}", **auth
    )
    assert status == 200 and record["Name"] == "Chunked Inc"
    status, handshake, _ = conn.send(
        "POST",
        "/cometd/59.0",
        json.dumps([{"channel": "/meta/handshake", "version": "1.0"}]).encode(),
        **json_body,
    )
    assert status == 200 and handshake[0]["successful"] is True
    status, faults, _ = conn.send(
        "POST", "/__sim/faults", json.dumps({"latency_ms": 0}).encode(), **json_body
    )
    assert status == 200 and faults["latency_ms"] == 0
    assert conn.http.sock is conn.socket  # one connection served them all


def test_a_refused_or_faulted_request_leaves_no_bytes_behind(
    conn: Connection, sf_sim: SalesforceSimulator
) -> None:
    status, refused, _ = conn.send("POST", "/services/oauth2/token", token_form("no"), **FORM)
    assert status == 400 and refused["error"] == "invalid_client"
    sf_sim.faults.error_rate = 1.0
    status, fault, _ = conn.send("POST", "/services/oauth2/token", token_form(), **FORM)
    assert status == 503, fault
    sf_sim.faults.error_rate = 0.0
    status, token, _ = conn.send("POST", "/services/oauth2/token", token_form(), **FORM)
    assert status == 200 and "access_token" in token
    assert conn.http.sock is conn.socket


def test_chunked_bodies_over_the_limit_are_refused_and_the_connection_closed(
    conn: Connection, sf_sim: SalesforceSimulator
) -> None:
    too_big = json.dumps([{"channel": "/meta/handshake", "pad": "x" * MAX_BAYEUX_BODY}])
    status, body, headers = conn.send("POST", "/cometd/59.0", too_big.encode())
    assert status == 413
    assert body == [{"channel": None, "successful": False, "error": "413::Request too large"}]
    assert headers.get("Connection") == "close"
    fresh = Connection(sf_sim)
    try:
        status, token, _ = fresh.send("POST", "/services/oauth2/token", token_form(), **FORM)
        assert status == 200 and "access_token" in token
    finally:
        fresh.close()
