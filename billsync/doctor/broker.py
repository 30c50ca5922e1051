"""Doctor checks of the broker: connection, billsync's queues and their arguments, policies,
and the management plugin (which ``billsync queues`` and the metrics read when it is there)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import kombu
import requests

from adapters.broker import urls
from adapters.broker.topology import Topology
from billsync import clients
from billsync.config import DEFAULT_AMQP_URL, Settings
from billsync.doctor.report import CheckResult, fail, guarded, ok

TIMEOUT_S = 5.0
BROKER_FIX = (
    "start RabbitMQ or set BILLSYNC_BROKER_URL to it (amqp://user:password@host:5672/vhost)"
)
MANAGEMENT_FIX = (
    "enable it (rabbitmq-plugins enable rabbitmq_management) or set BILLSYNC_MANAGEMENT_URL; "
    "without it billsync queues shows no unacked counts or rates"
)
#: Policy keys that would change what billsync's queue arguments set.
POLICY_KEYS = ("delivery-limit", "dead-letter-exchange", "max-length", "overflow", "message-ttl")


def checks(settings: Settings) -> Iterator[CheckResult]:
    """Connection, topology, management plugin and policies; stops when the broker is away."""
    url = settings.broker_url_or(DEFAULT_AMQP_URL)
    where = urls.redact(url)
    topology = clients.topology(settings)
    try:
        with kombu.Connection(url, connect_timeout=TIMEOUT_S) as connection:
            connection.ensure_connection(max_retries=1, timeout=TIMEOUT_S)
            yield ok("broker.connection", f"connected to {where}")
            yield from guarded("broker.queues", lambda: [_queues(connection, topology)], BROKER_FIX)
    except Exception as exc:
        yield fail("broker.connection", f"cannot reach {where}: {type(exc).__name__}", BROKER_FIX)
        return
    if not urls.is_amqp(url):
        yield CheckResult("broker.management", "skip", "embedded transport: no management API")
        return
    base = settings.management_url or urls.management_url(url)
    session = requests.Session()
    session.trust_env = False
    session.auth = urls.credentials(base)
    root = _strip(base)
    overview = _get(session, f"{root}/api/overview")
    if overview is None:
        yield CheckResult(
            "broker.management", "warn", f"no management API at {urls.redact(base)}", MANAGEMENT_FIX
        )
        return
    version = overview.get("rabbitmq_version", "?")
    yield ok("broker.management", f"management API of RabbitMQ {version}")
    yield _policies(session, root, urls.virtual_host(url), topology)


def _queues(connection: kombu.Connection, topology: Topology) -> CheckResult:
    """Declare the topology as every worker does at start: an argument clash is reported."""
    topology.declare(connection)
    names = ", ".join(topology.queue_names)
    return ok("broker.queues", f"{names}: quorum, delivery limit {topology.delivery_limit}")


def _policies(session: requests.Session, root: str, vhost: str, topology: Topology) -> CheckResult:
    policies = _get(session, f"{root}/api/policies/{quote(vhost, safe='')}") or []
    clashing = []
    for policy in policies:
        keys = [k for k in (policy.get("definition") or {}) if k in POLICY_KEYS]
        if keys and _may_match(str(policy.get("pattern", "")), topology.queue_names):
            clashing.append(f"{policy.get('name')} ({', '.join(keys)})")
    if clashing:
        return CheckResult(
            "broker.policies",
            "warn",
            f"policies that may override billsync's queue arguments: {'; '.join(clashing)}",
            "make sure they keep a delivery limit and the dead-letter exchange billsync declares",
        )
    return ok("broker.policies", f"{len(policies)} policies, none touching billsync's queues")


def _may_match(pattern: str, names: tuple[str, ...]) -> bool:
    try:
        return any(re.search(pattern, name) for name in names)
    except re.error:
        return True


def _get(session: requests.Session, url: str) -> Any:
    try:
        response = session.get(url, timeout=TIMEOUT_S)
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _strip(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme or "http", host, parts.path, "", "")).rstrip("/")
