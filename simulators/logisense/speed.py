"""Measure the simulator's request rate: ``python -m simulators.logisense.speed``.

The server runs in its own process (as ``billsync sim logisense`` does) and the clients in others,
each with one keep-alive ``http.client`` connection doing authenticated ``GET /Account/1``, so the
figure is the server's and not the GIL's (see ``simulators.speed``).
"""

from __future__ import annotations

import http.client
import json
import sys
from urllib.parse import urlencode, urlsplit

from simulators.speed import arguments, repeat_for, requests_per_second, simulator_process

GET_PATH = "/ResourceServer/api/v7/Account/1"


def _login(host: str, port: int) -> str:
    conn = http.client.HTTPConnection(host, port)
    fields = {"username": "billsync", "password": "pw", "client_id": "billsync"}
    form = urlencode({**fields, "grant_type": "password"})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    conn.request("POST", "/AuthorizationServer/api/v1/Access/Login", form, headers)
    token = json.loads(conn.getresponse().read())["access_token"]
    conn.close()
    return str(token)


def _client(host: str, port: int, token: str, seconds: float) -> int:
    conn = http.client.HTTPConnection(host, port)
    headers = {"Authorization": f"Bearer {token}"}

    def get(_n: int) -> None:
        conn.request("GET", GET_PATH, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")

    return repeat_for(seconds, get)


def measure(base_url: str, clients: int = 3, seconds: float = 5.0) -> float:
    """Requests per second served to ``clients`` concurrent keep-alive connections."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    token = _login(host, port)
    return requests_per_second(_client, (host, port, token), clients=clients, seconds=seconds)


def run(argv: list[str] | None = None) -> int:
    """Start a simulator process, measure, print the figure."""
    args = arguments("python -m simulators.logisense.speed", argv)
    command = [sys.executable, "-m", "simulators.logisense", "--port", "0"]
    with simulator_process(command) as base_url:
        rate = measure(base_url, args.clients, args.seconds)
        print(f"{rate:.0f} req/s (GET by id, bearer token, {args.clients} keep-alive clients)")
    return 0


if __name__ == "__main__":
    sys.exit(run())
