"""The Streaming API: Bayeux over long polling at ``/cometd/NN.N``.

Each CometD client has its own message queue and condition variable, so a ``/meta/connect`` that
waits for events holds no shared lock and many clients can poll at once. Subscribing with
``ext.replay`` queues the retained events after the given replay id before live delivery starts;
the bus does both under its lock, so nothing falls between replay and live events.

Sessions: the handshake sets the ``BAYEUX_BROWSER`` cookie and later messages must send it back.
An expired or unknown session answers HTTP 401 with ``401::Authentication invalid`` (advice
``reconnect: none``) for every message of the request.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulators.salesforce.eventbus import REPLAY_ALL, REPLAY_NEW, EventBus
from simulators.salesforce.schema import SCHEMA

MIN_VERSION = 37.0
IDLE_EXPIRY_S = 40.0
MAX_QUEUED = 50_000
INVALID_REPLAY = (
    "400::The replayId {{{replay}}} you provided was invalid.  Please provide a valid ID, "
    "-2 to replay all events, or -1 to replay only new events."
)


def known_channels() -> set[str]:
    """Every channel a client may subscribe to."""
    channels = {"/data/ChangeEvents"}
    for obj in SCHEMA.values():
        if obj.platform_event:
            channels.add(f"/event/{obj.name}")
        else:
            channels.add(obj.change_event_channel)
    return channels


@dataclass(eq=False)
class BayeuxClient:
    """One handshaken client: its queue of encoded messages and its own condition variable."""

    client_id: str
    browser: str
    condition: threading.Condition = field(default_factory=threading.Condition)
    queue: deque[str] = field(default_factory=deque)
    connected_once: bool = False
    polling: int = 0
    last_seen: float = field(default_factory=time.monotonic)
    overflowed: bool = False

    def deliver(self, messages: list[str]) -> None:
        """Queue messages and wake a waiting long poll (called under the bus lock)."""
        with self.condition:
            if len(self.queue) + len(messages) > MAX_QUEUED:
                self.overflowed = True
                return
            self.queue.extend(messages)
            self.condition.notify_all()

    def take(self, timeout: float) -> list[str]:
        """Wait up to ``timeout`` s for messages; take all that are queued."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while not self.queue and not self.overflowed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.condition.wait(remaining)
            taken = list(self.queue)
            self.queue.clear()
            return taken


class LongPollDropped(ConnectionResetError):
    """Raised to close a long poll without any response (the ``drop_longpoll_rate`` fault)."""


class CometdServer:
    """Bayeux message handling; ``handle`` answers one HTTP request's message array."""

    def __init__(
        self,
        bus: EventBus,
        *,
        longpoll_timeout_s: float,
        drop_roll: Callable[[], bool],
        seed: int = 0,
    ) -> None:
        self.bus = bus
        self.longpoll_timeout_s = longpoll_timeout_s
        self.drop_roll = drop_roll
        self.channels = known_channels()
        self._clients: dict[str, BayeuxClient] = {}
        self._lock = threading.Lock()
        self._rng = random.Random(seed ^ 0xC0)
        self._last_sweep = time.monotonic()

    @property
    def advice(self) -> dict[str, Any]:
        """The advice sent with handshake and connect replies."""
        return {
            "interval": 0,
            "timeout": int(self.longpoll_timeout_s * 1000),
            "reconnect": "retry",
        }

    def forget_clients(self) -> int:
        """Drop every client (``POST /__sim/forget-clients``); how many there were."""
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            self._drop(client)
        return len(clients)

    def client_count(self) -> int:
        """Clients currently known."""
        return len(self._clients)

    def unauthorized(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replies for a request whose session is expired or unknown."""
        return [
            _reply(
                m,
                successful=False,
                error="401::Authentication invalid",
                advice={"reconnect": "none"},
            )
            for m in messages
        ]

    def handle(
        self, messages: list[dict[str, Any]], browser: str | None
    ) -> tuple[list[str], str | None]:
        """Answer a message array: encoded replies and events, and a cookie to set (if any)."""
        self._sweep()
        out: list[str] = []
        new_cookie: str | None = None
        for message in messages:
            channel = message.get("channel", "")
            if channel == "/meta/handshake":
                reply, new_cookie = self._handshake(message)
                browser = new_cookie
                out.append(json.dumps(reply))
                continue
            client = self._client(message, browser)
            if client is None:
                out.append(
                    json.dumps(
                        _reply(
                            message,
                            successful=False,
                            error="403::Unknown client",
                            advice={"reconnect": "handshake"},
                        )
                    )
                )
            elif channel == "/meta/connect":
                out.extend(self._connect(client, message))
            elif channel == "/meta/subscribe":
                out.append(json.dumps(self._subscribe(client, message)))
            elif channel == "/meta/unsubscribe":
                self.bus.unsubscribe(client, message.get("subscription"))
                out.append(
                    json.dumps(
                        _reply(message, successful=True, subscription=message.get("subscription"))
                    )
                )
            elif channel == "/meta/disconnect":
                with self._lock:
                    self._clients.pop(client.client_id, None)
                self._drop(client)
                out.append(json.dumps(_reply(message, successful=True)))
            else:
                out.append(
                    json.dumps(
                        _reply(
                            message,
                            successful=False,
                            error=f"400::Publishing to {channel} is not supported",
                        )
                    )
                )
        return out, new_cookie

    def _handshake(self, message: dict[str, Any]) -> tuple[dict[str, Any], str]:
        with self._lock:
            client_id = "".join(self._rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=26))
            browser = "".join(self._rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=22))
            self._clients[client_id] = BayeuxClient(client_id, browser)
        reply = _reply(
            message,
            successful=True,
            clientId=client_id,
            version="1.0",
            minimumVersion="1.0",
            supportedConnectionTypes=["long-polling"],
            ext={"replay": True, "payload.format": True},
            advice=self.advice,
        )
        return reply, browser

    def _client(self, message: dict[str, Any], browser: str | None) -> BayeuxClient | None:
        client = self._clients.get(str(message.get("clientId", "")))
        if client is None or client.browser != browser or client.overflowed:
            return None
        client.last_seen = time.monotonic()
        return client

    def _subscribe(self, client: BayeuxClient, message: dict[str, Any]) -> dict[str, Any]:
        channel = str(message.get("subscription", ""))
        if channel not in self.channels:
            return _reply(
                message,
                successful=False,
                subscription=channel,
                error=f"403:{channel}:Unknown channel",
            )
        replay = (message.get("ext") or {}).get("replay") or {}
        raw = replay.get(channel, REPLAY_NEW) if isinstance(replay, dict) else REPLAY_NEW
        try:
            replay_from = int(raw)
        except (TypeError, ValueError):
            replay_from = 0
        if replay_from not in (REPLAY_NEW, REPLAY_ALL) and replay_from < 0:
            replay_from = 0
        if not self.bus.subscribe(client, channel, replay_from):
            return _reply(
                message,
                successful=False,
                subscription=channel,
                error=INVALID_REPLAY.format(replay=raw),
            )
        return _reply(message, successful=True, subscription=channel)

    def _connect(self, client: BayeuxClient, message: dict[str, Any]) -> list[str]:
        if client.connected_once and self.drop_roll():
            raise LongPollDropped(104, "long poll dropped by fault injection")
        requested = (message.get("advice") or {}).get("timeout")
        timeout = self.longpoll_timeout_s
        if not client.connected_once or requested == 0:
            timeout = 0.0
        client.connected_once = True
        client.polling += 1
        try:
            events = client.take(timeout)
        finally:
            client.polling -= 1
            client.last_seen = time.monotonic()
        reply = _reply(message, successful=True, clientId=client.client_id, advice=self.advice)
        return [*events, json.dumps(reply)]

    def _drop(self, client: BayeuxClient) -> None:
        self.bus.unsubscribe(client)
        with client.condition:
            client.overflowed = True
            client.condition.notify_all()

    def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < 5.0:
            return
        self._last_sweep = now
        expiry = IDLE_EXPIRY_S + self.longpoll_timeout_s
        with self._lock:
            idle = [
                c for c in self._clients.values() if not c.polling and now - c.last_seen > expiry
            ]
            for client in idle:
                del self._clients[client.client_id]
        for client in idle:
            self._drop(client)


def _reply(message: dict[str, Any], **fields: Any) -> dict[str, Any]:
    reply: dict[str, Any] = {"channel": message.get("channel")}
    if "id" in message:
        reply["id"] = message["id"]
    if "clientId" in message and "clientId" not in fields:
        reply["clientId"] = message["clientId"]
    reply.update(fields)
    return reply
