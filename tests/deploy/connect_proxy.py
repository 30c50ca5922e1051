"""A small forward proxy for tests: CONNECT tunnels (HTTPS) and absolute-form HTTP requests.

It records what each client asked for (``CONNECT 127.0.0.1:443``, ``GET http://...``), so a test
can see that traffic went through it.
"""

from __future__ import annotations

import select
import socket
import socketserver
import threading
from typing import Any
from urllib.parse import urlsplit


class _Handler(socketserver.BaseRequestHandler):
    server: ProxyServer

    def handle(self) -> None:
        client = self.request.makefile("rb")
        upstream: socket.socket | None = None
        while True:
            head, body = _read_message(client)
            if head is None:
                break
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, target, _version = request_line.split(" ", 2)
            self.server.seen.append(f"{method} {target}")
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                tunnel = socket.create_connection((host, int(port)), timeout=10)
                self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                _pipe(self.request, tunnel)
                return
            parts = urlsplit(target)
            if upstream is None:
                upstream = socket.create_connection((parts.hostname, parts.port or 80), timeout=10)
                replies = upstream.makefile("rb")
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            upstream.sendall(head.replace(target.encode(), path.encode(), 1) + body)
            reply_head, reply_body = _read_message(replies)
            if reply_head is None:
                break
            self.request.sendall(reply_head + reply_body)
        if upstream is not None:
            upstream.close()


def _read_message(stream: Any) -> tuple[bytes | None, bytes]:
    """One HTTP message (head, body) with a Content-Length body; (None, b"") at the end."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = stream.readline()
        if not line:
            return None, b""
        head += line
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return head, stream.read(length) if length else b""


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            readable, _, _ = select.select([a, b], [], [], 30)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (b if sock is a else a).sendall(data)
    except OSError:
        return
    finally:
        b.close()


class ProxyServer(socketserver.ThreadingTCPServer):
    """``with ProxyServer() as proxy: proxy.url``; ``proxy.seen`` lists the requests."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> ProxyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
