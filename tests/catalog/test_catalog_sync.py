"""Catalog sync against both simulators: one Salesforce product per active package frequency and
currency, named as the official app names them ("Package Frequency Currency"), each with its
services and its price; a second run writes nothing; what changes or disappears in LogiSense is
updated or deactivated in Salesforce, never deleted."""

from __future__ import annotations

import json
import threading
from typing import Any

from adapters.logisense import LogiSenseClient
from adapters.salesforce.rest import SalesforceClient
from simulators.logisense import seed
from tests.catalog.rep import Rep
from tests.conftest import wait_until
from workers.catalog.sync import CatalogScheduler, CatalogSync

ACTIVE = [c for c in seed.CATALOG if c[1]]  # Legacy DSL is inactive: no product at all
PRODUCTS = len(ACTIVE) * len(seed.FREQUENCIES) * 3
SERVICES = sum(len(s) for _, _, s in ACTIVE) * len(seed.FREQUENCIES) * 3
REFERENCES = 3 + 4 + 3 + 3 + 3 + 3 + 12 + 4 + 9


def list_price(package: int, currency: int) -> float:
    """The seed's sum of recurring + one-time list prices of a package, in one currency."""
    services = seed.CATALOG[package - 1][2]
    return round(
        sum(
            round(r * seed.FX[currency], 2) + round(o * seed.FX[currency], 2)
            for _, _, r, o in services
        ),
        2,
    )


def frequency_id(package: int, months: int) -> int:
    """The seed's package frequency identity of a package's 1m or 12m frequency."""
    return (package - 1) * len(seed.FREQUENCIES) + (1 if months == 1 else 2)


def entries(rep: Rep, book: str) -> dict[str, dict[str, Any]]:
    """PricebookEntries of ``book`` by product key (``"<frequency id>:<currency>"``)."""
    rows = rep.query(
        "SELECT Id, UnitPrice, IsActive, CurrencyIsoCode, Product2.LogiSense_Product_Key__c "
        f"FROM PricebookEntry WHERE Pricebook2.Name = '{book}'"
    )
    return {r["Product2"]["LogiSense_Product_Key__c"]: r for r in rows}


def products(rep: Rep) -> dict[str, dict[str, Any]]:
    """Product2 rows by product key."""
    rows = rep.query(
        "SELECT Name, IsActive, Family, LogiSense_Product_Key__c, "
        "LogiSense_Package_Frequency_Id__c FROM Product2"
    )
    return {r["LogiSense_Product_Key__c"]: r for r in rows}


def test_first_run_fills_the_price_book_and_a_second_run_writes_nothing(
    logisense: Any, ls_client: LogiSenseClient, salesforce: SalesforceClient, rep: Rep
) -> None:
    summary = CatalogSync(ls_client, salesforce).run()
    assert summary.ok, summary.errors
    created = {name: c.created for name, c in summary.objects.items()}
    assert created == {
        "Pricebook2": 1,
        "Product2": PRODUCTS,
        "Product_Service__c": SERVICES,
        "PricebookEntry": 2 * PRODUCTS,
        "LogiSense_Reference__c": REFERENCES,
    }
    book = rep.query("SELECT Id, IsActive FROM Pricebook2 WHERE Name = 'LogiSense'")
    assert len(book) == 1 and book[0]["IsActive"] is True
    held = products(rep)
    assert len(held) == PRODUCTS
    for package, (name, active, _) in enumerate(seed.CATALOG, 1):
        for fname, months, family in seed.FREQUENCIES:
            for code in ("USD", "EUR", "GBP"):
                row = held.get(f"{frequency_id(package, months)}:{code}")
                if not active:
                    assert row is None  # only active package frequencies become products
                    continue
                assert row is not None
                assert (row["Name"], row["IsActive"], row["Family"]) == (
                    f"{name} {fname} {code}",
                    True,
                    family,
                )
    for book_name in ("Standard Price Book", "LogiSense"):
        prices = entries(rep, book_name)
        assert len(prices) == PRODUCTS
        for package in range(1, len(ACTIVE) + 1):
            for currency, code in ((seed.USD, "USD"), (seed.EUR, "EUR"), (seed.GBP, "GBP")):
                entry = prices[f"{frequency_id(package, 12)}:{code}"]
                assert entry["CurrencyIsoCode"] == code
                assert entry["UnitPrice"] == list_price(package, currency)
                assert entry["IsActive"] is True
    rows = rep.query(
        "SELECT Name, LogiSense_Service_Id__c, LogiSense_Package_Service_Id__c, "
        "Recurring_Price__c, One_Time_Price__c, State_Prices__c, "
        "Product__r.LogiSense_Product_Key__c FROM Product_Service__c"
    )
    held_services = {r["LogiSense_Service_Id__c"]: r for r in rows}
    assert len(held_services) == SERVICES
    fiber = held_services["1:GBP:1"]
    assert (fiber["Name"], fiber["Product__r"]["LogiSense_Product_Key__c"]) == (
        "Fiber 100 Mbps Access",
        "1:GBP",
    )
    assert fiber["LogiSense_Package_Service_Id__c"] == "1"
    assert (fiber["Recurring_Price__c"], fiber["One_Time_Price__c"]) == (62.41, 0.0)
    assert json.loads(fiber["State_Prices__c"]) == [
        {"state": "Active", "price": 62.41},
        {"state": "Suspended", "price": 15.6},
    ]
    references = rep.query("SELECT Name, Type__c, LogiSense_Id__c FROM LogiSense_Reference__c")
    by_key = {r["LogiSense_Id__c"]: (r["Type__c"], r["Name"]) for r in references}
    assert by_key["Currency:2"] == ("Currency", "EUR")
    assert by_key["BillGroup:1"] == ("BillGroup", "Monthly 1st")
    assert by_key["ARTerm:1"] == ("ARTerm", "Net 30")
    assert by_key["AccountStatus:3"] == ("AccountStatus", "Suspended")
    assert by_key["AccountType:2"] == ("AccountType", "Partner")
    assert by_key["ContactType:1"] == ("ContactType", "Billing")
    assert by_key["ContactPointType:1"] == ("ContactPointType", "Billing: email")
    assert by_key["Country:3"] == ("Country", "GB")
    assert by_key["State:1"] == ("State", "US-CA")
    assert by_key["State:4"] == ("State", "CA-ON")

    events = rep.sim.bus.retained("/data/Product2ChangeEvent")
    origins = {e["payload"]["ChangeEventHeader"]["changeOrigin"] for e in events}
    assert len(events) == PRODUCTS and all(o.endswith("client=billsync") for o in origins)

    writes = rep.writes()
    again = CatalogSync(ls_client, salesforce).run()
    assert rep.writes() == writes
    assert again.written == 0 and again.salesforce_write_calls == 0
    assert again.objects["PricebookEntry"].unchanged == 2 * PRODUCTS


def test_a_package_with_two_frequencies_in_two_currencies_is_four_named_products(
    logisense: Any, ls_client: LogiSenseClient, salesforce: SalesforceClient, rep: Rep
) -> None:
    """Issue 11, acceptance 3: made through LogiSense's API as a billing user would."""

    def create(path: str, body: dict[str, Any]) -> int:
        answer = ls_client.session.call("POST", path, noun="test", body=body)
        return int(answer["results"]["items"][0]["identity"])

    package = create("Package", {"name": "ABC", "isActive": True})
    for name, price in (("Line", 20.0), ("Support", 5.0)):
        service = create("Service", {"name": name, "serviceTypeId": 1, "isActive": True})
        prices = [
            {
                "currencyId": currency,
                "oneTimePrice": 0.0,
                "recurringPrices": [{"serviceStatusName": "Active", "amount": price * factor}],
            }
            for currency, factor in ((seed.GBP, 1.0), (seed.EUR, 1.25))
        ]
        create("Package/Service", {"packageId": package, "serviceId": service, "prices": prices})
    for name, months, family in (("1m", 1, "Monthly Plans"), ("12m", 12, "Annual Plans")):
        create(
            "Package/Frequency",
            {
                "name": name,
                "packageId": package,
                "frequency": months,
                "isActive": True,
                "extensions": {"family": family},
            },
        )
    create("Package/Frequency", {"name": "24m", "packageId": package, "isActive": False})
    for currency in (seed.GBP, seed.EUR):
        create("Package/Currency", {"packageId": package, "currencyId": currency})

    summary = CatalogSync(ls_client, salesforce).run()
    assert summary.ok, summary.errors
    rows = rep.query(
        "SELECT Id, Name, Family, IsActive FROM Product2 "
        "WHERE Name LIKE 'ABC %' AND IsActive = true"
    )
    assert sorted((r["Name"], r["Family"]) for r in rows) == [
        ("ABC 12m EUR", "Annual Plans"),
        ("ABC 12m GBP", "Annual Plans"),
        ("ABC 1m EUR", "Monthly Plans"),
        ("ABC 1m GBP", "Monthly Plans"),
    ]
    for row in rows:
        services = rep.query(
            "SELECT Name, Recurring_Price__c FROM Product_Service__c "
            f"WHERE Product__c = '{row['Id']}'"
        )
        factor = 1.25 if row["Name"].endswith("EUR") else 1.0
        assert sorted((s["Name"], s["Recurring_Price__c"]) for s in services) == [
            ("Line", 20.0 * factor),
            ("Support", 5.0 * factor),
        ]
    assert rep.query("SELECT Name FROM Product2 WHERE Name LIKE 'ABC 24m%'") == []

    writes = rep.writes()
    again = CatalogSync(ls_client, salesforce).run()
    assert again.written == 0 and rep.writes() == writes


def _change_logisense(sim: Any) -> None:
    """A new price, a removed package service, a retired package and a new bill group."""
    with sim.state.lock:
        fiber = sim.state.tables["Package/Service"][1]
        prices = [dict(p) for p in fiber["prices"]]
        prices[0] = {
            **prices[0],
            "recurringPrices": [
                {"serviceStatusName": "Active", "amount": 85.0},
                *prices[0]["recurringPrices"][1:],
            ],
        }
        sim.state.tables["Package/Service"][1] = {**fiber, "prices": prices}
        del sim.state.tables["Package/Service"][2]
        sim.state.tables["Package"][3] = {**sim.state.tables["Package"][3], "isActive": False}
        groups = sim.state.tables["BillGroup"]
        groups[99] = {**groups[1], "identity": 99, "name": "Quarterly"}


def test_changes_in_logisense_update_and_deactivate_without_deleting(
    logisense: Any, ls_client: LogiSenseClient, salesforce: SalesforceClient, rep: Rep
) -> None:
    CatalogSync(ls_client, salesforce).run()
    _change_logisense(logisense)
    summary = CatalogSync(ls_client, salesforce).run()
    assert summary.ok, summary.errors
    assert summary.objects["Product2"].deactivated == 6  # package 3: 2 frequencies x 3 currencies
    assert summary.objects["LogiSense_Reference__c"].created == 1
    held = products(rep)
    assert held["5:USD"]["IsActive"] is False and held["1:USD"]["IsActive"] is True
    for book in ("Standard Price Book", "LogiSense"):
        prices = entries(rep, book)
        assert prices["1:USD"]["UnitPrice"] == 85.0 + 149.0
        assert prices["2:EUR"]["UnitPrice"] == round(list_price(1, seed.EUR) - 9.2, 2)
        assert all(prices[f"5:{code}"]["IsActive"] is False for code in ("USD", "EUR", "GBP"))
    active = {
        r["LogiSense_Service_Id__c"]: (r["IsActive__c"], r["Recurring_Price__c"])
        for r in rep.query(
            "SELECT LogiSense_Service_Id__c, IsActive__c, Recurring_Price__c "
            "FROM Product_Service__c"
        )
    }
    assert active["1:USD:1"] == (True, 85.0)
    assert active["1:USD:2"][0] is False, "a service gone from LogiSense is deactivated, kept"
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
        rows = logisense.state.tables["Package/Currency"]
        rows[99] = {**rows[1], "identity": 99, "currencyId": 9}
    summary = CatalogSync(ls_client, salesforce).run()
    assert not summary.ok
    # package 1 in CHF: two products, each refused by the standard and the LogiSense book
    assert summary.objects["PricebookEntry"].failed == 4
    assert summary.objects["PricebookEntry"].created == 2 * PRODUCTS
    assert any("CHF" in problem for problem in summary.errors)
    assert "1:CHF" not in entries(rep, "Standard Price Book")


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
        wait_until(lambda: scheduler.runs >= 2, timeout=20, what="two runs")
        assert synced[0] == 1 + PRODUCTS * 3 + SERVICES + REFERENCES and synced[1] == 0
        logisense.faults.update({"error_rate": 1.0, "error_status": 400})
        wait_until(lambda: scheduler.last_error, timeout=10, what="a failed run")
        assert thread.is_alive()
        logisense.faults.update({"error_rate": 0.0})
        runs = scheduler.runs
        wait_until(lambda: scheduler.runs > runs, timeout=20, what="a run after the failure")
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
