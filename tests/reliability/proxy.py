"""A TCP proxy the fault tests control: a service becomes unreachable without touching the
shared server.

Modes:
- ``pass``: bytes flow both ways;
- ``refuse``: every connection is cut (reset) and new ones are closed at once, as when the server
  is down or its port is closed;
- ``blackhole``: connections stay open but bytes are dropped in both directions, as when a
  firewall or a dead route drops packets (no reset, nothing to tell the client).

Counts connections made and cut, so tests can assert that an outage was real.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from typing import Literal

Mode = Literal["pass", "refuse", "blackhole"]
CHUNK = 65536


class FaultProxy:
    """Listens on 127.0.0.1:<port> and forwards to ``target``; ``set_mode`` changes the fault."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "pass"
        self.connections = 0
        self.cut = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url_for(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's."""
        scheme, rest = url.split("://", 1)
        userinfo, _, tail = rest.rpartition("@")
        _hostport, slash, path = tail.partition("/")
        prefix = f"{userinfo}@" if userinfo else ""
        return f"{scheme}://{prefix}127.0.0.1:{self.port}{slash}{path}"

    def set_mode(self, mode: Mode) -> None:
        """Change the fault; ``refuse`` resets every open connection, and so does leaving
        ``blackhole`` (bytes were lost: those streams cannot go on)."""
        leaving_blackhole = self.mode == "blackhole" and mode != "blackhole"
        self.mode = mode
        if mode == "refuse" or leaving_blackhole:
            with self._lock:
                pairs, self._pairs = self._pairs, []
            for client, upstream in pairs:
                _reset(client)
                _reset(upstream)
                self.cut += 1

    def close(self) -> None:
        """Stop listening and drop every connection."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mode == "refuse":
                _reset(client)
                continue
            if self.mode == "blackhole":
                # Accepted by the kernel already; hold it and never answer (a SYN dropped on a
                # real network looks the same to the client: a connect that never completes).
                with self._lock:
                    self._pairs.append((client, client))
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            self.connections += 1
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(
                target=self._pump, args=(client, upstream), name="fault-proxy-pump", daemon=True
            ).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        sockets = [client, upstream]
        try:
            while not self._stop.is_set():
                readable, _, _ = select.select(sockets, [], [], 0.2)
                for sock in readable:
                    data = sock.recv(CHUNK)
                    if not data:
                        return
                    if self.mode == "blackhole":
                        continue  # dropped on the floor, no reset
                    other = upstream if sock is client else client
                    other.sendall(data)
        except (OSError, ValueError):  # reset by set_mode: the socket is already closed
            return
        finally:
            with self._lock:
                if (client, upstream) in self._pairs:
                    self._pairs.remove((client, upstream))
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a dead server's host does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
