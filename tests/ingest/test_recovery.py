"""Recovery without help: gap and overflow events re-read by SOQL, a forgotten client and an
expired session, a lost or expired stream position reconciled (issue 4, acceptance 3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from adapters.store.db import make_engine, session_factory
from adapters.store.models import StreamCursor
from tests.conftest import wait_until
from tests.ingest.conftest import ls_accounts, new_account, rep_api, silent_account

ACCOUNTS = "/data/AccountChangeEvent"


def test_gap_rereads_records_and_overflow_rereads_the_object(
    backend: Any, logisense: Any, salesforce: Any, run_worker: Any, run_ingest: Any
) -> None:
    run_worker()
    ingest = run_ingest()
    gapped = silent_account(salesforce, "Gap Co")
    gone = "001000000000099AAA"
    salesforce.publish_gap("Account", [gapped, gone], "GAP_UPDATE")
    wait_until(lambda: gapped[:15] in ls_accounts(logisense), what="gap record re-read")
    assert ls_accounts(logisense)[gapped[:15]]["name"] == "Gap Co"

    quiet = [silent_account(salesforce, f"Overflow {n}") for n in range(3)]
    salesforce.publish_gap("Account", ["000000000000000AAA"], "GAP_OVERFLOW")
    wait_until(
        lambda: {q[:15] for q in quiet} <= ls_accounts(logisense).keys(),
        what="overflowed object re-read",
    )
    figures = ingest.metrics.as_dict()
    assert figures["gap_events"] == 1 and figures["overflow_events"] == 1
    assert figures["snapshots_published"] >= 2 + 4


def test_forgotten_client_and_expired_session_are_recovered(
    backend: Any, logisense: Any, salesforce: Any, run_worker: Any, run_ingest: Any
) -> None:
    run_worker()
    ingest = run_ingest()
    rep = rep_api(salesforce)
    first = new_account(rep, "Before")
    wait_until(lambda: first[:15] in ls_accounts(logisense), what="first account")
    salesforce.cometd.forget_clients()
    after_forget = new_account(rep, "After Forget")
    wait_until(lambda: after_forget[:15] in ls_accounts(logisense), what="after forget")

    logins = ingest.salesforce.auth.logins
    salesforce.sessions.clear()
    rep = rep_api(salesforce)
    after_expiry = new_account(rep, "After Expiry")
    wait_until(
        lambda: after_expiry[:15] in ls_accounts(logisense),
        timeout=30,
        what="after the session expired",
    )
    assert ingest.salesforce.auth.logins > logins


def test_lost_and_expired_positions_are_reconciled(
    backend: Any, logisense: Any, salesforce: Any, run_worker: Any, run_ingest: Any
) -> None:
    run_worker()
    run_ingest()
    rep = rep_api(salesforce)
    seen = new_account(rep, "Seen Live")
    wait_until(lambda: seen[:15] in ls_accounts(logisense), what="live account")
    run_ingest.stop_all()

    # While ingest is down the retained events vanish: the stored replay id is refused.
    missed = new_account(rep, "Missed While Down")
    salesforce.bus.age(100)
    ingest = run_ingest()
    wait_until(lambda: missed[:15] in ls_accounts(logisense), what="reconciled after refusal")
    assert ingest.metrics.reconciliations >= 1
    run_ingest.stop_all()

    # A stored position older than the retention is not even tried: reconcile from its time.
    late = new_account(rep, "Changed While Stale")
    sessions = session_factory(make_engine(backend.database_url, pool_size=1))
    with sessions.begin() as session:
        session.execute(
            update(StreamCursor).values(event_time_ms=StreamCursor.event_time_ms - 80 * 3_600_000)
        )
    ingest = run_ingest()
    wait_until(lambda: late[:15] in ls_accounts(logisense), what="reconciled after expiry")
    assert ingest.metrics.reconciliations >= 1
    assert ingest.metrics.events_received == 0
