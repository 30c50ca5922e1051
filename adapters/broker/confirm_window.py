"""A pipelined confirmed publisher for RabbitMQ: pika's SelectConnection in its own I/O thread.

The producer thread hands messages over through ``add_callback_threadsafe`` (one wake-up per batch,
not per message); the I/O thread publishes them on a confirm-mode channel, reads the broker's
(possibly ``multiple``) acks, answers heartbeats while the producer is busy or idle, and releases
window space. ``on_confirm`` callbacks are queued in publication order and run back in the producer
thread. Any nack, unroutable return or lost connection fails the publisher for good: later
messages' callbacks never run, so a replay id stored by a callback never passes a lost message.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.channel
import pika.exceptions
import pika.spec
from pika.adapters.select_connection import SelectConnection

from adapters.broker.topology import Topology
from adapters.broker.urls import pika_parameters, scrub
from billsync.errors import TransientError

OPEN_TIMEOUT_S = 10.0
BLOCKED_CONNECTION_TIMEOUT_S = 60.0
CLOSE_TIMEOUT_S = 5.0
WAIT_SLICE_S = 1.0
Callback = Callable[[], None]


@dataclass
class _Outgoing:
    body: bytes
    routing_key: str
    headers: dict[str, Any] | None
    on_confirm: Callback | None


@dataclass
class _InFlight:
    tag: int
    on_confirm: Callback | None
    confirmed: bool = field(default=False)


class ConfirmWindowPublisher:
    """Keeps up to ``window`` unconfirmed persistent messages in flight on one connection.

    Safe for one producer thread; every pika call happens in the publisher's own I/O thread.
    """

    def __init__(
        self, url: str, topology: Topology, *, window: int, tls: ssl.SSLContext | None = None
    ) -> None:
        if window < 1:
            raise ValueError("the confirm window must be at least 1")
        self._url = url
        self._exchange = topology.exchange_name
        self._window = window
        self._params = pika_parameters(url, tls=tls)
        self._params.blocked_connection_timeout = BLOCKED_CONNECTION_TIMEOUT_S
        self._cond = threading.Condition()
        self._queued: deque[_Outgoing] = deque()
        self._ready: deque[Callback] = deque()
        self._unconfirmed = 0
        self._failure: str | None = None
        self._drain_scheduled = False
        self._closing = False
        self._opened = threading.Event()
        # Touched only by the I/O thread once it runs:
        self._in_order: deque[_InFlight] = deque()
        self._by_tag: dict[int, _InFlight] = {}
        self._next_tag = 0
        self._channel: pika.channel.Channel | None = None
        self._connection: SelectConnection | None = None
        self._thread = threading.Thread(target=self._run, name="billsync-publisher", daemon=True)
        self._thread.start()
        self._await_open()

    # -- producer thread ---------------------------------------------------------------------

    def publish(
        self,
        body: bytes,
        *,
        routing_key: str = "change",
        headers: dict[str, Any] | None = None,
        on_confirm: Callback | None = None,
    ) -> None:
        """Hand one message to the I/O thread; waits only while the window is full."""
        self._run_confirmed_callbacks()
        with self._cond:
            while self._unconfirmed >= self._window and self._failure is None:
                self._cond.wait(WAIT_SLICE_S)
            self._raise_if_failed()
            self._queued.append(_Outgoing(body, routing_key, headers, on_confirm))
            self._unconfirmed += 1
            wake = not self._drain_scheduled
            self._drain_scheduled = True
        if wake:
            self._call_in_io_thread(self._drain)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for every outstanding confirm, run the callbacks, raise if anything failed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._unconfirmed > 0 and self._failure is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pending = self._unconfirmed
                    break
                self._cond.wait(remaining)
            else:
                pending = 0
        self._run_confirmed_callbacks()
        with self._cond:
            self._raise_if_failed()
        if pending:
            raise TransientError(f"{pending} message(s) still unconfirmed after {timeout:g} s")

    def close(self) -> None:
        """Close the connection and stop the I/O thread; safe to call twice."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
        if self._thread.is_alive():
            self._call_in_io_thread(self._close_connection, quiet=True)
            self._thread.join(CLOSE_TIMEOUT_S)

    def _run_confirmed_callbacks(self) -> None:
        while True:
            with self._cond:
                if not self._ready:
                    return
                callback = self._ready.popleft()
            callback()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise TransientError(self._failure)
        if self._closing:
            raise TransientError("the publisher is closed")

    def _call_in_io_thread(self, callback: Callback, *, quiet: bool = False) -> None:
        connection = self._connection
        try:
            if connection is None:
                raise RuntimeError("no connection")
            connection.ioloop.add_callback_threadsafe(callback)
        except Exception as exc:  # the I/O loop is gone: the connection died or was closed
            if not quiet:
                self._fail(f"the publisher's connection is gone ({type(exc).__name__})")
                with self._cond:
                    self._raise_if_failed()

    def _await_open(self) -> None:
        if not self._opened.wait(OPEN_TIMEOUT_S):
            self.close()
            raise TransientError(f"no connection to the broker within {OPEN_TIMEOUT_S:g} s")
        with self._cond:
            failure = self._failure
        if failure is not None:
            self.close()
            raise TransientError(failure)

    def _fail(self, reason: str) -> None:
        with self._cond:
            if self._failure is None:
                self._failure = scrub(reason, self._url)
            self._cond.notify_all()

    # -- I/O thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._connection = SelectConnection(
                self._params,
                on_open_callback=self._on_connection_open,
                on_open_error_callback=self._on_open_error,
                on_close_callback=self._on_connection_closed,
            )
            self._connection.ioloop.start()
        except Exception as exc:
            self._fail(f"publisher I/O thread stopped: {type(exc).__name__}: {exc}")
        finally:
            self._opened.set()

    def _on_connection_open(self, connection: Any) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_open_error(self, connection: Any, error: BaseException) -> None:
        self._fail(f"cannot connect to the broker: {type(error).__name__}: {error}")
        connection.ioloop.stop()

    def _on_connection_closed(self, connection: Any, reason: BaseException) -> None:
        if not self._closing:
            self._fail(f"connection to the broker lost: {type(reason).__name__}: {reason}")
        else:
            self._fail("the publisher is closed")
        connection.ioloop.stop()

    def _on_channel_open(self, channel: pika.channel.Channel) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(self._on_ack_nack, callback=lambda _frame: self._opened.set())

    def _on_channel_closed(self, channel: Any, reason: BaseException) -> None:
        if isinstance(reason, pika.exceptions.ChannelClosedByBroker):
            self._fail(f"the broker closed the publishing channel: {reason}")
        elif self._closing:
            self._fail("the publisher is closed")
        else:
            self._fail(f"connection to the broker lost: {type(reason).__name__}: {reason}")
        if self._connection is not None and self._connection.is_open:
            self._connection.close()

    def _on_return(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self._fail(
            f"the broker returned a message as unroutable ({method.reply_code} "
            f"{method.reply_text}, exchange {method.exchange!r}, key {method.routing_key!r})"
        )

    def _drain(self) -> None:
        with self._cond:
            batch = list(self._queued)
            self._queued.clear()
            self._drain_scheduled = False
        channel = self._channel
        if channel is None or not channel.is_open:
            return
        for message in batch:
            self._next_tag += 1
            entry = _InFlight(self._next_tag, message.on_confirm)
            self._in_order.append(entry)
            self._by_tag[entry.tag] = entry
            properties = pika.BasicProperties(
                delivery_mode=2, content_type="application/json", headers=message.headers
            )
            channel.basic_publish(
                self._exchange, message.routing_key, message.body, properties, mandatory=True
            )

    def _on_ack_nack(self, frame: Any) -> None:
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            self._fail(f"the broker refused message {method.delivery_tag} (nack)")
            return
        confirmed = self._mark_confirmed(method.delivery_tag, method.multiple)
        callbacks = []
        while self._in_order and self._in_order[0].confirmed:
            entry = self._in_order.popleft()
            if entry.on_confirm is not None:
                callbacks.append(entry.on_confirm)
        with self._cond:
            self._unconfirmed -= confirmed
            if self._failure is None:
                self._ready.extend(callbacks)
            self._cond.notify_all()

    def _mark_confirmed(self, tag: int, multiple: bool) -> int:
        if not multiple:
            entry = self._by_tag.pop(tag, None)
            if entry is None:
                return 0
            entry.confirmed = True
            return 1
        count = 0
        for entry in self._in_order:
            if entry.tag > tag:
                break
            if not entry.confirmed:
                entry.confirmed = True
                del self._by_tag[entry.tag]
                count += 1
        return count

    def _close_connection(self) -> None:
        connection = self._connection
        if connection is not None and (connection.is_open or connection.is_opening):
            connection.close()
        elif connection is not None:
            connection.ioloop.stop()
