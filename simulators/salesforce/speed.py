"""Measure the Salesforce simulator's request rate: ``python -m simulators.salesforce.speed``.

The server runs in its own process (as ``billsync sim salesforce`` does) and the clients in
others, each with one keep-alive TLS ``http.client`` connection doing authenticated
``GET sobjects/Account/<id>`` (or ``PATCH``, which validates and emits a change event), so the
figure is the server's and not the clients' or the GIL's (see ``simulators.speed``).
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import sys
import tempfile
from urllib.parse import urlencode, urlsplit

from simulators.speed import arguments, repeat_for, requests_per_second, simulator_process

CLIENT_ID, CLIENT_SECRET = "speed", "speed-secret"
API = "/services/data/v59.0"


def _connection(host: str, port: int, ca_file: str) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=ca_file)
    return http.client.HTTPSConnection(host, port, context=context)


def _call(
    conn: http.client.HTTPSConnection, method: str, path: str, token: str, body: object = None
) -> bytes:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body)
    conn.request(method, path, data, headers)
    response = conn.getresponse()
    payload = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: HTTP {response.status} {payload[:200]!r}")
    return payload


def _prepare(host: str, port: int, ca_file: str) -> tuple[str, str]:
    """A session id and the id of one account to read and update."""
    conn = _connection(host, port, ca_file)
    form = urlencode(
        {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    )
    conn.request(
        "POST",
        "/services/oauth2/token",
        form,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    token = str(json.loads(conn.getresponse().read())["access_token"])
    created = json.loads(_call(conn, "POST", f"{API}/sobjects/Account", token, {"Name": "Speed"}))
    conn.close()
    return token, str(created["id"])


def _client(target: tuple[str, int, str], call: tuple[str, str, str], seconds: float) -> int:
    host, port, ca_file = target
    method, token, account = call
    conn = _connection(host, port, ca_file)
    path = f"{API}/sobjects/Account/{account}"

    def send(n: int) -> None:
        _call(conn, method, path, token, {"Name": f"Speed {n}"} if method == "PATCH" else None)

    done = repeat_for(seconds, send)
    conn.close()
    return done


def measure(
    base_url: str, ca_file: str, *, method: str = "GET", clients: int = 3, seconds: float = 5.0
) -> float:
    """Requests per second served to ``clients`` concurrent keep-alive TLS connections."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    token, account = _prepare(host, port, ca_file)
    target, call = (host, port, ca_file), (method, token, account)
    return requests_per_second(_client, (target, call), clients=clients, seconds=seconds)


def run(argv: list[str] | None = None) -> int:
    """Start a simulator process, measure GET and PATCH, print the figures."""
    args = arguments("python -m simulators.salesforce.speed", argv)
    ca_file = os.path.join(tempfile.mkdtemp(prefix="sfsim-speed-"), "ca.pem")
    start = (
        "import sys; from simulators.salesforce import main; "
        f"sys.exit(main(0, {ca_file!r}, {CLIENT_ID!r}, {CLIENT_SECRET!r}))"
    )
    with simulator_process([sys.executable, "-c", start]) as base_url:
        for method in ("GET", "PATCH"):
            rate = measure(
                base_url, ca_file, method=method, clients=args.clients, seconds=args.seconds
            )
            print(
                f"{rate:.0f} req/s ({method} sobjects/Account/<id>, TLS, "
                f"{args.clients} keep-alive clients)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(run())
