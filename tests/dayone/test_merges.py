"""Merges and ended relations (issue 10, build 7): nothing is deleted in LogiSense; merged losers
are listed with the winner; an ended AccountContactRelation unlinks the contact."""

from __future__ import annotations

import json
from typing import Any

import requests
from typer.testing import CliRunner

from billsync.cli import app
from tests.conftest import wait_until
from tests.core.helpers import Store
from tests.dayone.test_backfill import cli_env
from tests.ingest.conftest import ls_accounts, ls_contacts, new_account


def sim_admin(sim: Any, name: str, body: dict[str, Any]) -> Any:
    http = requests.Session()
    http.trust_env = False
    answer = http.post(f"{sim.base_url}/__sim/{name}", json=body, verify=sim.ca_file, timeout=10)
    answer.raise_for_status()
    return answer.json()


def contact_of(rep: Any, account: str, last: str) -> str:
    return str(
        rep.Contact.create({"LastName": last, "AccountId": account, "LogiSense_Sync__c": True})[
            "id"
        ]
    )


def test_merge_is_listed_and_ended_relations_unlink(
    backend: Any, logisense: Any, salesforce: Any, rep: Any, sf_worker: Any, run_ingest: Any
) -> None:
    sf_worker()
    run_ingest()
    winner = new_account(rep, "Acme Corp")
    loser = new_account(rep, "ACME Corporation (duplicate)")
    other = new_account(rep, "Partner Ltd")
    moved = contact_of(rep, loser, "Moved")
    shared = contact_of(rep, winner, "Shared")
    relation = rep.AccountContactRelation.create(
        {"AccountId": other, "ContactId": shared, "IsActive": True}
    )["id"]
    store = Store(backend.database_url)
    everything = [winner, loser, other, moved, shared]
    wait_until(lambda: store.settled(everything, ("pushed",)), timeout=60, what="all pushed")
    accounts = ls_accounts(logisense)
    ls = {sfid: accounts[sfid[:15]]["identity"] for sfid in (winner, loser, other)}
    assert sorted(ls_contacts(logisense)[shared[:15]]["accountIds"]) == sorted(
        [ls[winner], ls[other]]
    )

    sim_admin(salesforce, "merge", {"object": "Account", "winner": winner, "losers": [loser]})
    rep.AccountContactRelation.delete(relation)

    def settled() -> bool:
        contacts = ls_contacts(logisense)
        return (
            store.record(loser).values.get("MasterRecordId") == winner
            and contacts[moved[:15]]["accountIds"] == [ls[winner]]
            and contacts[shared[:15]]["accountIds"] == [ls[winner]]
        )

    wait_until(settled, timeout=60, what="merge recorded and links updated")
    assert loser[:15] in ls_accounts(logisense)  # the loser's LogiSense account stays

    runner = CliRunner()
    listed = runner.invoke(app, ["merges", "--json"], env=cli_env(backend, logisense, salesforce))
    assert listed.exit_code == 0, listed.output
    merged = json.loads(listed.stdout)["merged"]
    assert merged == [
        {
            "object": "Account",
            "loser": loser,
            "loser_logisense_id": ls[loser],
            "winner": winner,
            "winner_logisense_id": ls[winner],
        }
    ]
    shown = runner.invoke(app, ["merges"], env=cli_env(backend, logisense, salesforce))
    assert loser in shown.output and winner in shown.output
