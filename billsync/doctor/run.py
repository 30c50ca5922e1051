"""Running every doctor check against one deployment's settings."""

from __future__ import annotations

from collections.abc import Iterator

from billsync import clients
from billsync.config import Settings
from billsync.doctor import broker, clock, logisense, salesforce, store
from billsync.doctor.report import CheckResult, guarded
from billsync.errors import ConfigError


def run_all(settings: Settings) -> Iterator[CheckResult]:
    """Salesforce, LogiSense, broker, store, clock: one result per check, as they finish."""
    sf_client = None
    sf_problem = ""
    try:
        sf_client = clients.salesforce_client(settings) if settings.sf_instance_url else None
    except ConfigError as exc:
        sf_problem = str(exc)
    if sf_problem:
        yield from guarded("salesforce.login", lambda: _config_failure(sf_problem), "")
    else:
        yield from guarded(
            "salesforce", lambda: salesforce.checks(settings, sf_client), salesforce.DEPLOY
        )
    ls_client, ls_problem = None, ""
    try:
        ls_client = clients.logisense_client(settings)
    except ConfigError as exc:
        ls_problem = str(exc)
    try:
        yield from guarded("logisense", lambda: logisense.checks(ls_client, ls_problem), "")
    finally:
        if ls_client is not None:
            ls_client.close()
    yield from guarded("broker", lambda: broker.checks(settings), broker.BROKER_FIX)
    yield from guarded("store", lambda: store.checks(settings), store.MIGRATE_FIX)
    yield clock.check(sf_client.server_date if sf_client else None)


def _config_failure(problem: str) -> list[CheckResult]:
    from billsync.doctor.report import fail

    return [fail("salesforce.login", problem, "set the BILLSYNC_SF_* variables it names")]
