"""Measure the simulator's request rate: ``python -m simulators.logisense.speed``.

The server runs in its own process (as ``billsync sim logisense`` does) and the clients in others,
each with one keep-alive ``http.client`` connection doing authenticated ``GET /Account/1``, so the
figure is the server's and not the GIL's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import subprocess
import sys
import time
from urllib.parse import urlencode, urlsplit

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


def _client(host: str, port: int, token: str, seconds: float, out: multiprocessing.Queue) -> None:
    conn = http.client.HTTPConnection(host, port)
    headers = {"Authorization": f"Bearer {token}"}
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        conn.request("GET", GET_PATH, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
        done += 1
    out.put(done)


def measure(base_url: str, clients: int = 3, seconds: float = 5.0) -> float:
    """Requests per second served to ``clients`` concurrent keep-alive connections."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    token = _login(host, port)
    results: multiprocessing.Queue = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=_client, args=(host, port, token, seconds, results))
        for _ in range(clients)
    ]
    for proc in procs:
        proc.start()
    total = sum(results.get(timeout=seconds + 30) for _ in procs)
    for proc in procs:
        proc.join()
    return total / seconds


def run(argv: list[str] | None = None) -> int:
    """Start a simulator process, measure, print the figure."""
    parser = argparse.ArgumentParser(prog="python -m simulators.logisense.speed")
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    server = subprocess.Popen(
        [sys.executable, "-m", "simulators.logisense", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        rate = measure(base_url, args.clients, args.seconds)
        print(f"{rate:.0f} req/s (GET by id, bearer token, {args.clients} keep-alive clients)")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(run())
