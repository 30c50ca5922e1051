"""What ``billsync queues`` shows: depth, consumers and rates of every billsync queue.

The management API knows most (ready, unacked, consumers, publish/deliver/ack rates); when it is
not enabled or not reachable, a passive declare over AMQP still gives ready and consumer counts.
The embedded ``memory://`` broker only knows its ready counts, and only inside its own process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import kombu
import pika
import pika.exceptions
import requests

from adapters.broker import urls
from adapters.broker.topology import Topology
from adapters.broker.urls import credentials, is_amqp, pika_parameters, scrub, virtual_host
from billsync.errors import TransientError

MANAGEMENT_TIMEOUT_S = 3.0
NOT_FOUND = 404


@dataclass
class QueueFigures:
    """One queue's figures; ``None`` where the source cannot know (unacked without management)."""

    name: str
    ready: int
    unacked: int | None
    consumers: int
    publish_rate: float | None
    deliver_rate: float | None
    ack_rate: float | None
    source: str  # "management" | "declare" | "memory"


class ManagementUnavailable(Exception):
    """The management API did not answer usefully; the caller falls back to passive declares."""


def queue_figures(
    broker_url: str, topology: Topology, management_url: str | None = None
) -> list[QueueFigures]:
    """Figures for the topology's queues (and, via management, any other ``<prefix>.*`` queue).

    Queues that do not exist yet are left out. Raises TransientError when the broker itself
    cannot be reached; error messages never carry the password.
    """
    if not is_amqp(broker_url):
        return _memory_figures(broker_url, topology)
    base = management_url or urls.management_url(broker_url)
    try:
        return _management_figures(base, virtual_host(broker_url), topology)
    except ManagementUnavailable:
        return _declare_figures(broker_url, topology)


def _management_figures(base: str, vhost: str, topology: Topology) -> list[QueueFigures]:
    session = _management_session(base)
    root = _strip_credentials(base).rstrip("/")
    vhost_path = quote(vhost, safe="")
    names = list(topology.inspected_queue_names)
    listing = _get_json(session, f"{root}/api/queues/{vhost_path}?columns=name")
    names += sorted(
        q["name"]
        for q in listing
        if q["name"].startswith(f"{topology.prefix}.") and q["name"] not in names
    )
    figures = []
    for name in names:
        url = f"{root}/api/queues/{vhost_path}/{quote(name, safe='')}"
        info = _get_json(session, url, missing_ok=True)
        if info is not None:
            figures.append(_from_management(info))
    return figures


def _management_session(base: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.auth = credentials(base)
    return session


def _strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme or "http", host, parts.path, "", ""))


def _get_json(session: requests.Session, url: str, *, missing_ok: bool = False) -> Any:
    try:
        response = session.get(url, timeout=MANAGEMENT_TIMEOUT_S)
    except requests.RequestException as exc:
        raise ManagementUnavailable(type(exc).__name__) from None
    if response.status_code == NOT_FOUND and missing_ok:
        return None
    if response.status_code != 200:
        raise ManagementUnavailable(f"HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise ManagementUnavailable("not JSON") from None


def _from_management(info: dict[str, Any]) -> QueueFigures:
    stats = info.get("message_stats") or {}

    def rate(name: str) -> float:
        return float((stats.get(f"{name}_details") or {}).get("rate", 0.0))

    return QueueFigures(
        name=info["name"],
        ready=int(info.get("messages_ready", 0)),
        unacked=int(info.get("messages_unacknowledged", 0)),
        consumers=int(info.get("consumers", 0)),
        publish_rate=rate("publish"),
        deliver_rate=rate("deliver_get"),
        ack_rate=rate("ack"),
        source="management",
    )


def _declare_figures(broker_url: str, topology: Topology) -> list[QueueFigures]:
    try:
        connection = pika.BlockingConnection(pika_parameters(broker_url))
    except pika.exceptions.AMQPError as exc:
        cause = str(exc) or ", ".join(repr(a) for a in exc.args)
        text = scrub(f"{type(exc).__name__}: {cause}".strip(), broker_url)
        where = urls.redact(broker_url)
        raise TransientError(
            f"cannot reach the broker at {where} to inspect queues: {text}"
        ) from None
    figures = []
    try:
        for name in topology.inspected_queue_names:
            channel = connection.channel()
            try:
                ok = channel.queue_declare(name, passive=True).method
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code == NOT_FOUND:
                    continue
                raise
            figures.append(
                QueueFigures(
                    name, ok.message_count, None, ok.consumer_count, None, None, None, "declare"
                )
            )
            channel.close()
    except pika.exceptions.AMQPError as exc:
        text = scrub(f"{type(exc).__name__}: {exc}", broker_url)
        raise TransientError(f"queue inspection failed: {text}") from None
    finally:
        if connection.is_open:
            connection.close()
    return figures


def _memory_figures(broker_url: str, topology: Topology) -> list[QueueFigures]:
    figures = []
    with kombu.Connection(broker_url) as connection:
        for name in topology.inspected_queue_names:
            channel = connection.channel()
            try:
                ok = channel.queue_declare(name, passive=True)
            except connection.channel_errors:
                continue
            finally:
                channel.close()
            figures.append(
                QueueFigures(
                    name, ok.message_count, None, ok.consumer_count, None, None, None, "memory"
                )
            )
    return figures
