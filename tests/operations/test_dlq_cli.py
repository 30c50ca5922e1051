"""``billsync dlq list|show|replay|purge`` through the real CLI, once each, on the embedded
backend (tests/core/test_bad_messages.py covers the functions underneath)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import Result

from adapters.broker.topology import Topology
from billsync.bootstrap import open_store
from billsync.config import load_settings
from tests.conftest import Backend, wait_until
from tests.core.helpers import Store
from tests.factories import account, account_id
from tests.operations.conftest import publish_raw
from tests.operations.history import ls_account_copies, wait_for_dead_letters
from workers.ops.deadletters import DeadLetter


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_dlq_list_show_replay_purge(
    backend: Backend,
    logisense: Any,
    run_worker: Callable[..., Any],
    cli: Callable[..., Result],
) -> None:
    run_worker()
    topology = Topology(prefix=backend.prefix)
    old_schema = json.loads(account(7).model_dump_json(by_alias=True))
    old_schema["schema"] = "billsync.change/0"
    publish_raw(backend.broker_url, topology, b"{not json")
    publish_raw(backend.broker_url, topology, json.dumps(old_schema).encode())
    wait_for_dead_letters(backend.database_url, 2)

    listed = cli("dlq", "list", "--json")
    assert listed.exit_code == 0, listed.output
    letters = {letter["id"]: letter for letter in json.loads(listed.stdout)["dead_letters"]}
    assert len(letters) == 2 and all(letter["reason"] for letter in letters.values())
    schema_id = next(i for i, letter in letters.items() if "schema" in letter["reason"])
    garbage_id = next(i for i in letters if i != schema_id)
    human = cli("dlq", "list")
    assert human.exit_code == 0 and "2 dead letters" in human.stdout, human.output
    assert "not valid UTF-8 JSON" in human.stdout

    shown = cli("dlq", "show", str(schema_id), "--json")
    assert shown.exit_code == 0, shown.output
    letter = json.loads(shown.stdout)
    assert "unknown schema" in letter["reason"]
    assert json.loads(letter["body"])["record_id"] == account_id(7)
    assert letter["headers"]["x-billsync-reason"] == letter["reason"]
    shown_human = cli("dlq", "show", str(schema_id))
    assert shown_human.exit_code == 0 and f"reason: {letter['reason']}" in shown_human.stdout
    assert cli("dlq", "show", "999999").exit_code == 4
    assert cli("dlq", "replay").exit_code == 2

    # The producer's bug is fixed: the letter is corrected, then replayed and pushed.
    sessions = open_store(load_settings(database_url=backend.database_url), pool_size=2)
    with sessions.begin() as session:
        stored = session.get(DeadLetter, schema_id)
        assert stored is not None
        stored.body = json.dumps({**old_schema, "schema": "billsync.change/1"}).encode()
    replayed = cli("dlq", "replay", str(schema_id))
    assert replayed.exit_code == 0 and "1 dead letters replayed" in replayed.stdout
    store = Store(backend.database_url)
    wait_until(lambda: store.states().get(account_id(7)) == "pushed", what="replayed pushed")
    assert ls_account_copies(logisense) == {account_id(7): 1}
    remaining = json.loads(cli("dlq", "list", "--json").stdout)["dead_letters"]
    assert [r["id"] for r in remaining] == [garbage_id]
    everything = json.loads(cli("dlq", "list", "--all", "--json").stdout)["dead_letters"]
    assert {r["id"] for r in everything} == {schema_id, garbage_id}
    assert next(r for r in everything if r["id"] == schema_id)["replayed_at"] is not None

    declined = cli("dlq", "purge", input="n\n")
    assert declined.exit_code == 1, declined.output
    assert json.loads(cli("dlq", "list", "--all", "--json").stdout)["total"] == 2
    purged = cli("dlq", "purge", "--yes")
    assert purged.exit_code == 0 and "2 dead letters purged" in purged.stdout, purged.output
    assert json.loads(cli("dlq", "list", "--all", "--json").stdout)["dead_letters"] == []
