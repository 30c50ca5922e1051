"""``billsync drift``: a hand edit in LogiSense is reported, ``--fix`` puts Salesforce's values
back through a worker, unknown ``sfdcid`` records are reported and LogiSense-only accounts are
never touched (issue 6 acceptance 8)."""

from __future__ import annotations

import json
from typing import Any

import requests

from tests.conftest import wait_until
from tests.core.helpers import Store, ls_accounts, ls_contacts
from tests.factories import account, account_id, contact, contact_id


def _hand_edit(sim: Any, resource: str, identity: int, **fields: Any) -> None:
    answer = requests.post(
        f"{sim.base_url}/__sim/patch",
        json={"resource": resource, "identity": identity, "fields": fields},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text


def _drift(cli: Any, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("drift", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def _sync_two_accounts_and_a_contact(backend: Any, run_worker: Any, publish: Any) -> Store:
    run_worker()
    publish([account(2, parent=1), account(1), contact(1, 2)])
    store = Store(backend.database_url)
    ids = [account_id(1), account_id(2), contact_id(1)]
    wait_until(lambda: store.settled(ids, ("pushed",)), what="entities pushed")
    return store


def test_hand_edit_is_reported_and_fix_restores_salesforce_values(
    backend: Any, logisense: Any, run_worker: Any, publish: Any, cli: Any
) -> None:
    store = _sync_two_accounts_and_a_contact(backend, run_worker, publish)
    internal_before = dict(logisense.state.get("Account", 1))
    code, clean = _drift(cli)
    assert code == 0 and clean["differences"] == [] and clean["checked"] == 3
    assert clean["logisense_only_accounts"] == 1

    held = ls_accounts(logisense)[account_id(2)]
    person = ls_contacts(logisense)[contact_id(1)]
    _hand_edit(logisense, "Account", held["identity"], name="Edited by hand", billGroupId=2)
    email_type = next(
        p["contactPointTypeId"]
        for p in person["contactPoints"]
        if logisense.state.name_of("contact_point_type", p["contactPointTypeId"]) == "email"
    )
    points = [
        {**p, "value": "someone@else.example"} if p["contactPointTypeId"] == email_type else p
        for p in person["contactPoints"]
    ]
    _hand_edit(logisense, "Contact", person["identity"], contactPoints=points)

    code, report = _drift(cli)
    assert code == 1 and report["drift"] is True
    found = {(d["sfid"], d["field"]): d for d in report["differences"]}
    assert set(found) == {
        (account_id(2), "name"),
        (account_id(2), "billGroupId"),
        (contact_id(1), "points.email"),
    }
    assert found[(account_id(2), "name")]["salesforce"] == "Account 2"
    assert found[(account_id(2), "name")]["logisense"] == "Edited by hand"
    assert found[(account_id(2), "billGroupId")]["salesforce"] == "Monthly 1st"
    assert found[(account_id(2), "billGroupId")]["expected"] == 1
    assert found[(account_id(2), "billGroupId")]["logisense"] == 2
    assert found[(contact_id(1), "points.email")]["expected"] == "pat1@example.com"
    assert all(d["kind"] == "field" for d in report["differences"])

    code, fixed = _drift(cli, "--fix")
    assert code == 1
    assert sorted(fixed["requeued"]) == sorted([account_id(2), contact_id(1)])

    def restored() -> bool:
        account_now = ls_accounts(logisense)[account_id(2)]
        return (
            account_now["name"] == "Account 2"
            and account_now["billGroupId"] == 1
            and ls_contacts(logisense)[contact_id(1)]["email"] == "pat1@example.com"
            and store.settled([account_id(2), contact_id(1)], ("pushed",))
        )

    wait_until(restored, what="Salesforce values back in LogiSense")
    code, after = _drift(cli)
    assert code == 0 and after["differences"] == []
    triggers = [(h.trigger, h.worker) for h in store.history(account_id(2))]
    assert ("change", "drift") in triggers
    assert dict(logisense.state.get("Account", 1)) == internal_before


def test_unknown_sfdcid_is_reported_and_human_table_shows_it(
    backend: Any, logisense: Any, run_worker: Any, publish: Any, cli: Any
) -> None:
    _sync_two_accounts_and_a_contact(backend, run_worker, publish)
    stranger = account_id(999)
    from adapters.logisense import LogiSenseClient
    from tests.conftest import LS_CLIENT, LS_PASSWORD, LS_USER

    with LogiSenseClient(
        logisense.base_url, username=LS_USER, password=LS_PASSWORD, client_id=LS_CLIENT
    ) as client:
        client.create_account(
            {
                "name": "Made elsewhere",
                "currencyId": 1,
                "accountStatusTypeId": 1,
                "billGroupId": 1,
                "extensions": {"sfdcid": stranger},
            }
        )
    code, report = _drift(cli)
    assert code == 1
    assert [(d["kind"], d["sfid"]) for d in report["differences"]] == [("unknown", stranger)]
    assert report["logisense_only_accounts"] == 1

    human = cli("drift")
    assert human.exit_code == 1
    assert "unknown" in human.stdout and stranger in human.stdout

    code, fixed = _drift(cli, "--fix")
    assert code == 1 and fixed["requeued"] == []
    assert ls_accounts(logisense)[stranger]["name"] == "Made elsewhere"


def test_a_hand_edited_address_is_drift_and_fix_restores_it(
    backend: Any, logisense: Any, run_worker: Any, publish: Any, cli: Any
) -> None:
    run_worker()
    where = {"MailingCity": "Austin", "MailingCountryCode": "US", "MailingStateCode": "TX"}
    publish([account(5), contact(5, 5, **where)])
    store = Store(backend.database_url)
    wait_until(lambda: store.settled([account_id(5), contact_id(5)], ("pushed",)), what="pushed")
    person = ls_contacts(logisense)[contact_id(5)]
    points = [{**p, "city": "Dallas"} if "countryId" in p else p for p in person["contactPoints"]]
    _hand_edit(logisense, "Contact", person["identity"], contactPoints=points)
    code, report = _drift(cli)
    assert code == 1
    assert [(d["sfid"], d["field"]) for d in report["differences"]] == [
        (contact_id(5), "points.address")
    ]
    code, _fixed = _drift(cli, "--fix")
    wait_until(
        lambda: ls_contacts(logisense)[contact_id(5)]["address"]["city"] == "Austin",
        what="address restored",
    )
