"""Part of the composition root: the outside systems' clients, the broker's names and its TLS,
each built from the settings. Adapters take plain values; this is the one place that reads the
``BILLSYNC_*`` settings for them, and says which variables are missing."""

from __future__ import annotations

from typing import Any

from adapters.broker.connections import BrokerTls
from adapters.broker.topology import Topology
from adapters.logisense.client import DEFAULT_POOL_SIZE, LogiSenseClient
from adapters.logisense.mapping import LogiSenseMapping, load_mapping
from adapters.proxies import proxy_for
from adapters.salesforce.auth import SalesforceAuth
from adapters.salesforce.rest import SalesforceClient
from billsync.config import Settings
from billsync.errors import ConfigError


def broker_tls(settings: Settings) -> BrokerTls:
    """The broker TLS options of the configuration (BILLSYNC_BROKER_CA_BUNDLE ...)."""
    return BrokerTls(
        ca_bundle=settings.broker_ca_bundle,
        cert_file=settings.broker_cert_file,
        key_file=settings.broker_key_file,
    )


def topology(settings: Settings) -> Topology:
    """The topology the configured prefix, delivery limit and dead-letter bound call for."""
    return Topology(
        prefix=settings.queue_prefix,
        delivery_limit=settings.delivery_limit,
        dead_letter_max_length=settings.dead_letter_max_length,
    )


def logisense_client(
    settings: Settings, *, mapping: LogiSenseMapping | None = None
) -> LogiSenseClient:
    """The LogiSense client of ``BILLSYNC_LS_*``; a ConfigError names every missing variable.

    The mapping is ``BILLSYNC_LS_MAPPING_FILE`` (validated now, so a bad key stops the process at
    start-up), else the shipped defaults.
    """
    missing = [
        f"BILLSYNC_{name.upper()}"
        for name in ("ls_base_url", "ls_username", "ls_client_id")
        if not getattr(settings, name)
    ]
    if settings.ls_password is None and settings.ls_client_secret is None:
        missing.append("BILLSYNC_LS_PASSWORD (or BILLSYNC_LS_CLIENT_SECRET)")
    if missing:
        raise ConfigError(
            f"missing LogiSense configuration: set {', '.join(missing)} "
            "(see docs/adapters-logisense.md)"
        )
    assert settings.ls_base_url and settings.ls_username and settings.ls_client_id
    password, secret = settings.ls_password, settings.ls_client_secret
    return LogiSenseClient(
        settings.ls_base_url,
        username=settings.ls_username,
        password=password.get_secret_value() if password else None,
        client_id=settings.ls_client_id,
        client_secret=secret.get_secret_value() if secret else None,
        api_version=settings.ls_api_version,
        timeout_s=settings.http_timeout_s,
        pool_size=max(DEFAULT_POOL_SIZE, settings.worker_concurrency),
        mapping=mapping or load_mapping(settings.ls_mapping_file),
        verify=settings.ls_ca_bundle or True,
        proxy=_proxy(settings, settings.ls_base_url, settings.ls_proxy),
    )


def salesforce_auth(settings: Settings) -> SalesforceAuth:
    """The Salesforce login of ``BILLSYNC_SF_*`` (see docs/configuration.md)."""
    settings.require("sf_instance_url")
    assert settings.sf_instance_url
    return SalesforceAuth(
        settings.sf_instance_url,
        session_id=_secret(settings.sf_session_id),
        client_id=settings.sf_client_id,
        client_secret=_secret(settings.sf_client_secret),
        username=settings.sf_username,
        password=_secret(settings.sf_password),
        security_token=_secret(settings.sf_security_token),
        jwt_key_file=settings.sf_jwt_key_file,
        login_url=settings.sf_login_url,
        ca_bundle=settings.sf_ca_bundle,
        timeout_s=settings.http_timeout_s,
        proxy=_proxy(settings, settings.sf_instance_url, settings.sf_proxy),
    )


def salesforce_client(settings: Settings) -> SalesforceClient:
    """The Salesforce client of ``BILLSYNC_SF_*``; a ConfigError names each missing variable."""
    settings.require("sf_instance_url")
    if not settings.sf_jwt_key_file:
        if settings.sf_client_id or settings.sf_client_secret:
            settings.require("sf_client_id", "sf_client_secret")
        if settings.sf_username or settings.sf_password:
            settings.require("sf_username", "sf_password")
    assert settings.sf_instance_url
    return SalesforceClient(
        settings.sf_instance_url,
        auth=salesforce_auth(settings),
        api_version=settings.sf_api_version,
        call_client=settings.sf_call_client,
        timeout_s=settings.http_timeout_s,
        slow_share=settings.sf_api_slow_share,
        max_delay_s=settings.sf_api_slow_max_s,
    )


def _proxy(settings: Settings, url: str | None, explicit: str | None) -> str | None:
    """The proxy for ``url``: its own setting, else HTTPS_PROXY unless NO_PROXY names it."""
    return proxy_for(
        url, explicit=explicit, https_proxy=settings.https_proxy, no_proxy=settings.no_proxy
    )


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.get_secret_value()) if hasattr(value, "get_secret_value") else str(value)
