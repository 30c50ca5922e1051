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
    assert held[account_id(5)]["subscriptionInvoicerId"] == held[account_id(4)]["identity"]
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
    # The settle commits just after LogiSense answered the write.
    wait_until(lambda: store.states()[sfid] == "pushed", timeout=10, what="pushed again")
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
