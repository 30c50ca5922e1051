"""Catalog sync against both simulators (issue 5, acceptance 1): the LogiSense price book filled
with every product, service and price; a second run writes nothing; what changes or disappears in
LogiSense is updated or deactivated in Salesforce, never deleted."""

from __future__ import annotations

import json
import threading
from typing import Any

from adapters.logisense import LogiSenseClient
from adapters.salesforce.rest import SalesforceClient
from simulators.logisense import seed
from tests.catalog.rep import Rep
from tests.conftest import wait_until
from workers.catalog import CatalogScheduler, CatalogSync


def list_price(package: int, currency: int) -> float:
    """The seed's sum of recurring + one-time list prices of a package, in one currency."""
    services = seed.CATALOG[package - 1][2]
    return round(
        sum(
            round(r * seed.FX[currency], 2) + round(o * seed.FX[currency], 2)
            for _, _, r, o, _ in services
        ),
        2,
    )


def entries(rep: Rep, book: str) -> dict[tuple[str, str], dict[str, Any]]:
    """PricebookEntries of ``book`` by (package id, currency)."""
    rows = rep.query(
        "SELECT Id, UnitPrice, IsActive, CurrencyIsoCode, Product2.LogiSense_Package_Id__c "
        f"FROM PricebookEntry WHERE Pricebook2.Name = '{book}'"
    )
    return {(r["Product2"]["LogiSense_Package_Id__c"], r["CurrencyIsoCode"]): r for r in rows}


def test_first_run_fills_the_price_book_and_a_second_run_writes_nothing(
    logisense: Any, ls_client: LogiSenseClient, salesforce: SalesforceClient, rep: Rep
) -> None:
    summary = CatalogSync(ls_client, salesforce).run()
    assert summary.ok, summary.errors
    created = {name: c.created for name, c in summary.objects.items()}
    assert created == {
        "Pricebook2": 1,
        "Product2": 5,
        "Product_Service__c": 14,
        "PricebookEntry": 30,
        "LogiSense_Reference__c": 13,
    }
    book = rep.query("SELECT Id, IsActive FROM Pricebook2 WHERE Name = 'LogiSense'")
    assert len(book) == 1 and book[0]["IsActive"] is True
    products = {
        r["LogiSense_Package_Id__c"]: r
        for r in rep.query("SELECT Name, IsActive, LogiSense_Package_Id__c FROM Product2")
    }
    assert {k: (v["Name"], v["IsActive"]) for k, v in products.items()} == {
        str(n): (name, active) for n, (name, active, _) in enumerate(seed.CATALOG, 1)
    }
    for book_name in ("Standard Price Book", "LogiSense"):
        held = entries(rep, book_name)
        assert len(held) == 15
        for package, (_, active, _) in enumerate(seed.CATALOG, 1):
            for currency, code in ((seed.USD, "USD"), (seed.EUR, "EUR"), (seed.GBP, "GBP")):
                entry = held[(str(package), code)]
                assert entry["UnitPrice"] == list_price(package, currency)
                assert entry["IsActive"] is active
    rows = rep.query(
        "SELECT Name, LogiSense_Service_Id__c, Recurring_Price__c, One_Time_Price__c, "
        "Overage_Price__c, State_Prices__c, Product__r.LogiSense_Package_Id__c "
        "FROM Product_Service__c"
    )
    held_services = {r["LogiSense_Service_Id__c"]: r for r in rows}
    assert len(held_services) == 14
    fiber = held_services["1"]
    assert (fiber["Name"], fiber["Product__r"]["LogiSense_Package_Id__c"]) == (
        "Fiber 100 Mbps Access",
        "1",
    )
    assert (fiber["Recurring_Price__c"], fiber["One_Time_Price__c"]) == (79.0, 0.0)
    assert json.loads(fiber["State_Prices__c"]) == [
        {"state": "Active", "price": 79.0},
        {"state": "Suspended", "price": 19.75},
    ]
    assert held_services["5"]["Overage_Price__c"] == 0.05
    references = rep.query("SELECT Name, Type__c, LogiSense_Id__c FROM LogiSense_Reference__c")
    by_key = {r["LogiSense_Id__c"]: (r["Type__c"], r["Name"]) for r in references}
    assert by_key["Currency:2"] == ("Currency", "EUR")
    assert by_key["BillGroup:1"] == ("BillGroup", "Monthly 1st")
    assert by_key["ARTerm:1"] == ("ARTerm", "Net 30")
    assert by_key["AccountStatus:3"] == ("AccountStatus", "Suspended")

    events = rep.sim.bus.retained("/data/Product2ChangeEvent")
    origins = {e["payload"]["ChangeEventHeader"]["changeOrigin"] for e in events}
    assert len(events) == 5 and all(o.endswith("client=billsync") for o in origins)

    writes = rep.writes()
    again = CatalogSync(ls_client, salesforce).run()
    assert rep.writes() == writes
    assert again.written == 0 and again.salesforce_write_calls == 0
    assert again.objects["PricebookEntry"].unchanged == 30


def _change_logisense(sim: Any) -> None:
    """A new price, a removed service, a retired package and a new bill group."""
    with sim.state.lock:
        fiber = sim.state.tables["Service"][1]
        fiber["prices"] = [dict(p) for p in fiber["prices"]]
        fiber["prices"][0] = {**fiber["prices"][0], "recurringPrice": 85.0}
        del sim.state.tables["Service"][2]
        sim.state.tables["Package"][3]["isActive"] = False
        groups = sim.state.tables["BillGroup"]
        groups[99] = {**groups[1], "identity": 99, "name": "Quarterly"}


def test_changes_in_logisense_update_and_deactivate_without_deleting(
    logisense: Any, ls_client: LogiSenseClient, salesforce: SalesforceClient, rep: Rep
) -> None:
    CatalogSync(ls_client, salesforce).run()
    _change_logisense(logisense)
    summary = CatalogSync(ls_client, salesforce).run()
    assert summary.ok, summary.errors
    assert summary.objects["Product2"].deactivated == 1
    assert summary.objects["LogiSense_Reference__c"].created == 1
    products = {
        r["LogiSense_Package_Id__c"]: r["IsActive"]
        for r in rep.query("SELECT IsActive, LogiSense_Package_Id__c FROM Product2")
    }
    assert products["3"] is False and products["1"] is True
    for book in ("Standard Price Book", "LogiSense"):
        held = entries(rep, book)
        assert held[("1", "USD")]["UnitPrice"] == 85.0 + 149.0
        assert held[("1", "EUR")]["UnitPrice"] == round(list_price(1, seed.EUR) - 9.2, 2)
        assert all(held[("3", code)]["IsActive"] is False for code in ("USD", "EUR", "GBP"))
    rows = rep.query("SELECT LogiSense_Service_Id__c, Recurring_Price__c FROM Product_Service__c")
    held_services = {r["LogiSense_Service_Id__c"]: r for r in rows}
    assert held_services["1"]["Recurring_Price__c"] == 85.0
    assert "2" in held_services, "a service gone from LogiSense is never deleted"
    active = {
        r["LogiSense_Service_Id__c"]: r["IsActive__c"]
        for r in rep.query("SELECT LogiSense_Service_Id__c, IsActive__c FROM Product_Service__c")
    }
    assert active["2"] is False, "a service gone from LogiSense is deactivated"
    assert active["1"] is True
    quarterly = rep.query(
        "SELECT Name FROM LogiSense_Reference__c WHERE LogiSense_Id__c = 'BillGroup:99'"
    )
    assert quarterly == [{"attributes": quarterly[0]["attributes"], "Name": "Quarterly"}]

    writes = rep.writes()
    assert CatalogSync(ls_client, salesforce).run().written == 0
    assert rep.writes() == writes


def test_a_currency_salesforce_lacks_is_reported_and_the_rest_is_written(
    logisense: Any, ls_client: LogiSenseClient, salesforce: SalesforceClient, rep: Rep
) -> None:
    with logisense.state.lock:
        currencies = logisense.state.tables["Currency"]
        currencies[9] = {**currencies[1], "identity": 9, "code": "CHF", "name": "Swiss Franc"}
        fiber = logisense.state.tables["Service"][1]
        fiber["prices"] = [*fiber["prices"], {**fiber["prices"][0], "currencyId": 9}]
    summary = CatalogSync(ls_client, salesforce).run()
    assert not summary.ok
    assert summary.objects["PricebookEntry"].failed == 2  # standard and LogiSense book
    assert summary.objects["PricebookEntry"].created == 30
    assert any("CHF" in problem for problem in summary.errors)
    assert ("1", "CHF") not in entries(rep, "Standard Price Book")


def test_scheduler_runs_periodically_and_outlives_a_failed_run(
    logisense: Any, ls_client: LogiSenseClient, salesforce: SalesforceClient, rep: Rep
) -> None:
    synced: list[int] = []
    scheduler = CatalogScheduler(
        CatalogSync(ls_client, salesforce), 0.05, on_synced=lambda s: synced.append(s.written)
    )
    stop = threading.Event()
    thread = scheduler.start(stop)
    try:
        wait_until(lambda: scheduler.runs >= 2, timeout=10, what="two runs")
        assert synced[0] == 63 and synced[1] == 0
        logisense.faults.update({"error_rate": 1.0, "error_status": 400})
        wait_until(lambda: scheduler.last_error, timeout=10, what="a failed run")
        assert thread.is_alive()
        logisense.faults.update({"error_rate": 0.0})
        runs = scheduler.runs
        wait_until(lambda: scheduler.runs > runs, timeout=10, what="a run after the failure")
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
