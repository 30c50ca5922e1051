"""Operators query and act in bulk: the entity listing with filters and true totals, retry and
dlq replay/purge with the same filters and ``--dry-run``, each action recorded (who, what, when)
and shown by ``status``; one JSON shape (ISO 8601 UTC times, null for none, objects)."""

from __future__ import annotations

import getpass
import json
import re
import socket
from typing import Any

import pytest

from adapters.broker.publisher import open_publisher
from adapters.broker.topology import Topology
from tests.conftest import Backend, wait_until
from tests.core.helpers import Store
from tests.factories import account, account_id

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def three_failed(backend: Backend, run_worker: Any, publish: Any) -> Store:
    """Two accounts without a currency, one with an unknown bill group, one pushed."""
    run_worker()
    publish(
        [
            account(1, CurrencyIsoCode=None),
            account(2, CurrencyIsoCode=None),
            account(3, LogiSense_Bill_Group__c="Nope"),
            account(4),
        ]
    )
    store = Store(backend.database_url)
    wait_until(lambda: store.settled([account_id(n) for n in (1, 2, 3, 4)]), what="settled")
    return store


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_listing_filters_and_true_totals(three_failed: Store, cli: Any) -> None:
    page = _json(cli("failed", "--limit", "1", "--json"))
    assert page["total"] == 3 and page["shown"] == 1 and len(page["entities"]) == 1
    shown = cli("failed", "--limit", "1")
    assert "3 failed entities (newest 1 shown" in shown.output
    assert "Account 1" in cli("failed").output  # names are shown
    currency = _json(cli("entities", "--state", "failed", "--reason", "CURRENCY", "--json"))
    assert {e["sfid"] for e in currency["entities"]} == {account_id(1), account_id(2)}
    pushed = _json(cli("entities", "--state", "pushed", "--object", "account", "--json"))
    assert [e["sfid"] for e in pushed["entities"]] == [account_id(4)]
    entity = pushed["entities"][0]
    assert ISO_UTC.match(entity["updated_at"]) and entity["reason"] is None
    assert entity["name"] == "Account 4"
    assert _json(cli("entities", "--since", "2h", "--json"))["total"] == 4
    assert _json(cli("entities", "--since", "2999-01-01", "--json"))["total"] == 0
    bad = cli("entities", "--since", "yesterday")
    assert bad.exit_code == 2 and "--since" in bad.output
    unknown = cli("entities", "--state", "stuck")
    assert unknown.exit_code == 2 and "unknown state stuck" in unknown.output


def test_retry_by_filter_dry_run_then_for_real_with_an_audit_trail(
    three_failed: Store, cli: Any
) -> None:
    preview = _json(cli("retry", "--reason", "currency", "--dry-run", "--json"))
    assert sorted(preview["retried"]) == [account_id(1), account_id(2)]
    assert preview["dry_run"] is True
    assert {three_failed.states()[account_id(n)] for n in (1, 2)} == {"failed"}
    assert _json(cli("status", account_id(1), "--json"))["operator_actions"] == []

    done = cli("retry", "--reason", "currency")
    assert done.exit_code == 0 and "2 entities moved" in done.output
    status = _json(cli("status", account_id(1), "--json"))
    action = status["operator_actions"][-1]
    assert action["action"] == "retry"
    assert action["actor"] == f"{getpass.getuser()}@{socket.gethostname()}"
    assert ISO_UTC.match(action["at"])
    assert any(h["trigger"] == "retry" for h in status["history"])
    assert all(ISO_UTC.match(h["at"]) for h in status["history"])
    assert "operator actions" in cli("status", account_id(1)).output
    untouched = _json(cli("status", account_id(3), "--json"))
    assert untouched["state"] == "failed" and untouched["operator_actions"] == []


def test_retry_of_an_id_that_is_not_failed_names_it_and_its_state(
    three_failed: Store, cli: Any
) -> None:
    pushed = cli("retry", account_id(4))
    assert pushed.exit_code == 1
    assert f"{account_id(4)} is pushed, not failed" in pushed.output
    never = cli("retry", account_id(77))
    assert never.exit_code == 4 and f"{account_id(77)} has never been seen" in never.output


def test_dlq_filters_dry_run_not_found_and_audit(
    backend: Backend, run_worker: Any, cli: Any
) -> None:
    run_worker()
    topology = Topology(prefix=backend.prefix)
    publisher = open_publisher(backend.broker_url, topology)
    for body in (b"{not json", b"[1, 2]", b'{"schema": "other/9"}'):
        publisher.publish(body, routing_key=topology.routing_key)
    publisher.close()

    def listed() -> Any:
        result = cli("dlq", "list", "--json")
        if result.exit_code != 0:
            return None
        document = json.loads(result.stdout)
        return document if document["total"] == 3 else None

    listing = wait_until(listed, what="three dead letters")
    assert all(
        ISO_UTC.match(d["received_at"]) and d["replayed_at"] is None
        for d in listing["dead_letters"]
    )
    page = _json(cli("dlq", "list", "--limit", "2", "--json"))
    assert page["total"] == 3 and page["shown"] == 2
    schema = _json(cli("dlq", "list", "--reason", "other/9", "--json"))
    assert schema["total"] == 1
    letter = schema["dead_letters"][0]["id"]

    missing_purge = cli("dlq", "purge", "99999", "--yes")
    missing_show = cli("dlq", "show", "99999")
    missing_replay = cli("dlq", "replay", "99999")
    assert missing_purge.exit_code == missing_show.exit_code == missing_replay.exit_code == 4
    assert "no dead letter 99999" in missing_purge.output

    preview = _json(cli("dlq", "purge", "--reason", "other/9", "--dry-run", "--json"))
    assert preview == {"dry_run": True, "purged": [letter]}
    assert _json(cli("dlq", "list", "--json"))["total"] == 3
    other = next(d for d in listing["dead_letters"] if d["id"] != letter)
    replayed = _json(cli("dlq", "replay", "--reason", other["reason"], "--dry-run", "--json"))
    assert replayed["replayed"] == [other["id"]]

    purged = cli("dlq", "purge", "--reason", "other/9", "--yes")
    assert purged.exit_code == 0 and "1 dead letters purged" in purged.output
    assert _json(cli("dlq", "list", "--json"))["total"] == 2
    from adapters.store.operator_log import actions_on
    from billsync.bootstrap import open_store
    from billsync.config import load_settings

    sessions = open_store(load_settings(database_url=backend.database_url))
    with sessions() as session:
        (action,) = actions_on(session, f"dlq:{letter}")
    assert action.action == "dlq-purge" and "other/9" in action.detail["reason"]
    assert action.actor.endswith(f"@{socket.gethostname()}")
