"""Broker URLs: which transport a URL names, its pika form, its management API, its safe form.

billsync takes one kombu-style broker URL (``amqp://user:pass@host:5672//``, ``memory://``), or
several separated by ``;`` for failover (``amqp://u:p@h1//;amqp://u:p@h2//``; an alternate written
as a bare ``host:port`` takes the first URL's scheme, credentials and vhost). pika and the
management API need it spelled their own way, and logs need it without the password.
"""

from __future__ import annotations

import ssl
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pika

AMQP_SCHEMES = {"amqp": "amqp", "pyamqp": "amqp", "amqps": "amqps", "librabbitmq": "amqp"}
DEFAULT_AMQP_PORT = 5672
MANAGEMENT_PORT = 15672
DEFAULT_HEARTBEAT_S = 15


def is_amqp(url: str) -> bool:
    """True when the URL names RabbitMQ over AMQP 0-9-1 (rather than another kombu transport)."""
    return urlsplit(failover_urls(url)[0]).scheme.lower() in AMQP_SCHEMES


def failover_urls(url: str) -> list[str]:
    """The broker URLs of a (possibly ``;``-separated) failover URL, each complete."""
    pieces = [p.strip() for p in url.split(";") if p.strip()]
    if not pieces:
        return [url]
    first = urlsplit(pieces[0])
    userinfo = first.netloc.rsplit("@", 1)[0] + "@" if "@" in first.netloc else ""
    complete = [pieces[0]]
    for piece in pieces[1:]:
        if "://" in piece:
            complete.append(piece)
        else:
            netloc = userinfo + piece
            complete.append(urlunsplit((first.scheme, netloc, first.path, first.query, "")))
    return complete


def pika_parameters(
    url: str, *, heartbeat: int = DEFAULT_HEARTBEAT_S, tls: ssl.SSLContext | None = None
) -> pika.URLParameters:
    """pika's connection parameters for one kombu-style AMQP URL (the first of a failover URL),
    with heartbeats on and, for ``amqps``, TLS with the host name verified."""
    return pika_parameters_all(url, heartbeat=heartbeat, tls=tls)[0]


def pika_parameters_all(
    url: str, *, heartbeat: int = DEFAULT_HEARTBEAT_S, tls: ssl.SSLContext | None = None
) -> list[pika.URLParameters]:
    """pika's parameters for every URL of a failover URL, in order (``BlockingConnection``
    takes the list and tries each in turn)."""
    found = []
    for one in failover_urls(url):
        parts = urlsplit(one)
        scheme = AMQP_SCHEMES[parts.scheme.lower()]
        params = pika.URLParameters(urlunsplit((scheme, parts.netloc, parts.path, parts.query, "")))
        params.virtual_host = virtual_host(one)
        if "heartbeat" not in parts.query:
            params.heartbeat = heartbeat
        if scheme == "amqps":
            context = tls or ssl.create_default_context()
            params.ssl_options = pika.SSLOptions(context, server_hostname=parts.hostname)
        found.append(params)
    return found


def virtual_host(url: str) -> str:
    """The vhost a kombu-style URL names: ``//`` and an empty path both mean ``/``."""
    path = urlsplit(failover_urls(url)[0]).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def credentials(url: str) -> tuple[str, str]:
    """User and password from the URL, RabbitMQ's ``guest``/``guest`` when absent."""
    parts = urlsplit(failover_urls(url)[0])
    return unquote(parts.username or "guest"), unquote(parts.password or "guest")


def management_url(broker_url: str) -> str:
    """The management API base URL beside a broker: same host, port 15672, same credentials."""
    parts = urlsplit(failover_urls(broker_url)[0])
    user, password = credentials(broker_url)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}:{MANAGEMENT_PORT}"
    return urlunsplit(("http", netloc, "", "", ""))


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``, safe to print or log."""
    if ";" in url:
        return ";".join(redact(one) for one in failover_urls(url))
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
