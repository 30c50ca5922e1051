"""Accounts through the workers: order, hierarchy, rules, currency pinning (issue 3 acceptance
2, 3, 5, 8, 9), on the embedded default and on RabbitMQ with PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.conftest import wait_until
from tests.core.helpers import Store, ls_accounts, ls_writes
from tests.factories import account, account_id, update


def test_hierarchy_enqueued_child_first_ends_pushed_with_parent_links(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    run_worker()
    run_worker()
    publish(
        [account(3, parent=2), account(2, parent=1), account(1), account(5, invoicer=4), account(4)]
    )
    store = Store(backend.database_url)
    ids = [account_id(n) for n in (1, 2, 3, 4, 5)]
    wait_until(lambda: store.settled(ids), what="all accounts settled")
    assert set(store.states().values()) == {"pushed"}
    held = ls_accounts(logisense)
    assert held[account_id(3)]["parentAccountId"] == held[account_id(2)]["identity"]
    assert held[account_id(2)]["parentAccountId"] == held[account_id(1)]["identity"]
    assert held[account_id(5)]["invoicerAccountId"] == held[account_id(4)]["identity"]
    assert held[account_id(4)]["identity"] < held[account_id(5)]["identity"]
    child_history = [(h.from_state, h.to_state) for h in store.history(account_id(3))]
    assert ("validated", "account-synced") in child_history
    assert child_history[-1] == ("account-synced", "pushed")


def test_rule_failures_leave_logisense_untouched(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    run_worker()
    publish(
        [
            account(10),
            account(11, parent=10, CurrencyIsoCode="EUR"),
            account(12, CurrencyIsoCode=None),
            account(13, LogiSense_Account_Status__c="Bogus"),
            account(14, LogiSense_Bill_Group__c="Weekly Nope"),
            account(15, LogiSense_AR_Term__c=None),
        ]
    )
    store = Store(backend.database_url)
    ids = [account_id(n) for n in range(10, 16)]
    wait_until(lambda: store.settled(ids), what="accounts settled")
    states = store.states()
    assert states[account_id(10)] == "pushed"
    reasons = {n: store.record(account_id(n)).last_error or "" for n in range(11, 16)}
    assert all(states[account_id(n)] == "failed" for n in range(11, 16))
    assert "same currency" in reasons[11]
    assert "Currency (CurrencyIsoCode) is required" in reasons[12]
    assert "'Bogus'" in reasons[13] and "Account status" in reasons[13]
    assert "Bill group 'Weekly Nope'" in reasons[14]
    assert "Accounts receivable term" in reasons[15]
    assert set(ls_accounts(logisense)) == {account_id(10)}


def test_currency_change_after_sync_fails_and_later_changes_flow(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    run_worker()
    sfid = account_id(20)
    publish([account(20)])
    store = Store(backend.database_url)
    wait_until(lambda: store.states().get(sfid) == "pushed", what="pushed")
    publish([update("Account", sfid, CurrencyIsoCode="EUR")])
    wait_until(lambda: store.states().get(sfid) == "failed", what="currency change failed")
    assert "cannot change once the account is synced" in (store.record(sfid).last_error or "")
    usd = logisense.state.tables["Currency"]
    assert usd[ls_accounts(logisense)[sfid]["currencyId"]]["code"] == "USD"
    publish([update("Account", sfid, Name="Renamed Ltd")])
    wait_until(lambda: ls_accounts(logisense)[sfid]["name"] == "Renamed Ltd", what="rename")
    # LogiSense holds the write a moment before the settle transaction records "pushed"
    wait_until(lambda: store.states()[sfid] == "pushed", what="pushed after the rename")
    assert usd[ls_accounts(logisense)[sfid]["currencyId"]]["code"] == "USD"


def test_unmapped_changes_cost_nothing_and_bursts_coalesce(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    run_worker()
    sfid = account_id(30)
    publish([account(30)])
    store = Store(backend.database_url)
    wait_until(lambda: store.states().get(sfid) == "pushed", what="pushed")
    before = ls_writes(logisense)
    requests_before = logisense.stats.as_json()["requests_total"]
    publish([update("Account", sfid, Description=f"note {i}") for i in range(20)])
    wait_until(
        lambda: store.record(sfid).values.get("Description") == "note 19",
        what="unmapped changes merged",
    )
    assert ls_writes(logisense) == before
    assert logisense.stats.as_json()["requests_total"] == requests_before
    publish([update("Account", sfid, Name=f"Burst {i}") for i in range(100)])
    wait_until(lambda: ls_accounts(logisense)[sfid]["name"] == "Burst 99", what="burst")
    wait_until(lambda: store.states()[sfid] == "pushed", what="settled")
    assert ls_writes(logisense) - before <= 3


def test_logisense_only_account_is_never_touched(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    with logisense.state.lock:
        internal = {k: dict(v) for k, v in logisense.state.tables["Account"].items()}
    run_worker()
    publish([account(40, Name="Billing Dept Internal")])
    store = Store(backend.database_url)
    wait_until(lambda: store.states().get(account_id(40)) == "pushed", what="pushed")
    with logisense.state.lock:
        for identity, record in internal.items():
            assert logisense.state.tables["Account"][identity] == record


def test_account_type_and_the_apps_trigger_list(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    """Type is written as accountTypeId; an unknown Type fails with a reason; a field outside the
    official app's trigger list costs no LogiSense call, one inside it does."""
    run_worker()
    publish([account(70, Type="Partner"), account(71, Type="Prospect")])
    store = Store(backend.database_url)
    wait_until(lambda: store.settled([account_id(70), account_id(71)]), what="settled")
    held = ls_accounts(logisense)[account_id(70)]
    assert held["accountTypeId"] == 2 and held["accountsReceivableTermsId"] == 1
    assert held["extensions"] == {"sfdcid": account_id(70)}
    assert store.states()[account_id(71)] == "failed"
    assert "Account Type 'Prospect' does not exist in LogiSense" in (
        store.record(account_id(71)).last_error or ""
    )
    before = ls_writes(logisense)
    publish([update("Account", account_id(70), Industry="Banking")])
    publish([update("Account", account_id(70), Type="Reseller")])
    wait_until(
        lambda: ls_accounts(logisense)[account_id(70)]["accountTypeId"] == 3, what="type changed"
    )
    wait_until(lambda: store.settled([account_id(70)], ("pushed",)), what="pushed")
    assert ls_writes(logisense) - before == 1


def test_sfdcid_lookup_is_exact_and_never_guesses(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    """Issue 10, build 6, with the simulator not enforcing sfdcid uniqueness (its default):
    a record whose sfdcid differs only in case is another customer's; two exact holders (made by
    an earlier tool) fail the account with both LogiSense ids, and nothing is written."""
    from adapters.logisense import LogiSenseClient
    from tests.conftest import LS_CLIENT, LS_PASSWORD, LS_USER

    base = {"currencyId": 1, "accountStatusTypeId": 1, "billGroupId": 1}
    twin, cased = account_id(81), account_id(82)
    with LogiSenseClient(
        logisense.base_url, username=LS_USER, password=LS_PASSWORD, client_id=LS_CLIENT
    ) as client:
        first = client.create_account({**base, "name": "Old 1", "extensions": {"sfdcid": twin}})
        second = client.create_account({**base, "name": "Old 2", "extensions": {"sfdcid": twin}})
        other = client.create_account(
            {**base, "name": "Someone else", "extensions": {"sfdcid": cased[:-1] + "a"}}
        )
    assert not logisense.state.unique_sfdcid
    run_worker()
    before = ls_writes(logisense)
    # Records that existed before billsync (as a backfill publishes them), so the earlier
    # tool's accounts are looked for before any create.
    publish([account(81, change_type="SNAPSHOT"), account(82, change_type="SNAPSHOT")])
    store = Store(backend.database_url)
    wait_until(lambda: store.settled([account_id(81), account_id(82)]), what="settled")
    assert store.states()[twin] == "failed"
    reason = store.record(twin).last_error or ""
    assert f"identities {first['identity']}, {second['identity']}" in reason
    assert store.states()[cased] == "pushed"
    assert store.record(cased).ls_id not in (other["identity"], None)
    untouched = logisense.state.tables["Account"][other["identity"]]
    assert untouched["name"] == "Someone else"
    assert ls_writes(logisense) - before == 1  # only the new account for ...82
