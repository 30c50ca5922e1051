"""Opportunity push end to end (issue 5, acceptance 2 to 6): the catalog synced into the
Salesforce simulator, records created there by a rep, change and push-request messages through the
broker, the worker on both backends, the LogiSense simulator holding the outcome."""

from __future__ import annotations

from typing import Any

from billsync.messages import change, push_request
from simulators.logisense import seed
from tests.catalog.rep import Line, Rep, Service
from tests.conftest import wait_until
from tests.core.helpers import Store, ls_accounts, ls_writes

PLAN_ROUTE = "/ResourceServer/api/v*/Account/PricePlan"


def account_change(sfid: str, currency: str = "USD") -> Any:
    """The CDC CREATE of an in-scope account the rep made."""
    values = {
        "Name": f"Account {sfid[-6:]}",
        "CurrencyIsoCode": currency,
        "LogiSense_Sync__c": True,
        "LogiSense_Account_Status__c": "Active",
        "LogiSense_Bill_Group__c": "Monthly 1st",
        "LogiSense_AR_Term__c": "Net 30",
        "Subscription_Invoice_Recipient__c": sfid,
        "Usage_Invoice_Recipient__c": sfid,
    }
    return change("Account", sfid, values, change_type="CREATE")


MARKER = "Salesforce opportunity "


def plans(sim: Any) -> dict[str, dict[str, Any]]:
    """LogiSense account price plans pushed by billsync, by opportunity id (plans carry no
    sfdcid: billsync marks them in ``description``, see docs/adapters-logisense.md)."""
    with sim.state.lock:
        return {
            r["description"][len(MARKER) :]: dict(r)
            for r in sim.state.tables["Account/PricePlan"].values()
            if str(r.get("description") or "").startswith(MARKER)
        }


def plan_requests(sim: Any) -> list[dict[str, Any]]:
    """Every request LogiSense served on price plans (searches too), in order."""
    with sim.stats.lock:
        return [dict(e) for e in sim.stats.log if e["route"].startswith(PLAN_ROUTE)]


def plan_writes(sim: Any) -> list[dict[str, Any]]:
    """The price plan creates and updates LogiSense served, in order."""
    return [
        e
        for e in plan_requests(sim)
        if e["method"] in ("POST", "PUT", "PATCH") and not e["route"].endswith("/Search")
    ]


def synced_account(rep: Rep, store: Store, publish: Any, currency: str = "USD") -> str:
    """An account the rep created, pushed to LogiSense through the worker."""
    sfid = rep.account(f"Customer {currency}", currency)
    publish([account_change(sfid, currency)])
    wait_until(lambda: store.settled([sfid], ("pushed",)), what="account pushed")
    return sfid


def internet(recurring: float = 70.0, quantity: float = 2.0) -> Line:
    """Package 1 with fiber access (negotiated) and an installation fee."""
    return Line(1, [Service(1, recurring, quantity=quantity), Service(3, 0.0, one_time=99.0)])


def test_push_requested_before_the_account_waits_and_follows_it(
    backend: Any, logisense: Any, rep: Rep, sync_worker: Any, publish: Any
) -> None:
    sync_worker()
    store = Store(backend.database_url)
    account = rep.account("Late Corp")
    opp = rep.opportunity(account, [internet()])
    publish([push_request(opp)])
    wait_until(
        lambda: opp in store.states() and store.record(opp).waiting_for,
        what="opportunity waiting",
    )
    waiting = store.record(opp)
    assert waiting.state == "validated"
    assert account in (waiting.waiting_for or "")
    assert plans(logisense) == {} and plan_requests(logisense) == []

    publish([account_change(account)])
    wait_until(lambda: store.settled([opp], ("pushed",)), what="opportunity pushed")
    account_pushed = next(h for h in store.history(account) if h.to_state == "pushed")
    opp_synced = next(h for h in store.history(opp) if h.to_state == "account-synced")
    assert account_pushed.id < opp_synced.id
    ls_account = ls_accounts(logisense)[account]
    plan = plans(logisense)[opp]
    assert plan["accountId"] == ls_account["identity"]
    assert all(r["status"] < 400 for r in plan_requests(logisense))
    assert [r["method"] for r in plan_writes(logisense)] == ["POST"]
    account_created = min(
        e["t"]
        for e in logisense.stats.log
        if e["method"] == "POST" and e["route"].endswith("/Account")
    )
    assert account_created <= plan_requests(logisense)[0]["t"]


def test_invalid_opportunities_fail_with_reasons_and_leave_logisense_untouched(
    backend: Any, logisense: Any, rep: Rep, sync_worker: Any, publish: Any
) -> None:
    sync_worker()
    store = Store(backend.database_url)
    account = synced_account(rep, store, publish)
    writes_before = ls_writes(logisense)

    partner = rep.create("Pricebook2", {"Name": "Partner", "IsActive": True})
    product = rep.product(1, "USD")
    rep.create(
        "PricebookEntry",
        {"Pricebook2Id": partner, "Product2Id": product, "UnitPrice": 100, "IsActive": True},
    )
    stray = rep.create(
        "Product_Service__c",
        {"Name": "Homemade", "Product__c": product, "LogiSense_Service_Id__c": "9999"},
    )
    opps = {
        "not won": rep.opportunity(account, [internet()], stage="Negotiation"),
        "lost": rep.opportunity(account, [internet()], stage="Closed Lost"),
        "other book": rep.opportunity(account, [internet()], book="Partner"),
        "sum": rep.opportunity(account, [Line(1, internet().services, unit_price=300.0)]),
        "unknown service": rep.opportunity(
            account, [Line(1, [Service(1, 70.0), Service(0, 5.0, sf_service_id=stray)])]
        ),
        "currency": rep.opportunity(account, [internet()], currency="EUR"),
    }
    publish([push_request(o) for o in opps.values()])
    wait_until(lambda: store.settled(list(opps.values())), what="opportunities settled")
    reasons = {k: store.record(v).last_error or "" for k, v in opps.items()}
    assert {k: store.record(v).state for k, v in opps.items()} == dict.fromkeys(opps, "failed")
    assert "is not won (stage 'Negotiation')" in reasons["not won"]
    assert "is not won (stage 'Closed Lost')" in reasons["lost"]
    assert "uses price book 'Partner', not 'LogiSense'" in reasons["other book"]
    assert "sales price 300" in reasons["sum"] and "sum of its service prices 239" in reasons["sum"]
    assert f"Service {stray}" in reasons["unknown service"]
    assert "not in the LogiSense catalog" in reasons["unknown service"]
    assert "currency 'EUR' differs from its account's 'USD'" in reasons["currency"]
    assert ls_writes(logisense) == writes_before
    assert plans(logisense) == {}


def test_plan_holds_exactly_the_services_and_prices_in_the_account_currency(
    backend: Any, logisense: Any, rep: Rep, sync_worker: Any, publish: Any
) -> None:
    sync_worker()
    store = Store(backend.database_url)
    account = synced_account(rep, store, publish, currency="EUR")
    states = [{"state": "Active", "price": 60.0}, {"state": "Suspended", "price": 15.0}]
    lines = [
        Line(1, [Service(1, 60.0, quantity=3, states=states), Service(3, 0.0, one_time=120.0)]),
        Line(2, [Service(4, 20.0, quantity=10), Service(5, 0.0, overage=0.04)]),
    ]
    opp = rep.opportunity(account, lines, stage="Signed", currency="EUR")
    publish([push_request(opp)])
    wait_until(lambda: store.settled([opp]), what="opportunity settled")
    assert store.record(opp).state == "pushed", store.record(opp).last_error
    plan = plans(logisense)[opp]
    assert plan["accountId"] == ls_accounts(logisense)[account]["identity"]
    assert "currencyId" not in plan and "sfdcid" not in plan  # not Account Price Plan fields
    currencies = logisense.state.tables["Package/Currency"]
    items = sorted(
        (
            i["packageServiceId"],
            i["packageFrequencyId"],
            currencies[i["packageCurrencyId"]]["currencyId"],
            i["quantity"],
            [(r["serviceStatusName"], r["amount"]) for r in i["recurringPrices"]],
            i["oneTimePrice"],
        )
        for i in plan["packageServicePricePlan"]
    )
    monthly = {1: 1, 2: 3}  # package -> its 1m frequency in the seed
    assert items == [
        (1, monthly[1], seed.EUR, 3.0, [("Active", 60.0), ("Suspended", 15.0)], 0.0),
        (3, monthly[1], seed.EUR, 1.0, [("Active", 0.0)], 120.0),
        (4, monthly[2], seed.EUR, 10.0, [("Active", 20.0)], 0.0),
        (5, monthly[2], seed.EUR, 1.0, [("Active", 0.0)], 0.0),
    ]
    # no documented LogiSense field holds an overage price: it is not invented
    assert all("overagePrice" not in i for i in plan["packageServicePricePlan"])


def test_a_stage_change_to_won_without_a_request_pushes_nothing(
    backend: Any, logisense: Any, rep: Rep, sync_worker: Any, publish: Any
) -> None:
    sync_worker()
    store = Store(backend.database_url)
    account = synced_account(rep, store, publish)
    opp = rep.opportunity(account, [internet()], stage="Negotiation")
    rep.update("Opportunity", opp, {"StageName": "Closed Won"})
    won = change(
        "Opportunity", opp, {"StageName": "Closed Won", "IsWon": True}, change_type="UPDATE"
    )
    sentinel = rep.account("Sentinel")
    publish([won, account_change(sentinel)])
    wait_until(lambda: store.settled([sentinel]), what="sentinel account settled")
    assert opp not in store.states()
    assert plans(logisense) == {}

    publish([push_request(opp)])
    wait_until(lambda: store.settled([opp]), what="requested push")
    assert store.record(opp).state == "pushed"
    written = len(plan_writes(logisense))
    rep.update("Opportunity", opp, {"StageName": "Signed"})
    again = change("Opportunity", opp, {"StageName": "Signed"}, change_type="UPDATE")
    other = rep.account("Sentinel 2")
    publish([again, account_change(other)])
    wait_until(lambda: store.settled([other]), what="second sentinel settled")
    assert store.record(opp).state == "pushed"
    assert len(plan_writes(logisense)) == written


def test_pushing_again_updates_the_same_plan(
    backend: Any, logisense: Any, rep: Rep, sync_worker: Any, publish: Any
) -> None:
    sync_worker()
    store = Store(backend.database_url)
    account = synced_account(rep, store, publish)
    opp = rep.opportunity(account, [internet()])
    publish([push_request(opp)])
    wait_until(lambda: store.settled([opp]), what="first push")
    first = plans(logisense)[opp]

    item = rep.query(f"SELECT Id FROM OpportunityLineItem WHERE OpportunityId = '{opp}'")[0]["Id"]
    fiber = rep.query(
        "SELECT Id FROM Opportunity_Product_Service__c WHERE Opportunity_Product_Id__c = "
        f"'{item}' AND Product_Service__r.LogiSense_Package_Service_Id__c = '1'"
    )[0]["Id"]
    rep.update("Opportunity_Product_Service__c", fiber, {"Recurring_Price__c": 65.0})
    rep.update("OpportunityLineItem", item, {"UnitPrice": 229.0})
    publish([push_request(opp, source="cli")])
    wait_until(
        lambda: sum(h.to_state == "pushed" for h in store.history(opp)) == 2, what="second push"
    )
    held = plans(logisense)
    assert list(held) == [opp]
    assert held[opp]["identity"] == first["identity"] == store.record(opp).ls_id
    prices = {
        i["packageServiceId"]: i["recurringPrices"][0]["amount"]
        for i in held[opp]["packageServicePricePlan"]
    }
    assert prices == {1: 65.0, 3: 0.0}
    assert [r["method"] for r in plan_writes(logisense)] == ["POST", "PATCH"]
