"""The one HTTP server billsync runs its listeners on (the push endpoint, ``/metrics`` and the
health probes, the simulators): cheroot, a production-grade threaded WSGI server, on a background
thread, bounded in header and body sizes and in how long a socket may idle."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: The listen backlog (connections the kernel queues before they are accepted). cheroot's default
#: of 5 overflows when a burst of clients connects at once (a worker's writer threads starting
#: together), and each refused SYN costs its client the kernel's 1-second retransmit.
LISTEN_BACKLOG = 1024


class HttpServer:
    """A WSGI app served at ``host:port`` (``port=0``: any free port) until ``stop``.

    ``threads`` bounds the requests served at once; ``timeout_s`` is each socket's read timeout
    (a slow or silent client cannot hold a thread longer); cheroot answers 413/431 beyond
    ``max_body_bytes``/``max_header_bytes`` (0: no bound). ``tls`` is a certificate and key file.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 16,
        bounded_threads: bool = True,
        timeout_s: int = 10,
        max_header_bytes: int = 0,
        max_body_bytes: int = 0,
        tls: tuple[str, str] | None = None,
        name: str = "billsync-http",
    ) -> None:
        self._server = wsgi.Server(
            (host, port),
            app,
            numthreads=threads,
            max=threads if bounded_threads else -1,
            timeout=timeout_s,
            accepted_queue_timeout=timeout_s,
            request_queue_size=LISTEN_BACKLOG,
        )
        self._server.nodelay = True
        self._server.max_request_header_size = max_header_bytes
        self._server.max_request_body_size = max_body_bytes
        if tls is not None:
            cert_file, key_file = tls
            self._server.ssl_adapter = BuiltinSSLAdapter(cert_file, key_file)
        self.scheme = "https" if tls else "http"
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The address it is bound to."""
        return str(self._server.bind_addr[0])

    @property
    def port(self) -> int:
        """The port it listens on (the one chosen, for ``port=0``)."""
        return int(self._server.bind_addr[1])

    @property
    def base_url(self) -> str:
        """``http(s)://host:port`` (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def start(self) -> str:
        """Bind, serve on a daemon thread, and return the base URL once the socket listens."""
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, name=self._name, daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop accepting, finish the requests in flight, join the thread."""
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
