"""Outbound HTTPS proxies of corporate networks, chosen once per outside system.

The Salesforce adapter builds its ``requests`` sessions with ``trust_env = False`` (so that
``REQUESTS_CA_BUNDLE`` cannot override the CA it was given, requests issue #3829), which also
makes requests ignore ``HTTPS_PROXY`` and ``NO_PROXY``; the LogiSense adapter speaks urllib3,
which never reads them. The proxy is therefore resolved here, from the values the settings read
once, and handed to each adapter explicitly:

- ``BILLSYNC_SF_PROXY`` / ``BILLSYNC_LS_PROXY``, when set, is used for that system, always;
- else ``HTTPS_PROXY``, unless the system's host matches ``NO_PROXY``;
- else no proxy.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def proxy_for(
    url: str | None,
    *,
    explicit: str | None = None,
    https_proxy: str | None = None,
    no_proxy: str | None = None,
) -> str | None:
    """The proxy URL to reach ``url`` through, or None for a direct connection."""
    if explicit:
        return explicit
    if not https_proxy or not url:
        return None
    parts = urlsplit(url)
    if bypassed(parts.hostname or "", parts.port, no_proxy):
        return None
    return https_proxy


def bypassed(host: str, port: int | None, no_proxy: str | None) -> bool:
    """True when ``NO_PROXY`` names the host: ``*``, a name or domain suffix, an IP or CIDR."""
    host = host.lower().strip("[]")
    for entry in (no_proxy or "").replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
        if entry_port and port is not None and str(port) != entry_port:
            continue
        if _address_match(host, name) or _name_match(host, name):
            return True
    return False


def session_proxies(proxy: str | None) -> dict[str, str]:
    """The ``Session.proxies`` mapping for ``proxy`` (empty: connect directly)."""
    return {"https": proxy, "http": proxy} if proxy else {}


def _has_port(entry: str) -> bool:
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit() and "]" not in tail and head.count(":") == 0


def _name_match(host: str, name: str) -> bool:
    name = name.lstrip(".")
    return bool(name) and (host == name or host.endswith("." + name))


def _address_match(host: str, entry: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
        return address in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
