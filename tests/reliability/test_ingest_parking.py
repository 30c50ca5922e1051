"""The ingest isolates one bad event (issue 12, Build 5): an event whose handling fails for good
is parked with its reason, visible in ``billsync dlq list``, the stream goes on, and
``billsync dlq replay`` hands it back to the running ingest."""

from __future__ import annotations

from typing import Any

from adapters.broker.topology import Topology
from billsync.bootstrap import open_store
from billsync.errors import RemoteRejected
from tests.conftest import settings_for, wait_until
from tests.ingest.conftest import ls_accounts, new_account, rep_api, silent_account
from workers.ops import deadletters


def test_a_failing_event_is_parked_and_the_stream_goes_on(
    backend: Any, logisense: Any, salesforce: Any, run_worker: Any, run_ingest: Any
) -> None:
    run_worker()
    ingest = run_ingest()
    refused = silent_account(salesforce, "Refused Co")
    reread = ingest.rereader.records

    def refusing(object_name: str, ids: Any, **options: Any) -> Any:
        # Salesforce refusing this one re-read for good (the simulator cannot refuse a single
        # record's query, so the refusal is raised here, as the adapter raises it).
        if refused in ids:
            raise RemoteRejected("Salesforce refused the re-read (MALFORMED_QUERY)", status=400)
        return reread(object_name, ids, **options)

    ingest.rereader.records = refusing
    salesforce.publish_gap("Account", [refused], "GAP_UPDATE")
    newline = silent_account(salesforce, "Newline Co")
    salesforce.publish_gap("Account", [newline + "\n", newline], "GAP_UPDATE")
    after = new_account(rep_api(salesforce), "After Co")

    wait_until(lambda: after[:15] in ls_accounts(logisense), what="the stream went on")
    wait_until(lambda: newline[:15] in ls_accounts(logisense), what="valid id of the gap re-read")
    sessions = open_store(settings_for(backend, logisense), pool_size=2)
    letters = wait_until(lambda: deadletters.list_dead_letters(sessions), what="parked event")
    assert len(letters) == 1
    assert letters[0].source_queue == "ingest:/data/AccountChangeEvent"
    assert "streaming event parked: RemoteRejected" in letters[0].reason
    assert refused[:15] not in ls_accounts(logisense)
    assert ingest.parking.parked == 1

    ingest.rereader.records = reread
    topology = Topology(prefix=backend.prefix)
    assert deadletters.replay(sessions, backend.broker_url, topology, [letters[0].id]) == 1
    wait_until(
        lambda: refused[:15] in ls_accounts(logisense), timeout=60, what="the replayed event"
    )
    wait_until(lambda: not deadletters.list_dead_letters(sessions), what="marked replayed")
    assert ingest.ready.is_set()
