"""Data is never markup: names, reasons and dead letters that hold rich markup, control
characters, right-to-left overrides and lone surrogates go through every command that shows data
and come out as they are (escaped where a terminal would act on them), with exit code 0 and no
traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from adapters.broker.publisher import open_publisher
from adapters.broker.topology import Topology
from tests.conftest import Backend, salesforce_env, wait_until
from tests.core.helpers import Store, ls_accounts
from tests.factories import account, account_id
from tests.ingest.conftest import salesforce, silent_account  # noqa: F401  (fixture)

EVIL_NAME = "Evil [/bold] Corp \u202egnp.exe\u202c [link=http://x]click[/link] :smile:"
EVIL_BILL_GROUP = "[red]Monthly[/red]"
CONTROL_NAME = "Ctl \x1b[31mred\x1b[0m bell\x07 end"
#: Not storable (PostgreSQL refuses it in text): such a message is dead-lettered with its reason.
SURROGATE_NAME = "lone \ud800 end"


@pytest.fixture
def backend(tmp_path: Any) -> Iterator[Backend]:
    """The embedded default: SQLite keeps lone surrogates that PostgreSQL's JSON refuses."""
    import uuid

    prefix = f"t{uuid.uuid4().hex[:8]}"
    yield Backend("embedded", f"memory://{prefix}", f"sqlite:///{tmp_path}/store.db", prefix)


@pytest.fixture
def hostile(backend: Backend, run_worker: Any, publish: Any) -> Store:
    """A failed account with a markup name and bill group, one with control characters, a
    dead letter whose reason holds the id pattern's brackets, and one whose body holds a lone
    surrogate."""
    run_worker()
    publish([account(1, Name=EVIL_NAME, LogiSense_Bill_Group__c=EVIL_BILL_GROUP)])
    topology = Topology(prefix=backend.prefix)
    publisher = open_publisher(backend.broker_url, topology)
    control = account(2, CurrencyIsoCode=None).model_dump(mode="json", by_alias=True)
    control["fields"]["Name"] = CONTROL_NAME
    publisher.publish(json.dumps(control).encode(), routing_key=topology.routing_key)
    # A lone surrogate is valid JSON (an escape) but not UTF-8: sent as the escaped text.
    surrogate = account(4).model_dump(mode="json", by_alias=True)
    surrogate["fields"]["Name"] = SURROGATE_NAME
    publisher.publish(json.dumps(surrogate).encode(), routing_key=topology.routing_key)
    bad = {"schema": "billsync.change/1", "id": "m1", "object": "Account", "record_id": "[b]x"}
    publisher.publish(json.dumps(bad).encode(), routing_key=topology.routing_key)
    publisher.close()
    store = Store(backend.database_url)
    wait_until(lambda: store.settled([account_id(1), account_id(2)]), what="both failed")
    return store


def _clean(output: str) -> None:
    assert "Traceback" not in output
    assert "\x1b" not in output and "\u202e" not in output and "\x07" not in output


def test_status_shows_markup_and_control_characters_as_they_are(hostile: Store, cli: Any) -> None:
    shown = cli("status", account_id(1))
    assert shown.exit_code == 0, shown.output
    _clean(shown.output)
    assert "Evil [/bold] Corp" in shown.output
    assert "[link=http://x]click[/link] :smile:" in shown.output
    assert "\\u202egnp.exe\\u202c" in shown.output
    assert EVIL_BILL_GROUP in shown.output
    other = cli("status", account_id(2))
    assert other.exit_code == 0, other.output
    _clean(other.output)
    assert "\\x1b[31mred\\x1b[0m bell\\x07 end" in other.output
    as_json = cli("status", account_id(2), "--json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout)["name"] == CONTROL_NAME


def test_listings_show_names_and_reasons_as_they_are(hostile: Store, cli: Any) -> None:
    for command in (["failed"], ["entities"], ["entities", "--state", "failed"]):
        listed = cli(*command)
        assert listed.exit_code == 0, listed.output
        _clean(listed.output)
        assert "Evil [/bold] Corp" in listed.output
        assert f"Bill group '{EVIL_BILL_GROUP}'" in listed.output
        assert "bell\\x07" in listed.output
    found = cli("failed", "--reason", "[red]monthly", "--json")
    assert [e["sfid"] for e in json.loads(found.stdout)["entities"]] == [account_id(1)]


def test_dead_letters_show_brackets_of_the_reason(hostile: Store, cli: Any) -> None:
    def both() -> Any:
        result = cli("dlq", "list", "--json")
        found = json.loads(result.stdout)["dead_letters"] if result.exit_code == 0 else None
        return found if found and len(found) >= 2 else None

    letters = wait_until(both, what="both dead letters archived")
    pattern = next(x for x in letters if "[a-zA-Z0-9]{15}" in x["reason"])
    lone = next(x for x in letters if "unicode" in x["reason"].lower())
    shown_lone = cli("dlq", "show", str(lone["id"]))
    assert shown_lone.exit_code == 0, shown_lone.output
    _clean(shown_lone.output)
    table = cli("dlq", "list")
    assert table.exit_code == 0 and "[a-zA-Z0-9]{15}" in table.output, table.output
    shown = cli("dlq", "show", str(pattern["id"]))
    assert shown.exit_code == 0, shown.output
    _clean(shown.output)
    assert "[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$" in shown.output
    assert '"record_id": "[b]x"' in shown.output


def test_queues_and_drift_show_hostile_values_as_they_are(
    hostile: Store, cli: Any, publish: Any, logisense: Any
) -> None:
    queues = cli("queues")
    assert queues.exit_code == 0, queues.output
    _clean(queues.output)
    publish([account(3, Name="[bold]Pushed[/bold] \x1b[2J Inc")])
    wait_until(lambda: hostile.settled([account_id(3)], ("pushed",)), what="account 3 pushed")
    held = ls_accounts(logisense)[account_id(3)]
    edited = requests.post(
        f"{logisense.base_url}/__sim/patch",
        json={"resource": "Account", "identity": held["identity"], "fields": {"name": "[red]x"}},
        timeout=5,
    )
    assert edited.status_code == 200, edited.text
    drift = cli("drift")
    assert drift.exit_code == 1, drift.output
    _clean(drift.output)
    assert "'[bold]Pushed[/bold] \\x1b[2J Inc'" in drift.output
    assert "'[red]x'" in drift.output


def test_backfill_preview_shows_names_and_reasons_as_they_are(
    backend: Backend,
    cli: Any,
    salesforce: Any,  # noqa: F811  (fixture)
) -> None:
    evil = silent_account(salesforce, EVIL_NAME, LogiSense_Bill_Group__c=EVIL_BILL_GROUP)
    control = silent_account(salesforce, CONTROL_NAME, LogiSense_AR_Term__c=None)
    env = salesforce_env(salesforce)
    shown = cli("backfill", "--object", "Account", "--dry-run", **env)
    assert shown.exit_code == 0, shown.output
    _clean(shown.output)
    assert f"fail    Account {evil} 'Evil [/bold] Corp \\u202egnp.exe\\u202c" in shown.output
    assert "[link=http://x]click[/link] :smile:" in shown.output
    assert f"'{EVIL_BILL_GROUP}' (LogiSense_Bill_Group__c) does not exist" in shown.output
    assert f"fail    Account {control} 'Ctl \\x1b[31mred" in shown.output
    as_json = cli("backfill", "--object", "Account", "--dry-run", "--json", **env)
    assert as_json.exit_code == 0, as_json.output
    notes = {n["sfid"]: n for n in json.loads(as_json.stdout)["notes"]}
    assert notes[evil]["name"] == EVIL_NAME and EVIL_BILL_GROUP in notes[evil]["reason"]
    assert not Path(backend.database_url[len("sqlite:///") :]).exists()  # a dry run writes nothing


def test_merges_show_ids_from_the_data_as_they_are(hostile: Store, cli: Any) -> None:
    """A merged record's winner is whatever Salesforce's MasterRecordId held (written into the
    store here: the simulator only merges real ids)."""
    from sqlalchemy import select

    from adapters.store.models import SyncRecord

    winner = "[red]001000000000009AAA[/red] \x1b[2J\u202e"
    with hostile.sessions.begin() as session:
        record = session.scalars(select(SyncRecord).where(SyncRecord.sfid == account_id(2))).one()
        record.in_scope = False
        record.values = {**record.values, "MasterRecordId": winner}
    listed = cli("merges")
    assert listed.exit_code == 0, listed.output
    _clean(listed.output)
    assert "[red]001000000000009AAA[/red] \\x1b[2J\\u202e" in listed.output
    as_json = cli("merges", "--json")
    assert json.loads(as_json.stdout)["merged"][0]["winner"] == winner


def test_doctor_shows_a_check_detail_as_it_is(tmp_path: Path, cli: Any) -> None:
    missing = tmp_path / "[bold]store[/bold] \x1b[2J.db"
    shown = cli("doctor", BILLSYNC_DATABASE_URL=f"sqlite:///{missing}")
    assert shown.exit_code == 1, shown.output
    _clean(shown.output)
    assert f"FAIL store.migrations: no store file at {tmp_path}/[bold]store[/bold] \\x1b[2J.db" in (
        shown.output
    )
    assert not any(f"[{tag}]" in shown.output for tag in ("green", "yellow", "dim", "red"))
    assert "     fix: check BILLSYNC_DATABASE_URL" in shown.output
    assert not missing.exists()
