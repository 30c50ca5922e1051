"""Doctor checks of LogiSense Billing: login, reference data, and the ``sfdcid`` set-up.

billsync finds the LogiSense account and contact it created by ``sfdcid`` (an Account custom
field and a contact point); a search on it that LogiSense refuses means that set-up is missing.
"""

from __future__ import annotations

from collections.abc import Iterator

from adapters.logisense.client import LogiSenseClient
from billsync.doctor.report import CheckResult, fail, guarded, ok
from billsync.errors import AuthenticationFailed, RemoteRejected

#: An id no record holds: the search must answer (empty), not refuse the field.
PROBE_SFDCID = "000000000000000AAA"
SFDCID_FIX = (
    "in LogiSense add the Account custom field 'sfdcid' (String 255) and the contact point "
    "'sfdcid' on every contact type (docs/deploy.md, step 3)"
)


def checks(client: LogiSenseClient | None, problem: str = "") -> Iterator[CheckResult]:
    """Every LogiSense check, in order; stops after a failed login."""
    if client is None:
        yield fail(
            "logisense.login",
            problem or "LogiSense is not configured",
            "set BILLSYNC_LS_BASE_URL, BILLSYNC_LS_USERNAME, BILLSYNC_LS_PASSWORD and "
            "BILLSYNC_LS_CLIENT_ID",
        )
        return
    login = _login(client)
    yield login
    if not login.passed:
        return
    yield from guarded(
        "logisense.reference_data",
        lambda: [_reference(client)],
        "check that the LogiSense user may read currencies, bill groups, AR terms and "
        "account status types",
    )
    yield from guarded("logisense.sfdcid", lambda: [_sfdcid(client)], SFDCID_FIX)


def _login(client: LogiSenseClient) -> CheckResult:
    try:
        client.session.tokens.token()
    except AuthenticationFailed as exc:
        return fail(
            "logisense.login",
            str(exc),
            "check BILLSYNC_LS_USERNAME, BILLSYNC_LS_PASSWORD and BILLSYNC_LS_CLIENT_ID",
        )
    except Exception as exc:
        return fail(
            "logisense.login",
            f"cannot log in: {exc}",
            "check BILLSYNC_LS_BASE_URL, the network and proxy (BILLSYNC_LS_PROXY / HTTPS_PROXY) "
            "and BILLSYNC_LS_CA_BUNDLE",
        )
    return ok("logisense.login", f"logged in to {client.session.base_url}")


def _reference(client: LogiSenseClient) -> CheckResult:
    data = client.reference_data()
    tables = {
        "currencies": data.currencies,
        "account status types": data.account_statuses,
        "bill groups": data.bill_groups,
        "AR terms": data.ar_terms,
    }
    empty = [name for name, values in tables.items() if not values]
    if empty:
        return fail(
            "logisense.reference_data",
            f"no {', '.join(empty)} in LogiSense",
            "create them in LogiSense, then run billsync catalog sync",
        )
    counts = ", ".join(f"{len(values)} {name}" for name, values in tables.items())
    return ok("logisense.reference_data", counts)


def _sfdcid(client: LogiSenseClient) -> CheckResult:
    try:
        client.find_account_by_sfdcid(PROBE_SFDCID)
        client.find_contact_by_sfdcid(PROBE_SFDCID)
    except RemoteRejected as exc:
        return fail("logisense.sfdcid", f"LogiSense refused a search by sfdcid: {exc}", SFDCID_FIX)
    return ok("logisense.sfdcid", "accounts and contacts can be found by sfdcid")
