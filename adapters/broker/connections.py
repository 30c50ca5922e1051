"""Opening broker connections the same safe way on every path: TLS with the broker's host name
verified, a private CA when one is configured, and one URL at a time (callers fail over).

kombu's ``amqps://`` alone gives py-amqp no ``server_hostname``, and py-amqp then turns host-name
checking off: a certificate issued to any other host was accepted. Here every TLS connection
names the host it dials (``server_hostname``, ``check_hostname``), on kombu and on pika.
kombu's own failover (``amqp://h1;amqp://h2``) fills ``server_hostname`` once, with the first host,
and keeps it for the next; so billsync splits failover URLs itself (``urls.failover_urls``) and
opens one connection per URL with its own TLS options.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import kombu

CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class BrokerTls:
    """TLS material for the broker: a CA bundle to trust (else the system's), and an optional
    client certificate and key."""

    ca_bundle: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def context(self) -> ssl.SSLContext:
        """A client context that verifies the certificate chain and the host name."""
        context = ssl.create_default_context(cafile=self.ca_bundle)
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def kombu_options(self, host: str) -> dict[str, Any]:
        """py-amqp's ``ssl`` options for one host: chain and host name verified."""
        options: dict[str, Any] = {
            "server_hostname": host,
            "cert_reqs": ssl.CERT_REQUIRED,
        }
        if self.ca_bundle:
            options["ca_certs"] = self.ca_bundle
        if self.cert_file:
            options["certfile"] = self.cert_file
            options["keyfile"] = self.key_file
        return options


def is_tls(url: str) -> bool:
    """True for ``amqps://`` URLs."""
    return urlsplit(url).scheme.lower() == "amqps"


def open_connection(
    url: str,
    *,
    heartbeat: int | None = None,
    tls: BrokerTls | None = None,
    confirm_publish: bool = False,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    transport_options: dict[str, Any] | None = None,
) -> kombu.Connection:
    """A kombu connection (not yet connected) to one broker URL; TLS verified for amqps."""
    options: dict[str, Any] = {"connect_timeout": connect_timeout}
    transport_options = dict(transport_options or {})
    if url.startswith("memory"):
        transport_options["polling_interval"] = 0.01
    if confirm_publish and not url.startswith("memory"):
        transport_options["confirm_publish"] = True
    if transport_options:
        options["transport_options"] = transport_options
    if heartbeat is not None:
        options["heartbeat"] = heartbeat
    if is_tls(url):
        options["ssl"] = (tls or BrokerTls()).kombu_options(urlsplit(url).hostname or "")
    return kombu.Connection(url, **options)
