"""Broker URLs: which transport a URL names, its pika form, its management API, its safe form.

billsync takes one kombu-style broker URL (``amqp://user:pass@host:5672//``, ``memory://``);
pika and the management API need it spelled their own way, and logs need it without the password.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pika

AMQP_SCHEMES = {"amqp": "amqp", "pyamqp": "amqp", "amqps": "amqps", "librabbitmq": "amqp"}
DEFAULT_AMQP_PORT = 5672
MANAGEMENT_PORT = 15672
DEFAULT_HEARTBEAT_S = 15


def is_amqp(url: str) -> bool:
    """True when the URL names RabbitMQ over AMQP 0-9-1 (rather than another kombu transport)."""
    return urlsplit(url).scheme.lower() in AMQP_SCHEMES


def pika_parameters(url: str, *, heartbeat: int = DEFAULT_HEARTBEAT_S) -> pika.URLParameters:
    """pika's connection parameters for a kombu-style AMQP URL, with heartbeats on."""
    parts = urlsplit(url)
    scheme = AMQP_SCHEMES[parts.scheme.lower()]
    params = pika.URLParameters(urlunsplit((scheme, parts.netloc, parts.path, parts.query, "")))
    params.virtual_host = virtual_host(url)
    if "heartbeat" not in parts.query:
        params.heartbeat = heartbeat
    return params


def virtual_host(url: str) -> str:
    """The vhost a kombu-style URL names: ``//`` and an empty path both mean ``/``."""
    path = urlsplit(url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def credentials(url: str) -> tuple[str, str]:
    """User and password from the URL, RabbitMQ's ``guest``/``guest`` when absent."""
    parts = urlsplit(url)
    return unquote(parts.username or "guest"), unquote(parts.password or "guest")


def management_url(broker_url: str) -> str:
    """The management API base URL beside a broker: same host, port 15672, same credentials."""
    parts = urlsplit(broker_url)
    user, password = credentials(broker_url)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}:{MANAGEMENT_PORT}"
    return urlunsplit(("http", netloc, "", "", ""))


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``, safe to print or log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    netloc = f"{parts.username}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def scrub(text: str, url: str) -> str:
    """``text`` with the URL's password blanked out, for error messages built from vendor text."""
    password = urlsplit(url).password
    if not password:
        return text
    for form in {password, unquote(password)}:
        text = text.replace(form, "***")
    return text
