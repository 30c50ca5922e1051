"""A Bayeux (CometD) long-poll client for Salesforce's Streaming API, on requests.

Why not an existing client: the maintained Python ones are asyncio-only, or store the replay id
themselves before the event is safe (a crash then loses the event). This one never stores or
acknowledges anything: it yields each batch of events that a ``/meta/connect`` returned, and asks
the caller, at every (re)subscribe, which replay id to resume from (``replay_from``), so that the
caller's latest *safely stored* id is always the one used.

Protocol: handshake, then subscribe each channel with ``ext.replay``, then ``/meta/connect`` long
polls honouring the server's advice. Recovery (see docs/adapters-salesforce.md):

- ``403::Unknown client`` or advice ``reconnect: handshake``: handshake and subscribe again;
- HTTP 401 or ``401::...``: log in again (``auth.refresh``), then handshake;
- subscribe refused with ``400::The replayId ... invalid``: ``on_invalid_replay(channel)`` gives
  the id to use (the caller reconciles first), and the channel is subscribed again;
- connection errors, timeouts, 5xx and other failures: capped exponential backoff with full
  jitter, then handshake again.

This module is protocol only: turning payloads into billsync messages is the ingest worker's job.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from adapters.salesforce.auth import transport_error
from billsync.errors import AuthenticationFailed, PermanentError, TransientError

log = logging.getLogger(__name__)

REPLAY_NEW = -1
REPLAY_ALL = -2
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 30.0
MAX_RELOGINS = 3
MAX_INVALID_REPLAY_ROUNDS = 3
CONTROL_TIMEOUT_S = 15.0


class StreamAuth(Protocol):
    """What the client needs of the login (``adapters.salesforce.auth.SalesforceAuth``)."""

    instance_url: str

    @property
    def access_token(self) -> str: ...

    def refresh(self, stale: str | None = None) -> str: ...

    def new_session(self) -> requests.Session: ...


@dataclass(frozen=True)
class StreamEvent:
    """One delivered event: its channel, opaque replay id, payload and local arrival time."""

    channel: str
    replay_id: int
    payload: dict[str, Any]
    received_at: float


class _Rehandshake(Exception):
    """The server forgot this client (or advised a handshake): handshake and subscribe again."""


class _Relogin(Exception):
    """The server refused the token: log in again, then handshake."""


def backoff_delay(
    failures: int, *, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**(failures-1))]."""
    ceiling = min(cap, base * (2 ** max(0, failures - 1)))
    return random.uniform(0, ceiling)


def read_timeout(advised_ms: float) -> float:
    """The long-poll socket read timeout: a little above the server's advised hold time."""
    advised = advised_ms / 1000.0
    return advised + min(10.0, max(2.0, advised * 0.1))


def is_invalid_replay(error: str) -> bool:
    """True for the subscribe error Salesforce gives for an unknown or expired replay id."""
    return error.startswith("400") and "replayid" in error.lower() and "invalid" in error.lower()


class StreamingClient:
    """Long-polls ``/cometd/<version>`` for ``channels`` and yields batches of StreamEvents.

    Counters ``handshakes``, ``subscriptions`` (completed subscribe rounds), ``connects`` and
    ``relogins`` are for metrics and tests.
    """

    def __init__(
        self,
        auth: StreamAuth,
        channels: Sequence[str],
        *,
        api_version: str = "59.0",
        replay_from: Callable[[str], int] = lambda channel: REPLAY_NEW,
        on_invalid_replay: Callable[[str], int] | None = None,
        timeout_s: float = 120.0,
        backoff_cap_s: float = BACKOFF_CAP_S,
    ) -> None:
        if not channels:
            raise ValueError("StreamingClient needs at least one channel")
        self.auth = auth
        self.channels = tuple(dict.fromkeys(channels))
        self.endpoint = f"{auth.instance_url.rstrip('/')}/cometd/{api_version}"
        self.replay_from = replay_from
        self.on_invalid_replay = on_invalid_replay
        self.backoff_cap_s = backoff_cap_s
        self.handshakes = 0
        self.subscriptions = 0
        self.connects = 0
        self.relogins = 0
        self._session = auth.new_session()
        self._read_timeout = timeout_s
        self._interval_s = 0.0
        self._client_id: str | None = None
        self._token_used: str | None = None
        self._pending: list[StreamEvent] = []
        self._ids = itertools.count(1)
        self._closed = threading.Event()
        self._running = False

    # -- public ------------------------------------------------------------------------------

    def events(self, stop: threading.Event) -> Iterator[list[StreamEvent]]:
        """Yield each non-empty batch a ``/meta/connect`` returns, until ``stop`` is set.

        ``stop`` is checked between long polls, so it takes effect within the server's advised
        hold time; nothing is lost by abandoning the loop, since nothing is stored here.
        Raises PermanentError (for instance AuthenticationFailed) when recovery cannot help.
        """
        self._running = True
        try:
            yield from self._loop(stop)
        finally:
            self._running = False
            if self._closed.is_set():
                self._session.close()

    def _loop(self, stop: threading.Event) -> Iterator[list[StreamEvent]]:
        failures = relogins = 0
        while not (stop.is_set() or self._closed.is_set()):
            try:
                batch = self._poll()
            except _Rehandshake as exc:
                failures += 1
                self._forget(f"server asked for a new handshake ({exc})")
                self._pause(stop, failures, immediate_first=True)
                continue
            except _Relogin as exc:
                failures += 1
                self._forget(f"authentication refused ({exc})")
                refreshed = self._relogin(relogins)
                relogins += int(refreshed)
                self._pause(stop, failures, immediate_first=refreshed)
                continue
            except TransientError as exc:
                failures += 1
                self._forget(str(exc))
                self._pause(stop, failures, immediate_first=False)
                continue
            failures = relogins = 0
            if batch:
                yield batch
            if self._interval_s > 0:
                stop.wait(self._interval_s)

    def close(self) -> None:
        """Send ``/meta/disconnect`` (best effort) and end ``events``; safe to call twice.

        Called from another thread it also ends a long poll in progress at once, since the
        server answers a held ``/meta/connect`` when its client disconnects.
        """
        self._closed.set()
        client_id, self._client_id = self._client_id, None
        if client_id is not None:
            message = {"channel": "/meta/disconnect", "clientId": client_id, "id": self._next_id()}
            side = self.auth.new_session()
            side.cookies.update(self._session.cookies)
            with contextlib.suppress(TransientError, PermanentError, _Rehandshake, _Relogin):
                self._post([message], CONTROL_TIMEOUT_S, session=side)
            side.close()
        if not self._running:
            self._session.close()

    # -- protocol steps ----------------------------------------------------------------------

    def _poll(self) -> list[StreamEvent]:
        """One long poll, after a handshake and subscriptions when there is no client yet."""
        if self._client_id is None:
            self._handshake()
            self._subscribe_all()
        return self._connect()

    def _handshake(self) -> None:
        message = {
            "channel": "/meta/handshake",
            "version": "1.0",
            "minimumVersion": "1.0",
            "supportedConnectionTypes": ["long-polling"],
            "ext": {"replay": True},
            "id": self._next_id(),
        }
        reply = self._meta_reply(self._post([message], CONTROL_TIMEOUT_S), "/meta/handshake")
        if not reply.get("successful"):
            self._raise_for(reply, "handshake")
        client_id = reply.get("clientId")
        if not isinstance(client_id, str) or not client_id:
            raise TransientError("Salesforce streaming: handshake reply without a clientId")
        self._client_id = client_id
        self.handshakes += 1
        self._take_advice(reply)

    def _subscribe_all(self) -> None:
        wanted = {channel: int(self.replay_from(channel)) for channel in self.channels}
        for _ in range(MAX_INVALID_REPLAY_ROUNDS):
            replies = self._post([self._subscribe_message(c, r) for c, r in wanted.items()])
            retry = {}
            for channel in wanted:
                reply = self._subscribe_reply(replies, channel)
                if reply.get("successful"):
                    continue
                error = str(reply.get("error", ""))
                if not is_invalid_replay(error):
                    self._raise_for(reply, f"subscribe {channel}")
                retry[channel] = self._replacement_replay(channel, wanted[channel])
            if not retry:
                self.subscriptions += 1
                return
            wanted = retry
        raise PermanentError("Salesforce streaming: replay ids refused again after reconciling")

    def _connect(self) -> list[StreamEvent]:
        message = {
            "channel": "/meta/connect",
            "clientId": self._client_id,
            "connectionType": "long-polling",
            "id": self._next_id(),
        }
        replies = self._post([message], self._read_timeout)
        self.connects += 1
        reply = self._meta_reply(replies, "/meta/connect")
        self._take_advice(reply)
        batch, self._pending = self._pending, []
        if not reply.get("successful"):
            self._pending = batch
            self._raise_for(reply, "connect")
        return batch

    # -- recovery ----------------------------------------------------------------------------

    def _replacement_replay(self, channel: str, refused: int) -> int:
        log.warning("replay id %s refused for %s; reconciling", refused, channel)
        if self.on_invalid_replay is None:
            return REPLAY_ALL
        return int(self.on_invalid_replay(channel))

    def _relogin(self, relogins: int) -> bool:
        """Log in again; False when the login itself failed for now (back off, then retry)."""
        if relogins >= MAX_RELOGINS:
            raise AuthenticationFailed(
                "Salesforce streaming: the server refused freshly issued tokens "
                f"{MAX_RELOGINS} times in a row"
            )
        try:
            self.auth.refresh(stale=self._token_used)
        except TransientError as exc:
            log.warning("streaming login failed for now: %s", exc)
            return False
        self.relogins += 1
        return True

    def _forget(self, reason: str) -> None:
        log.info("streaming client %s: %s", "reset" if self._client_id else "retry", reason)
        self._client_id = None

    def _pause(self, stop: threading.Event, failures: int, *, immediate_first: bool) -> None:
        if immediate_first and failures == 1:
            return
        stop.wait(backoff_delay(failures, cap=self.backoff_cap_s))

    @staticmethod
    def _raise_for(reply: dict[str, Any], step: str) -> None:
        error = str(reply.get("error", ""))
        advice = reply.get("advice") if isinstance(reply.get("advice"), dict) else {}
        reconnect = advice.get("reconnect") if advice else None
        if error.startswith("401"):
            raise _Relogin(error)
        if error.startswith("403::Unknown client") or reconnect == "handshake":
            raise _Rehandshake(error or "advice reconnect=handshake")
        if step.startswith("subscribe") and error.startswith("4"):
            raise PermanentError(f"Salesforce streaming: {step} refused: {error}")
        raise TransientError(f"Salesforce streaming: {step} failed: {error or 'no reason given'}")

    # -- wire --------------------------------------------------------------------------------

    def _post(
        self,
        messages: list[dict[str, Any]],
        read_timeout_s: float = CONTROL_TIMEOUT_S,
        *,
        session: requests.Session | None = None,
    ) -> list[dict[str, Any]]:
        token = self.auth.access_token
        self._token_used = token
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            response = (session or self._session).post(
                self.endpoint,
                json=messages,
                headers=headers,
                timeout=(CONTROL_TIMEOUT_S, read_timeout_s),
            )
        except requests.RequestException as exc:
            raise transport_error(exc, "Salesforce streaming") from None
        status = response.status_code
        if status == 401:
            raise _Relogin(f"HTTP {status}")
        if status >= 500 or status in (408, 429):
            raise TransientError(f"Salesforce streaming: HTTP {status}")
        replies = _json_list(response)
        if replies is None:
            if status >= 400:
                raise PermanentError(f"Salesforce streaming: HTTP {status} from {self.endpoint}")
            raise TransientError("Salesforce streaming: unreadable reply")
        return self._split(replies)

    def _split(self, replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Keep the meta replies; queue every data message as a StreamEvent."""
        meta = []
        now = time.time()
        for message in replies:
            channel = str(message.get("channel", ""))
            if channel.startswith("/meta/"):
                meta.append(message)
                continue
            event = _to_event(channel, message.get("data"), now)
            if event is None:
                log.warning("ignored a message on %s without a replay id", channel)
            else:
                self._pending.append(event)
        return meta

    def _subscribe_message(self, channel: str, replay_id: int) -> dict[str, Any]:
        return {
            "channel": "/meta/subscribe",
            "clientId": self._client_id,
            "subscription": channel,
            "ext": {"replay": {channel: replay_id}},
            "id": self._next_id(),
        }

    @staticmethod
    def _subscribe_reply(replies: list[dict[str, Any]], channel: str) -> dict[str, Any]:
        for reply in replies:
            if reply.get("channel") == "/meta/subscribe" and reply.get("subscription") == channel:
                return reply
        unnamed = [r for r in replies if r.get("channel") == "/meta/subscribe"]
        if len(unnamed) == 1 and not unnamed[0].get("successful"):
            return unnamed[0]
        raise TransientError(f"Salesforce streaming: no subscribe reply for {channel}")

    @staticmethod
    def _meta_reply(replies: list[dict[str, Any]], channel: str) -> dict[str, Any]:
        for reply in replies:
            if reply.get("channel") == channel:
                return reply
        raise TransientError(f"Salesforce streaming: no {channel} reply")

    def _take_advice(self, reply: dict[str, Any]) -> None:
        advice = reply.get("advice")
        if not isinstance(advice, dict):
            return
        if isinstance(advice.get("timeout"), (int, float)):
            self._read_timeout = read_timeout(float(advice["timeout"]))
        if isinstance(advice.get("interval"), (int, float)):
            self._interval_s = max(0.0, float(advice["interval"]) / 1000.0)

    def _next_id(self) -> str:
        return str(next(self._ids))

    def __repr__(self) -> str:
        return f"StreamingClient({self.endpoint!r}, channels={list(self.channels)!r})"


def _to_event(channel: str, data: Any, received_at: float) -> StreamEvent | None:
    if not isinstance(data, dict):
        return None
    event = data.get("event")
    replay_id = event.get("replayId") if isinstance(event, dict) else None
    if not isinstance(replay_id, int) or isinstance(replay_id, bool):
        return None
    payload = data.get("payload", data.get("sobject", {}))
    return StreamEvent(
        channel, replay_id, payload if isinstance(payload, dict) else {}, received_at
    )


def _json_list(response: requests.Response) -> list[dict[str, Any]] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return None
    return [m for m in body if isinstance(m, dict)]
