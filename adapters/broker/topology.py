"""The RabbitMQ topology billsync relies on, as kombu entities declared idempotently at start-up.

One direct exchange ``<prefix>`` routes changes (routing key ``change``) to the quorum work queue
``<prefix>.changes``. The broker dead-letters whatever a worker rejects, or whatever trips the
delivery limit (a poison message that keeps crashing workers), through the fanout exchange
``<prefix>.dlx`` into the quorum queue ``<prefix>.dead``, where the archiver moves it into the
store for operators to list, replay and purge. The dead-letter queue is bounded
(``x-max-length``): when the archiver is away and it fills, the broker drops the oldest
(``drop-head``) into the small ``<prefix>.dropped`` queue, where the archiver counts and logs each
one (``billsync_dead_letters_dropped``) before discarding it. Queue arguments are RabbitMQ's;
kombu's in-memory transport ignores them, so the embedded demo
declares the same names and routes the same way (without broker-side dead-lettering).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import kombu
from kombu import Exchange, Queue
from kombu.exceptions import OperationalError

from billsync.errors import ConfigError, TransientError

log = logging.getLogger("billsync.broker")

CHANGE_ROUTING_KEY = "change"
DEFAULT_PREFIX = "billsync"
DEFAULT_DELIVERY_LIMIT = 5
DEFAULT_DEAD_LETTER_MAX_LENGTH = 100_000
#: The dropped-dead-letter queue only needs to hold what the archiver has not counted yet.
DROPPED_MAX_LENGTH = 10_000
PRECONDITION_FAILED = 406


@dataclass(frozen=True)
class Topology:
    """Names and arguments of billsync's exchanges and queues, derived from one prefix.

    Frozen and cheap to build, so every component (ingest, workers, CLI, bench) derives the same
    names from the same settings instead of spelling them out.
    """

    prefix: str = DEFAULT_PREFIX
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT
    dead_letter_max_length: int = DEFAULT_DEAD_LETTER_MAX_LENGTH

    @property
    def exchange_name(self) -> str:
        """The direct exchange producers publish to."""
        return self.prefix

    @property
    def work_queue_name(self) -> str:
        """The quorum queue workers consume changes from."""
        return f"{self.prefix}.changes"

    @property
    def dead_letter_exchange_name(self) -> str:
        """The fanout exchange the broker dead-letters into."""
        return f"{self.prefix}.dlx"

    @property
    def dead_letter_queue_name(self) -> str:
        """The quorum queue that keeps dead letters until an operator acts on them."""
        return f"{self.prefix}.dead"

    @property
    def dropped_exchange_name(self) -> str:
        """The fanout exchange the full dead-letter queue drops its oldest letters into."""
        return f"{self.prefix}.dropped"

    @property
    def dropped_queue_name(self) -> str:
        """The queue where dropped dead letters wait to be counted."""
        return f"{self.prefix}.dropped"

    @property
    def routing_key(self) -> str:
        """The routing key of change messages."""
        return CHANGE_ROUTING_KEY

    @property
    def inspected_queue_names(self) -> tuple[str, ...]:
        """The queues operators watch (``billsync queues``): the work and dead-letter queues.
        The dropped queue is counted by the archiver (``billsync_dead_letters_dropped``)."""
        return (self.work_queue_name, self.dead_letter_queue_name)

    @property
    def queue_names(self) -> tuple[str, ...]:
        """Every queue of the topology, work queue first."""
        return (self.work_queue_name, self.dead_letter_queue_name, self.dropped_queue_name)

    def exchange(self) -> Exchange:
        """The durable direct exchange for changes."""
        return Exchange(self.exchange_name, type="direct", durable=True)

    def dead_letter_exchange(self) -> Exchange:
        """The durable fanout exchange for dead letters."""
        return Exchange(self.dead_letter_exchange_name, type="fanout", durable=True)

    def work_queue_arguments(self) -> dict[str, Any]:
        """Quorum, delivery-limited, dead-lettered at least once, refusing publishes when full."""
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": self.dead_letter_exchange_name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    def work_queue(self) -> Queue:
        """The work queue, bound to the exchange with the change routing key."""
        return Queue(
            self.work_queue_name,
            exchange=self.exchange(),
            routing_key=self.routing_key,
            durable=True,
            queue_arguments=self.work_queue_arguments(),
        )

    def dead_letter_queue(self) -> Queue:
        """The dead-letter queue: quorum, durable, no delivery limit; bounded, dropping its
        oldest letters into the dropped queue (counted there) when full."""
        return Queue(
            self.dead_letter_queue_name,
            exchange=self.dead_letter_exchange(),
            routing_key="",
            durable=True,
            queue_arguments={
                "x-queue-type": "quorum",
                "x-max-length": self.dead_letter_max_length,
                "x-overflow": "drop-head",
                "x-dead-letter-exchange": self.dropped_exchange_name,
            },
        )

    def dropped_exchange(self) -> Exchange:
        """The durable fanout exchange for dropped dead letters."""
        return Exchange(self.dropped_exchange_name, type="fanout", durable=True)

    def dropped_queue(self) -> Queue:
        """Where dropped dead letters wait to be counted: bounded, dropping for good when full."""
        return Queue(
            self.dropped_queue_name,
            exchange=self.dropped_exchange(),
            routing_key="",
            durable=True,
            queue_arguments={
                "x-queue-type": "quorum",
                "x-max-length": DROPPED_MAX_LENGTH,
                "x-overflow": "drop-head",
            },
        )

    def queues(self) -> list[Queue]:
        """Every queue with its binding, ready for a kombu Consumer or for declaring."""
        return [self.work_queue(), self.dead_letter_queue(), self.dropped_queue()]

    def declare(self, connection: kombu.Connection) -> None:
        """Declare exchanges, queues and bindings; declaring again changes nothing.

        Raises ConfigError when a queue already exists with other arguments (say another delivery
        limit), and TransientError when the broker cannot be reached.
        """
        try:
            channel = connection.default_channel
            self.dropped_queue()(channel).declare()
            try:
                self.dead_letter_queue()(channel).declare()
            except connection.channel_errors as exc:
                if getattr(exc, "code", None) != PRECONDITION_FAILED:
                    raise
                channel = self._unbounded_dead_letter_queue(connection)
            self.work_queue()(channel).declare()
        except (OperationalError, *connection.connection_errors) as exc:
            raise TransientError(f"cannot declare the topology: {_describe(exc)}") from None
        except connection.channel_errors as exc:
            if getattr(exc, "code", None) == PRECONDITION_FAILED:
                raise ConfigError(
                    f"queue or exchange under prefix {self.prefix!r} exists with other "
                    f"arguments ({_describe(exc)}); delete it or change the prefix"
                ) from None
            raise TransientError(f"cannot declare the topology: {_describe(exc)}") from None

    def _unbounded_dead_letter_queue(self, connection: kombu.Connection) -> Any:
        """A dead-letter queue declared before it was bounded keeps working (a redeclare with
        other arguments is refused): check it exists, say once how to bound it, go on."""
        channel = connection.channel()
        Queue(self.dead_letter_queue_name, channel=channel).queue_declare(passive=True)
        if self.prefix not in _warned_unbounded:
            _warned_unbounded.add(self.prefix)
            log.warning(
                "the dead-letter queue %s exists without its length bound: once it is empty, "
                "delete it (the next start declares it bounded) or set the bound with a policy "
                "(docs/messaging.md)",
                self.dead_letter_queue_name,
            )
        return channel


_warned_unbounded: set[str] = set()


def _describe(exc: BaseException) -> str:
    """The exception's class and text, which for amqp errors never carry credentials."""
    return f"{type(exc).__name__}: {exc}"
