"""The org's event bus: retained change and platform events with replay ids, and live delivery.

Every published event gets an opaque, increasing, non-contiguous replay id, is kept for the
retention window, and is handed at once to every subscribed CometD client. A platform event (one
published on ``/event/...`` channels only) also gets its ``EventUuid``, which CometD delivers
beside the replay id in the message's ``event`` object. Publishing happens
under the org lock, so replay ids follow commit order; the bus's own lock is held only briefly and
never during a long poll (clients wait on their own conditions).
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

REPLAY_NEW = -1
REPLAY_ALL = -2
DEFAULT_MAX_EVENTS = 1_000_000


class Subscriber(Protocol):
    """What the bus needs of a CometD client: somewhere to put messages."""

    def deliver(self, messages: list[str]) -> None: ...


@dataclass
class StoredEvent:
    """One retained event: its replay id, channels, the encoded ``data`` and when it was stored."""

    replay_id: int
    channels: tuple[str, ...]
    data_json: str
    stored_at: float

    def message(self, channel: str) -> str:
        """The Bayeux message (JSON text) for one of its channels."""
        return f'{{"channel": {json.dumps(channel)}, "data": {self.data_json}}}'


@dataclass
class EventBus:
    """Retained events plus channel subscriptions; see the module docstring."""

    retention_hours: float = 72.0
    seed: int = 0
    max_events: int = DEFAULT_MAX_EVENTS
    clock: Callable[[], float] = time.time
    lock: threading.Lock = field(default_factory=threading.Lock)
    _log: deque[StoredEvent] = field(default_factory=deque)
    _by_id: dict[int, StoredEvent] = field(default_factory=dict)
    _subscribers: dict[str, set[Any]] = field(default_factory=dict)
    _last_id: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def publish(self, channels: tuple[str, ...], data: dict[str, Any]) -> int:
        """Store one event, give it a replay id (written into ``data``), deliver it; the id."""
        with self.lock:
            self._prune()
            self._last_id += self._rng.randint(1, 7)
            data["event"] = {"replayId": self._last_id}
            if all(channel.startswith("/event/") for channel in channels):
                data["event"] = {
                    "EventUuid": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                    "replayId": self._last_id,
                }
            event = StoredEvent(self._last_id, channels, json.dumps(data), self.clock())
            self._log.append(event)
            self._by_id[event.replay_id] = event
            for channel in channels:
                for client in self._subscribers.get(channel, ()):
                    client.deliver([event.message(channel)])
            return event.replay_id

    def subscribe(self, client: Subscriber, channel: str, replay_from: int) -> bool:
        """Subscribe, queueing retained events after ``replay_from``; False for an unknown id."""
        with self.lock:
            self._prune()
            if replay_from == REPLAY_ALL:
                backlog = [e for e in self._log if channel in e.channels]
            elif replay_from == REPLAY_NEW:
                backlog = []
            elif replay_from in self._by_id:
                backlog = [
                    e for e in self._log if e.replay_id > replay_from and channel in e.channels
                ]
            else:
                return False
            if backlog:
                client.deliver([e.message(channel) for e in backlog])
            self._subscribers.setdefault(channel, set()).add(client)
            return True

    def unsubscribe(self, client: Subscriber, channel: str | None = None) -> None:
        """Drop one subscription of a client, or all of them when ``channel`` is None."""
        with self.lock:
            channels = [channel] if channel else list(self._subscribers)
            for name in channels:
                self._subscribers.get(name, set()).discard(client)

    def age(self, hours: float) -> int:
        """Make every retained event ``hours`` older (then apply retention); events left."""
        with self.lock:
            for event in self._log:
                event.stored_at -= hours * 3600.0
            self._prune()
            return len(self._log)

    def clear(self) -> None:
        """Forget every event and subscription (replay ids keep increasing)."""
        with self.lock:
            self._log.clear()
            self._by_id.clear()
            self._subscribers.clear()

    def retained(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Retained events (optionally of one channel) as decoded ``data`` dicts, oldest first."""
        with self.lock:
            self._prune()
            return [
                json.loads(e.data_json)
                for e in self._log
                if channel is None or channel in e.channels
            ]

    @property
    def last_replay_id(self) -> int:
        """The newest replay id issued (0 before the first event)."""
        return self._last_id

    def _prune(self) -> None:
        horizon = self.clock() - self.retention_hours * 3600.0
        log = self._log
        while log and (log[0].stored_at < horizon or len(log) > self.max_events):
            del self._by_id[log.popleft().replay_id]
