"""What both simulators share: a fast threaded WSGI server, fault injection and request stats.

The servers run on cheroot (a production-grade threaded WSGI server) rather than the stdlib
``http.server``, whose separate small writes cost 40 ms a request on loopback. Fault injection and
counting live in one WSGI middleware, so every route of either simulator honours the same knobs.
"""

from __future__ import annotations

import errno
import io
import json
import random
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ErrorBody = Callable[[int], tuple[bytes, str]]

ADMIN_PREFIX = "/__sim/"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REQUEST_LOG_SIZE = 2000
WRITE_JOURNAL_SIZE = 200_000
MAX_JOURNALED_BODY = 65_536


@dataclass
class Faults:
    """Run-time fault knobs, as accepted by ``POST /__sim/faults``."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    timeout_rate: float = 0.0
    timeout_s: float = 30.0
    throttle_rate: float = 0.0
    retry_after_s: int = 1
    token_ttl_s: float | None = None
    drop_longpoll_rate: float = 0.0
    #: Share of writes that are applied and then lose their response: the connection drops
    #: before any byte of it is sent (the client cannot tell whether the write happened).
    response_lost_rate: float = 0.0
    #: Keep every write (method, path, status, JSON body) for ``GET /__sim/writes``: the
    #: history an outcome checker compares with the final state. Off by default (it costs).
    record_writes: bool = False

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; unknown keys raise ``ValueError`` naming them."""
        known = set(asdict(self))
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown fault knob(s): {', '.join(unknown)}; known: {sorted(known)}")
        for key, value in changes.items():
            setattr(self, key, value)


@dataclass
class Stats:
    """Request counters: totals, writes and per-route counts, plus a bounded request log."""

    requests_total: int = 0
    writes_total: int = 0
    faults_injected: int = 0
    responses_lost: int = 0
    routes: Counter[str] = field(default_factory=Counter)
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))
    writes: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=WRITE_JOURNAL_SIZE))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, route: str, status: int) -> None:
        """Count one served request."""
        with self.lock:
            self.requests_total += 1
            if method in WRITE_METHODS and status < 400:
                self.writes_total += 1
            self.routes[f"{method} {route}"] += 1
            self.log.append({"method": method, "route": route, "status": status, "t": time.time()})

    def as_json(self) -> dict[str, Any]:
        """The ``GET /__sim/stats`` body."""
        with self.lock:
            return {
                "requests_total": self.requests_total,
                "writes_total": self.writes_total,
                "faults_injected": self.faults_injected,
                "responses_lost": self.responses_lost,
                "routes": dict(self.routes),
            }

    def clear(self) -> None:
        """Forget every count (``POST /__sim/reset``)."""
        with self.lock:
            self.requests_total = self.writes_total = self.faults_injected = 0
            self.responses_lost = 0
            self.routes.clear()
            self.log.clear()
            self.writes.clear()


def json_response(
    start_response: Callable[..., Any],
    status: int,
    body: Any,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    """Send ``body`` as JSON with a status code; one buffered write (no Nagle stall)."""
    data = json.dumps(body).encode()
    reason = {200: "OK", 201: "Created", 204: "No Content"}.get(status, "Status")
    all_headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    start_response(f"{status} {reason}", all_headers + (headers or []))
    return [data]


class FaultInjector:
    """WSGI middleware: admin routes, fault injection and stats around a simulator app.

    ``route_of`` maps a request to a stable route name for the per-route counts (ids folded out).
    ``error_body`` renders an error in the simulated system's own envelope.
    ``on_reset`` clears the simulator's data for ``POST /__sim/reset``.
    ``admin`` holds extra ``/__sim/...`` handlers of the simulator itself.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        route_of: Callable[[str, str], str],
        error_body: ErrorBody,
        on_reset: Callable[[], None],
        admin: dict[str, Callable[[dict[str, Any]], Any]] | None = None,
        seed: int = 0,
    ) -> None:
        self.app = app
        self.route_of = route_of
        self.error_body = error_body
        self.on_reset = on_reset
        self.admin = admin or {}
        self.faults = Faults()
        self.stats = Stats()
        self.random = random.Random(seed)
        self._random_lock = threading.Lock()

    def roll(self, rate: float) -> bool:
        """True with probability ``rate`` (deterministic for a given seed and call order)."""
        if rate <= 0:
            return False
        with self._random_lock:
            return self.random.random() < rate

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(ADMIN_PREFIX):
            return self._admin(path[len(ADMIN_PREFIX) :], environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        route = self.route_of(method, path)
        status_box: list[int] = [0]

        def recording_start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            status_box[0] = int(status.split(" ", 1)[0])
            return start_response(status, headers, *exc)

        injected = self._inject(recording_start)
        if injected is not None:
            self.stats.record(method, route, status_box[0])
            return injected
        body = self._keep_body(environ) if method in WRITE_METHODS else None
        lose_response = method in WRITE_METHODS and self.roll(self.faults.response_lost_rate)
        if lose_response:
            return self._apply_then_drop(environ, method, route, body)
        result = self.app(environ, recording_start)
        self.stats.record(method, route, status_box[0])
        self._journal(method, path, status_box[0], body, lost=False)
        return result

    def _keep_body(self, environ: dict[str, Any]) -> bytes | None:
        """Read a write's body for the journal, leaving it readable for the application."""
        if not self.faults.record_writes:
            return None
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(data)
        return data

    def _journal(
        self, method: str, path: str, status: int, body: bytes | None, *, lost: bool
    ) -> None:
        if body is None:
            return
        try:
            parsed = json.loads(body[:MAX_JOURNALED_BODY]) if body else None
        except ValueError:
            parsed = None
        entry = {"t": time.time(), "method": method, "path": path, "status": status}
        entry.update({"body": parsed, "response_lost": lost})
        with self.stats.lock:
            self.stats.writes.append(entry)

    def _apply_then_drop(
        self, environ: dict[str, Any], method: str, route: str, kept: bytes | None
    ) -> Any:
        """Apply the write, then drop the connection without a response. cheroot closes a
        connection quietly when the application raises a connection-reset error."""
        status_box: list[int] = [0]

        def swallow(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            status_box[0] = int(status.split(" ", 1)[0])
            return lambda _data: None

        body = b"".join(self.app(environ, swallow))  # the write is done once this returns
        del body
        self.stats.record(method, route, status_box[0])
        self._journal(method, environ.get("PATH_INFO", ""), status_box[0], kept, lost=True)
        with self.stats.lock:
            self.stats.faults_injected += 1
            self.stats.responses_lost += 1
        raise ConnectionResetError(
            errno.ECONNRESET, "fault injection: the write was applied, its response is lost"
        )

    def _inject(self, start_response: Callable[..., Any]) -> list[bytes] | None:
        faults = self.faults
        if faults.latency_ms > 0:
            time.sleep(faults.latency_ms / 1000.0)
        if self.roll(faults.timeout_rate):
            self.stats.faults_injected += 1
            time.sleep(faults.timeout_s)
            body, ctype = self.error_body(504)
            return _raw(start_response, 504, body, ctype)
        if self.roll(faults.throttle_rate):
            self.stats.faults_injected += 1
            body, ctype = self.error_body(429)
            return _raw(
                start_response, 429, body, ctype, [("Retry-After", str(faults.retry_after_s))]
            )
        if self.roll(faults.error_rate):
            self.stats.faults_injected += 1
            body, ctype = self.error_body(faults.error_status)
            return _raw(start_response, faults.error_status, body, ctype)
        return None

    def _admin(self, name: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            body = _read_json(environ) if method == "POST" else {}
            if name == "stats" and method == "GET":
                return json_response(start_response, 200, self.stats.as_json())
            if name == "faults" and method == "GET":
                return json_response(start_response, 200, asdict(self.faults))
            if name == "faults" and method == "POST":
                self.faults.update(body)
                return json_response(start_response, 200, asdict(self.faults))
            if name == "requests" and method == "GET":
                with self.stats.lock:
                    return json_response(start_response, 200, list(self.stats.log))
            if name == "writes" and method == "GET":
                with self.stats.lock:
                    return json_response(start_response, 200, list(self.stats.writes))
            if name == "reset" and method == "POST":
                self.faults = Faults()
                self.stats.clear()
                self.on_reset()
                return json_response(start_response, 200, {"reset": True})
            handler = self.admin.get(name)
            if handler is not None:
                return json_response(start_response, 200, handler(body))
        except (ValueError, KeyError, TypeError) as exc:
            return json_response(start_response, 400, {"error": str(exc)})
        return json_response(
            start_response, 404, {"error": f"no admin route {method} /__sim/{name}"}
        )


def _raw(
    start_response: Callable[..., Any],
    status: int,
    body: bytes,
    content_type: str,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    start_response(
        f"{status} Fault",
        [("Content-Type", content_type), ("Content-Length", str(len(body)))] + (headers or []),
    )
    return [body]


def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length == 0:
        return {}
    data = json.loads(environ["wsgi.input"].read(length))
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def public_host(bind_host: str, advertised: str | None = None) -> str:
    """The host name for URLs: ``advertised`` if given, else the bind host.

    A wildcard bind address (``0.0.0.0``, ``::``) is not a place to connect to, so URLs then name
    ``127.0.0.1``, which reaches the server from its own machine; other machines or containers
    need the name they use, given as ``advertised``.
    """
    if advertised:
        return advertised
    return "127.0.0.1" if bind_host in WILDCARD_HOSTS else bind_host


#: The simulators' listen backlog (connections the kernel queues before they are accepted).
LISTEN_BACKLOG = 1024


class SimulatorServer:
    """A cheroot server on a background thread; ``port=0`` picks a free port.

    ``advertised_host`` is the host name ``base_url`` shows (see :func:`public_host`).
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 64,
        tls: tuple[str, str] | None = None,
        advertised_host: str | None = None,
    ) -> None:
        # cheroot's default listen backlog is 5: a burst of new connections (a worker's writer
        # threads starting together) overflows it, and each refused SYN costs its client the
        # kernel's 1-second SYN retransmit. A real API's listener has a deep backlog.
        self._server = wsgi.Server(
            (host, port), app, numthreads=threads, max=-1, request_queue_size=LISTEN_BACKLOG
        )
        self._server.nodelay = True
        if tls is not None:
            cert_file, key_file = tls
            self._server.ssl_adapter = BuiltinSSLAdapter(cert_file, key_file)
        self._scheme = "https" if tls else "http"
        self._host = public_host(host, advertised_host)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http(s)://host:port`` once started (an IPv6 address in brackets)."""
        port = self._server.bind_addr[1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{self._scheme}://{host}:{port}"

    def start(self) -> None:
        """Bind, then serve on a daemon thread; returns once the socket listens."""
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, name="sim-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, finish in-flight requests, join the thread."""
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)


def serve_until_signal(start: Callable[[], str], stop: Callable[[], None]) -> int:
    """Start a simulator, print its base URL on one line, serve until SIGTERM/SIGINT, exit 0."""
    done = threading.Event()

    def _handler(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    url = start()
    print(url, flush=True)
    done.wait()
    stop()
    return 0
