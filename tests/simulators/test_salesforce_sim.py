"""The Salesforce simulator's REST API, driven through simple-salesforce over TLS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from simulators.salesforce import SalesforceSimulator
from tests.simulators.conftest import sf_http_session, sf_login

CALLER = {"Sforce-Call-Options": "client=billsync"}


def error_of(exc: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    """The first error of a simple-salesforce exception's body."""
    content = exc.value.content
    return dict(content[0])


def make_catalog(sf: Salesforce, price: float = 10.0) -> dict[str, str]:
    """A product with a standard and a "LogiSense" price book entry."""
    standard = sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"][0]["Id"]
    book = sf.Pricebook2.create({"Name": "LogiSense", "IsActive": True})["id"]
    product = sf.Product2.create({"Name": "Fibre 1G", "LogiSense_Package_Id__c": "P-1"})["id"]
    sf.PricebookEntry.create(
        {"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": price, "IsActive": True}
    )
    entry = sf.PricebookEntry.create(
        {"Pricebook2Id": book, "Product2Id": product, "UnitPrice": price, "IsActive": True}
    )["id"]
    return {"standard": standard, "book": book, "product": product, "entry": entry}


def test_token_endpoint_answers_like_salesforce(
    sf_sim: SalesforceSimulator, sf_http: requests.Session
) -> None:
    token = sf_login(sf_sim, sf_http)
    assert token["instance_url"] == sf_sim.base_url
    assert token["token_type"] == "Bearer"
    assert {"access_token", "issued_at", "id", "signature"} <= set(token)
    token_url = f"{sf_sim.base_url}/services/oauth2/token"
    app = {"client_id": "billsync", "client_secret": "s3cret"}
    user = {"grant_type": "password", "username": "integration@example.com", **app}
    password = sf_http.post(token_url, data={**user, "password": "pwtok"})
    assert password.status_code == 200
    assert {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"} <= set(
        password.json()
    )
    refusals = {
        "wrong password": ({**user, "password": "pw"}, "invalid_grant", "authentication failure"),
        "unknown user": (
            {**user, "username": "anyone@example.com", "password": "pwtok"},
            "invalid_grant",
            "authentication failure",
        ),
        "wrong secret": (
            {"grant_type": "client_credentials", "client_id": "billsync", "client_secret": "no"},
            "invalid_client",
            "invalid client credentials",
        ),
        "unknown client": (
            {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "s3cret"},
            "invalid_client_id",
            "client identifier invalid",
        ),
        "unknown grant": (
            {"grant_type": "magic", **app},
            "unsupported_grant_type",
            "grant type not supported",
        ),
    }
    for case, (form, error, description) in refusals.items():
        refused = sf_http.post(token_url, data=form)
        assert refused.status_code == 400, case
        assert refused.json() == {"error": error, "error_description": description}, case


def test_create_read_update_query_delete(sf_client: Salesforce) -> None:
    created = sf_client.Account.create({"Name": "Acme", "LogiSense_Sync__c": True})
    assert created["success"] is True and created["errors"] == []
    account_id = created["id"]
    assert len(account_id) == 18 and account_id.startswith("001")
    record = sf_client.Account.get(account_id)
    assert record["Name"] == "Acme" and record["CurrencyIsoCode"] == "USD"
    assert record["attributes"]["type"] == "Account"
    assert sf_client.Account.get(account_id[:15])["Id"] == account_id
    assert sf_client.Account.update(account_id, {"Name": "Acme Ltd"}) == 204
    rows = sf_client.query(f"SELECT Id, Name FROM Account WHERE Id = '{account_id}'")
    assert rows["totalSize"] == 1 and rows["records"][0]["Name"] == "Acme Ltd"
    partial = sf_client.Account.get(account_id, headers=None)
    assert partial["LogiSense_Sync__c"] is True
    assert sf_client.Account.delete(account_id) == 204
    assert sf_client.query("SELECT Id FROM Account")["totalSize"] == 0
    deleted = sf_client.query_all("SELECT Id, IsDeleted FROM Account", include_deleted=True)
    assert deleted["totalSize"] == 1 and deleted["records"][0]["IsDeleted"] is True
    with pytest.raises(SalesforceResourceNotFound) as gone:
        sf_client.Account.get(account_id)
    assert error_of(gone)["errorCode"] == "ENTITY_IS_DELETED"


def test_fields_parameter_and_describe(
    sf_client: Salesforce, sf_http: requests.Session, sf_token: dict[str, str]
) -> None:
    account_id = sf_client.Account.create({"Name": "Acme"})["id"]
    url = f"{sf_token['instance_url']}/services/data/v59.0/sobjects/Account/{account_id}"
    headers = {"Authorization": f"Bearer {sf_token['access_token']}"}
    body = sf_http.get(url, params={"fields": "Name,ParentId"}, headers=headers).json()
    assert set(body) == {"attributes", "Name", "ParentId"}
    described = sf_client.Product2.describe()
    by_name = {f["name"]: f for f in described["fields"]}
    assert by_name["LogiSense_Package_Id__c"]["externalIdField"] is True
    assert described["keyPrefix"] == "01t"


def test_query_pages_at_2000_records(sf_sim: SalesforceSimulator, sf_client: Salesforce) -> None:
    for n in range(4500):
        sf_sim.store.insert_raw("Account", {"Name": f"A{n:05d}"})
    first = sf_client.query("SELECT Id, Name FROM Account")
    assert first["totalSize"] == 4500 and first["done"] is False
    assert len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    everything = sf_client.query_all("SELECT Id, Name FROM Account")
    assert len({r["Id"] for r in everything["records"]}) == 4500
    assert sf_sim.bus.retained() == []  # insert_raw emits no change events


def test_bad_soql_is_a_malformed_query(sf_client: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf_client.query("SELEC Id FROM Account")
    assert error_of(bad)["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as field:
        sf_client.query("SELECT Nope__c FROM Account")
    assert error_of(field)["errorCode"] == "INVALID_FIELD"


def test_collections_upsert_200_records_by_external_id(
    sf_sim: SalesforceSimulator, sf_client: Salesforce
) -> None:
    records = [
        {"attributes": {"type": "Product2"}, "LogiSense_Package_Id__c": f"P-{n}", "Name": f"P{n}"}
        for n in range(200)
    ]
    path = "composite/sobjects/Product2/LogiSense_Package_Id__c"
    first = sf_client.restful(path, method="PATCH", json={"allOrNone": True, "records": records})
    assert len(first) == 200 and all(r["success"] and r["created"] for r in first)
    for record in records:
        record["Name"] += " v2"
    second = sf_client.restful(path, method="PATCH", json={"allOrNone": True, "records": records})
    assert [r["id"] for r in second] == [r["id"] for r in first]
    assert not any(r["created"] for r in second)
    rows = sf_client.query_all("SELECT Name FROM Product2 WHERE Name LIKE '% v2'")
    assert rows["totalSize"] == 200
    events = sf_sim.bus.retained("/data/Product2ChangeEvent")
    keys = {e["payload"]["ChangeEventHeader"]["transactionKey"] for e in events}
    assert len(keys) == 2  # one transaction per call
    too_many = {"allOrNone": False, "records": records + records[:1]}
    with pytest.raises(SalesforceMalformedRequest):
        sf_client.restful(path, method="PATCH", json=too_many)


def test_collections_all_or_none_rolls_back(sf_client: Salesforce) -> None:
    records = [
        {"attributes": {"type": "Account"}, "Name": "Good"},
        {"attributes": {"type": "Account"}},
    ]
    results = sf_client.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
    )
    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sf_client.query("SELECT Id FROM Account")["totalSize"] == 0
    partial = sf_client.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": records}
    )
    assert [r["success"] for r in partial] == [True, False]
    assert sf_client.query("SELECT Id FROM Account")["totalSize"] == 1
    ids = ",".join(r["id"] for r in partial if r["success"])
    deleted = sf_client.restful(f"composite/sobjects?ids={ids}", method="DELETE")
    assert deleted[0]["success"] is True


def test_composite_with_references_and_all_or_none(sf_client: Salesforce) -> None:
    request = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Account",
                "referenceId": "acct",
                "body": {"Name": "Parent"},
            },
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Contact",
                "referenceId": "ct",
                "body": {"LastName": "Doe", "AccountId": "@{acct.id}"},
            },
            {
                "method": "GET",
                "url": "/services/data/v59.0/sobjects/Contact/@{ct.id}",
                "referenceId": "read",
            },
        ],
    }
    answer = sf_client.restful("composite", method="POST", json=request)["compositeResponse"]
    assert [r["httpStatusCode"] for r in answer] == [201, 201, 200]
    assert answer[2]["body"]["AccountId"] == answer[0]["body"]["id"]
    request["compositeRequest"][1]["body"] = {"AccountId": "@{acct.id}"}
    failed = sf_client.restful("composite", method="POST", json=request)["compositeResponse"]
    assert failed[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert failed[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf_client.query("SELECT Id FROM Account")["totalSize"] == 1


def test_required_field_and_lookup_errors(sf_client: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf_client.Opportunity.create({"Name": "Deal"})
    assert error_of(missing) == {
        "errorCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [StageName, CloseDate]",
        "fields": ["StageName", "CloseDate"],
    }
    with pytest.raises(SalesforceMalformedRequest) as dangling:
        sf_client.Contact.create({"LastName": "Doe", "AccountId": "001000000000000AAA"})
    assert error_of(dangling)["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf_client.Contact.create({"LastName": "Doe", "AccountId": "not-an-id"})
    assert error_of(malformed)["errorCode"] == "MALFORMED_ID"
    with pytest.raises(SalesforceMalformedRequest) as unknown_field:
        sf_client.Account.create({"Name": "A", "Bogus__c": 1})
    assert error_of(unknown_field)["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceResourceNotFound):
        sf_client.Bogus__c.create({"Name": "x"})
    with pytest.raises(SalesforceResourceNotFound) as bad_id:
        sf_client.Account.get("001nope")
    assert error_of(bad_id)["errorCode"] == "NOT_FOUND"


def test_stage_table_drives_is_won_which_is_read_only(sf_client: Salesforce) -> None:
    deal = {"Name": "Deal", "StageName": "Negotiation", "CloseDate": "2025-01-31"}
    opportunity_id = sf_client.Opportunity.create(deal)["id"]
    assert sf_client.Opportunity.get(opportunity_id)["IsWon"] is False
    sf_client.Opportunity.update(opportunity_id, {"StageName": "Signed"})
    signed = sf_client.Opportunity.get(opportunity_id)
    assert signed["IsWon"] is True and signed["IsClosed"] is True
    with pytest.raises(SalesforceMalformedRequest) as written:
        sf_client.Opportunity.update(opportunity_id, {"IsWon": False})
    assert error_of(written)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error_of(written)["fields"] == ["IsWon"]


def test_price_book_rules(sf_client: Salesforce) -> None:
    catalog = make_catalog(sf_client)
    other = sf_client.Product2.create({"Name": "Other"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as no_standard:
        sf_client.PricebookEntry.create(
            {"Pricebook2Id": catalog["book"], "Product2Id": other, "UnitPrice": 5}
        )
    assert error_of(no_standard)["errorCode"] == "STANDARD_PRICE_NOT_DEFINED"
    with pytest.raises(SalesforceMalformedRequest) as moved:
        sf_client.PricebookEntry.update(catalog["entry"], {"Product2Id": other})
    assert error_of(moved)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sf_client.PricebookEntry.create(
            {"Pricebook2Id": catalog["book"], "Product2Id": catalog["product"], "UnitPrice": 1}
        )
    assert error_of(duplicate)["errorCode"] == "DUPLICATE_VALUE"
    assert sf_client.PricebookEntry.update(catalog["entry"], {"IsActive": False}) == 204


def test_opportunity_products_and_services(sf_client: Salesforce) -> None:
    catalog = make_catalog(sf_client, price=30.0)
    account_id = sf_client.Account.create({"Name": "Acme"})["id"]
    deal = {
        "Name": "Deal",
        "StageName": "Closed Won",
        "CloseDate": "2025-01-31",
        "AccountId": account_id,
    }
    opportunity_id = sf_client.Opportunity.create(deal)["id"]
    line = sf_client.OpportunityLineItem.create(
        {
            "OpportunityId": opportunity_id,
            "PricebookEntryId": catalog["entry"],
            "Quantity": 2,
            "UnitPrice": 30,
        }
    )["id"]
    item = sf_client.OpportunityLineItem.get(line)
    assert item["TotalPrice"] == 60.0 and item["Product2Id"] == catalog["product"]
    assert sf_client.Opportunity.get(opportunity_id)["Pricebook2Id"] == catalog["book"]
    service = sf_client.Product_Service__c.create(
        {"Product__c": catalog["product"], "LogiSense_Service_Id__c": "S-1", "Name": "Port"}
    )["id"]
    sf_client.Opportunity_Product_Service__c.create(
        {
            "Opportunity__c": opportunity_id,
            "Opportunity_Product_Id__c": line,
            "Product_Service__c": service,
            "Quantity__c": 2,
            "Recurring_Price__c": 15,
            "One_Time_Price__c": 0,
        }
    )
    rows = sf_client.query(
        "SELECT Id, (SELECT Id FROM OpportunityLineItems), (SELECT Opportunity_Product_Id__c, "
        "Quantity__c, Recurring_Price__c FROM Opportunity_Product_Services__r) FROM Opportunity "
        f"WHERE Id = '{opportunity_id}'"
    )
    items = rows["records"][0]["OpportunityLineItems"]["records"]
    services = rows["records"][0]["Opportunity_Product_Services__r"]["records"]
    assert services[0]["Recurring_Price__c"] == 15.0
    assert services[0]["Opportunity_Product_Id__c"] == items[0]["Id"]


def test_contact_gets_direct_account_relation(sf_client: Salesforce) -> None:
    first = sf_client.Account.create({"Name": "First"})["id"]
    second = sf_client.Account.create({"Name": "Second"})["id"]
    contact = sf_client.Contact.create({"LastName": "Doe", "AccountId": first})["id"]
    sf_client.AccountContactRelation.create({"AccountId": second, "ContactId": contact})
    rows = sf_client.query(
        f"SELECT AccountId, IsDirect FROM AccountContactRelation WHERE ContactId = '{contact}'"
    )["records"]
    assert {(r["AccountId"], r["IsDirect"]) for r in rows} == {(first, True), (second, False)}
    relation = next(r for r in rows if r["IsDirect"])
    with pytest.raises(SalesforceMalformedRequest):
        sf_client.AccountContactRelation.update(
            relation["attributes"]["url"].rsplit("/", 1)[1], {"AccountId": second}
        )


def test_every_response_carries_limit_info_and_the_limit_ends_in_403(
    sf_http: requests.Session,
) -> None:
    with SalesforceSimulator(api_daily_limit=3) as sim:
        session = sf_http_session(sim)
        token = sf_login(sim, session)
        sf = Salesforce(
            session_id=token["access_token"], instance_url=token["instance_url"], session=session
        )
        sf.query("SELECT Id FROM Account")
        assert sf.api_usage["api-usage"].used == 1
        assert sf.api_usage["api-usage"].total == 3
        sf.query("SELECT Id FROM Account")
        sf.query("SELECT Id FROM Account")
        with pytest.raises(SalesforceRefusedRequest) as refused:
            sf.query("SELECT Id FROM Account")
        assert error_of(refused)["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_expired_and_unknown_sessions_get_401(
    sf_sim: SalesforceSimulator, sf_client: Salesforce, sf_http: requests.Session
) -> None:
    sf_client.query("SELECT Id FROM Account")
    sf_http.post(f"{sf_sim.base_url}/__sim/faults", json={"token_ttl_s": 0.2})
    time.sleep(0.3)
    with pytest.raises(SalesforceExpiredSession) as expired:
        sf_client.query("SELECT Id FROM Account")
    assert error_of(expired) == {
        "message": "Session expired or invalid",
        "errorCode": "INVALID_SESSION_ID",
    }
    fresh = sf_login(sf_sim, sf_http)
    again = Salesforce(
        session_id=fresh["access_token"], instance_url=fresh["instance_url"], session=sf_http
    )
    assert again.query("SELECT Id FROM Account")["totalSize"] == 0


def test_platform_event_publish(sf_sim: SalesforceSimulator, sf_client: Salesforce) -> None:
    answer = sf_client.LogiSense_Sync_Request__e.create({"Record_Id__c": "006000000000001AAA"})
    assert answer["success"] is True
    [event] = sf_sim.bus.retained("/event/LogiSense_Sync_Request__e")
    assert event["payload"]["Record_Id__c"] == "006000000000001AAA"
    assert "ChangeEventHeader" not in event["payload"]
    assert event["event"]["replayId"] > 0


def test_fault_knobs(
    sf_sim: SalesforceSimulator,
    sf_client: Salesforce,
    sf_http: requests.Session,
    sf_token: dict[str, str],
) -> None:
    url = f"{sf_sim.base_url}/services/data/v59.0/query"
    headers = {"Authorization": f"Bearer {sf_token['access_token']}"}
    params = {"q": "SELECT Id FROM Account"}
    sf_http.post(f"{sf_sim.base_url}/__sim/faults", json={"error_rate": 1.0})
    failed = sf_http.get(url, params=params, headers=headers)
    assert failed.status_code == 503 and failed.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    sf_http.post(
        f"{sf_sim.base_url}/__sim/faults",
        json={"error_rate": 0.0, "throttle_rate": 1.0, "retry_after_s": 7},
    )
    throttled = sf_http.get(url, params=params, headers=headers)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    sf_http.post(f"{sf_sim.base_url}/__sim/faults", json={"throttle_rate": 0.0, "latency_ms": 150})
    started = time.monotonic()
    assert sf_http.get(url, params=params, headers=headers).status_code == 200
    assert time.monotonic() - started >= 0.15
    stats = sf_http.get(f"{sf_sim.base_url}/__sim/stats").json()
    assert stats["requests_total"] >= 3 and stats["faults_injected"] == 2
    assert stats["routes"]["GET /services/data/query"] == 3


def test_reset_restores_the_seeded_org(
    sf_sim: SalesforceSimulator, sf_client: Salesforce, sf_http: requests.Session
) -> None:
    sf_client.Account.create({"Name": "Acme"})
    sf_http.post(f"{sf_sim.base_url}/__sim/reset")
    assert sf_client.query("SELECT Id FROM Account")["totalSize"] == 0
    books = sf_client.query("SELECT Name, IsStandard FROM Pricebook2")["records"]
    assert [(b["Name"], b["IsStandard"]) for b in books] == [("Standard Price Book", True)]


def test_main_prints_url_and_exits_0_on_sigterm(tmp_path: Any) -> None:
    ca_file = tmp_path / "ca.pem"
    code = (
        "import sys; from simulators.salesforce import main; "
        f"sys.exit(main(0, {str(ca_file)!r}, 'id', 'secret'))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:")
        session = requests.Session()
        session.verify, session.trust_env = str(ca_file), False
        token = session.post(
            f"{url}/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": "id", "client_secret": "secret"},
        )
        assert token.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()


def test_ids_are_deterministic_from_the_seed() -> None:
    def first_account(seed: int) -> str:
        with SalesforceSimulator(seed=seed) as sim:
            return sim.store.insert_raw("Account", {"Name": "A"})

    assert first_account(3) == first_account(3)
    assert first_account(3) != first_account(4)
    assert json.dumps(first_account(0))  # plain str
