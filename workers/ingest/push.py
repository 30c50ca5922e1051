"""Opportunity push requests from the CLI and from HTTP (an Apex callout or a Flow), SPEC §4.

Both entry points go through ``PushDesk.request``: the id must be a Salesforce id, the
opportunity must exist in Salesforce, and the request is enqueued (confirmed by the broker) as the
same ``billsync.push-request/1`` message the platform event produces. Whether the opportunity is
won, priced and its account synced is the worker's business: a request for an opportunity whose
account is not synced yet is accepted and waits there.

HTTP: ``POST /push/opportunity/<id>`` with ``Authorization: Bearer <BILLSYNC_PUSH_TOKEN>``:
202 ``{"request_id", "record_id"}``; 400 malformed id; 401 no or wrong token; 404 unknown
opportunity; 405 other methods; 503 when Salesforce or the broker is unavailable.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from adapters.broker.connections import BrokerTls
from adapters.broker.publisher import ConfirmedPublisher, open_publisher
from adapters.broker.topology import Topology
from adapters.http_server import HttpServer
from adapters.salesforce.rest import SalesforceClient
from billsync.errors import ConfigError, PermanentError, TransientError
from billsync.messages import PushRequest, encode, is_salesforce_id, push_request

log = logging.getLogger("billsync.push")

ROUTE = re.compile(r"^/push/opportunity/([^/]{1,64})/?$")
CONFIRM_TIMEOUT_S = 10.0
MAX_BODY_BYTES = 4096
MAX_HEADER_BYTES = 8192
#: A socket that sends nothing for this long (headers or body) is closed, freeing its thread.
SOCKET_TIMEOUT_S = 5
#: Worker threads: slow or idle sockets each hold one for at most SOCKET_TIMEOUT_S.
SERVER_THREADS = 32
StartResponse = Callable[..., Any]


class MalformedRecordId(PermanentError):
    """The id given is not a 15- or 18-character Salesforce id."""


class UnknownOpportunity(PermanentError):
    """Salesforce has no opportunity with that id."""


class BrokerSender:
    """Publishes one message at a time and waits for its confirm; reopens after a failure.

    Shared by the HTTP server's threads (a lock serialises them: requests are rare).
    """

    def __init__(self, url: str, topology: Topology, *, tls: BrokerTls | None = None) -> None:
        self.url = url
        self.topology = topology
        self.tls = tls
        self._lock = threading.Lock()
        self._publisher: ConfirmedPublisher | None = None

    def send(self, message: PushRequest) -> None:
        """Publish ``message`` and return once the broker confirmed it (TransientError if not)."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    publisher = self._open()
                    publisher.publish(encode(message), routing_key=self.topology.routing_key)
                    publisher.flush(timeout=CONFIRM_TIMEOUT_S)
                    return
                except TransientError:
                    self._discard()
                    if attempt == 2:
                        raise

    def close(self) -> None:
        """Close the broker connection."""
        with self._lock:
            self._discard()

    def _open(self) -> ConfirmedPublisher:
        if self._publisher is None:
            self._publisher = open_publisher(self.url, self.topology, window=16, tls=self.tls)
        return self._publisher

    def _discard(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            publisher.close()


class PushDesk:
    """Validates and enqueues opportunity push requests (the one path for CLI and HTTP)."""

    def __init__(self, salesforce: SalesforceClient, send: Callable[[PushRequest], None]) -> None:
        self.salesforce = salesforce
        self.send = send

    def request(self, record_id: str, *, source: str, requested_by: str = "") -> PushRequest:
        """Check the opportunity exists, enqueue a push request for it, return the request.

        Raises MalformedRecordId, UnknownOpportunity, or TransientError (try again).
        """
        if not isinstance(record_id, str) or not is_salesforce_id(record_id):
            raise MalformedRecordId(
                f"{str(record_id)[:40]!r} is not a Salesforce id (15 or 18 letters and digits)"
            )
        if self.salesforce.get("Opportunity", record_id) is None:
            raise UnknownOpportunity(f"Salesforce has no opportunity {record_id}")
        message = push_request(record_id, source=source, requested_by=requested_by[:255])
        self.send(message)
        log.info(
            "push requested for opportunity %s (%s, request %s)", record_id, source, message.id
        )
        return message


class PushEndpoint:
    """The WSGI application of the push endpoint."""

    def __init__(self, desk: PushDesk, token: str) -> None:
        if len(token) < 16:
            raise ConfigError("BILLSYNC_PUSH_TOKEN must be set to at least 16 characters")
        self.desk = desk
        self._token = token.encode()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request (see the module docstring for the statuses)."""
        match = ROUTE.match(environ.get("PATH_INFO", ""))
        if match is None:
            return _reply(start_response, 404, {"error": "not found"})
        if environ.get("REQUEST_METHOD") != "POST":
            return _reply(start_response, 405, {"error": "use POST"}, [("Allow", "POST")])
        if not self._authorised(environ.get("HTTP_AUTHORIZATION", "")):
            headers = [("WWW-Authenticate", 'Bearer realm="billsync"')]
            return _reply(start_response, 401, {"error": "missing or wrong bearer token"}, headers)
        requested_by = _requested_by(environ)
        try:
            request = self.desk.request(match.group(1), source="http", requested_by=requested_by)
        except MalformedRecordId as exc:
            return _reply(start_response, 400, {"error": str(exc)})
        except UnknownOpportunity as exc:
            return _reply(start_response, 404, {"error": str(exc)})
        except TransientError as exc:
            return _reply(
                start_response, 503, {"error": f"{exc}; try again"}, [("Retry-After", "5")]
            )
        except PermanentError as exc:
            return _reply(start_response, 502, {"error": str(exc)})
        body = {"request_id": request.id, "record_id": request.record_id, "status": "accepted"}
        return _reply(start_response, 202, body)

    def _authorised(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            return False
        return hmac.compare_digest(given.strip().encode(), self._token)


class PushServer(HttpServer):
    """The push endpoint, bounded: header and body sizes (413/431 beyond them), a read timeout per
    socket, and enough threads that a few slow sockets cannot hold them all."""

    def __init__(
        self,
        endpoint: PushEndpoint,
        *,
        host: str = "127.0.0.1",
        port: int = 8088,
        threads: int = SERVER_THREADS,
        timeout_s: int = SOCKET_TIMEOUT_S,
    ) -> None:
        super().__init__(
            endpoint,
            host=host,
            port=port,
            threads=threads,
            timeout_s=timeout_s,
            max_header_bytes=MAX_HEADER_BYTES,
            max_body_bytes=MAX_BODY_BYTES,
            name="billsync-push-http",
        )


def _requested_by(environ: dict[str, Any]) -> str:
    try:
        length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY_BYTES)
    except ValueError:
        return ""
    if length <= 0:
        return ""
    try:
        body = json.loads(environ["wsgi.input"].read(length))
    except ValueError:
        return ""
    value = body.get("requested_by") if isinstance(body, dict) else None
    return value[:255] if isinstance(value, str) else ""


def _reply(
    start_response: StartResponse,
    status: int,
    body: dict[str, Any],
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    data = json.dumps(body).encode()
    reasons = {
        202: "Accepted",
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        405: "Method Not Allowed",
        502: "Bad Gateway",
        503: "Service Unavailable",
    }
    start_response(
        f"{status} {reasons[status]}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            *(headers or []),
        ],
    )
    return [data]
