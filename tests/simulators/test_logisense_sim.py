"""The LogiSense simulator over HTTP: login, envelopes, CRUD, search, price plans, every rule's
error code, fault injection and stats."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from simulators.logisense import LogiSenseSimulator, seed

API = "/ResourceServer/api/v7"
LOGIN = "/AuthorizationServer/api/v1/Access/Login"
ROLLED_BACK = {"code": 2000, "message": "Errors found. Transaction rolled back"}


class Client:
    """A tiny LogiSense client for the tests: one keep-alive session with a bearer token."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.http = requests.Session()
        self.http.trust_env = False

    def login(self, **overrides: str) -> requests.Response:
        form = {
            "username": "billsync",
            "password": "pw",
            "grant_type": "password",
            "client_id": "billsync",
            **overrides,
        }
        response = self.http.post(self.base + LOGIN, data=form)
        if response.status_code == 200:
            self.http.headers["Authorization"] = "Bearer " + response.json()["access_token"]
        return response

    def call(self, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.http.request(method, self.base + API + path, json=body, **kw)

    def admin(self, name: str, body: Any = None) -> Any:
        method = "GET" if body is None and name in ("stats", "dump") else "POST"
        return self.http.request(method, f"{self.base}/__sim/{name}", json=body).json()


def account(**fields: Any) -> dict[str, Any]:
    """A valid account body."""
    return {
        "name": "Acme Corp",
        "currencyId": seed.USD,
        "accountStatusTypeId": seed.ACTIVE,
        "billGroupId": seed.MONTHLY_1ST,
        "accountsReceivableTermId": seed.NET_30,
        **fields,
    }


def plan(account_id: int, **fields: Any) -> dict[str, Any]:
    """A valid price plan body: Internet Essentials, fiber access at a negotiated price."""
    return {
        "name": "Opportunity 006A",
        "accountId": account_id,
        "sfdcid": None,
        "packageServicePricePlan": [
            {"packageId": 1, "serviceId": 1, "quantity": 2, "recurringPrice": 70.0}
        ],
        **fields,
    }


@pytest.fixture(scope="module")
def ls_sim() -> Iterator[LogiSenseSimulator]:
    with LogiSenseSimulator(username="billsync", password="pw", client_id="billsync") as sim:
        yield sim


@pytest.fixture
def ls(ls_sim: LogiSenseSimulator) -> Client:
    """A logged-in client against a freshly reset simulator."""
    client = Client(ls_sim.base_url)
    client.admin("reset", {})
    assert client.login().status_code == 200
    return client


def created(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"trackingId", "type", "results"}
    item = body["results"]["items"][0]
    assert set(item) == {"identity", "action", "dtoTypeKey", "instance"}
    return item["instance"]


def error_codes(response: requests.Response, status: int) -> list[int]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"trackingId", "type", "errors"}
    assert body["errors"][-1] == ROLLED_BACK
    return [err["code"] for err in body["errors"][:-1]]


# -- auth -------------------------------------------------------------------------------------


def test_login_returns_a_bearer_token(ls_sim: LogiSenseSimulator) -> None:
    client = Client(ls_sim.base_url)
    body = client.login().json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1800
    assert len(body["access_token"].split(".")) == 3
    assert {"refresh_token", ".issued", ".expires"} <= set(body)
    assert client.call("GET", "/Currency").status_code == 200


@pytest.mark.parametrize(
    "override", [{"password": "nope"}, {"username": "eve"}, {"client_id": "other"}]
)
def test_bad_credentials_get_401(ls_sim: LogiSenseSimulator, override: dict[str, str]) -> None:
    assert error_codes(Client(ls_sim.base_url).login(**override), 401) == [11900401]


def test_client_secret_may_replace_the_password(ls_sim: LogiSenseSimulator) -> None:
    client = Client(ls_sim.base_url)
    assert client.login(password="", client_secret="pw").status_code == 200


def test_data_calls_need_a_valid_token(ls_sim: LogiSenseSimulator) -> None:
    client = Client(ls_sim.base_url)
    assert error_codes(client.call("GET", "/Account/1"), 401) == [11900402]
    client.http.headers["Authorization"] = "Bearer a.b.c"
    assert error_codes(client.call("GET", "/Account/1"), 401) == [11900403]


def test_token_expires_after_token_ttl(ls: Client, ls_sim: LogiSenseSimulator) -> None:
    ls_sim.faults.token_ttl_s = 0.3
    body = ls.login().json()
    assert body["expires_in"] == 0
    assert ls.call("GET", "/Account/1").status_code == 200
    time.sleep(0.35)
    assert error_codes(ls.call("GET", "/Account/1"), 401) == [11900404]
    ls_sim.faults.token_ttl_s = None
    assert ls.login().status_code == 200
    assert ls.call("GET", "/Account/1").status_code == 200


def test_expire_tokens_admin_route(ls: Client) -> None:
    ls.admin("expire_tokens", {})
    assert error_codes(ls.call("GET", "/Account/1"), 401) == [11900404]
    ls.login()
    assert ls.call("GET", "/Account/1").status_code == 200


def test_refresh_token_grant(ls_sim: LogiSenseSimulator) -> None:
    client = Client(ls_sim.base_url)
    refresh = client.login().json()["refresh_token"]
    again = client.login(grant_type="refresh_token", refresh_token=refresh)
    assert again.status_code == 200
    reused = client.login(grant_type="refresh_token", refresh_token=refresh)
    assert error_codes(reused, 401) == [11900401]


# -- accounts, contacts, search ---------------------------------------------------------------


def test_seed_is_served(ls: Client) -> None:
    currencies = ls.call("GET", "/Currency").json()
    assert set(currencies) == {"trackingId", "totalCount", "items"}
    assert [c["code"] for c in currencies["items"]] == ["USD", "EUR", "GBP"]
    internal = ls.call("GET", "/Account/1").json()["items"][0]
    assert internal["name"] == "Billing Dept Internal" and internal["sfdcid"] is None
    packages = ls.call("GET", "/Package").json()["items"]
    assert len(packages) >= 4 and any(not p["isActive"] for p in packages)
    detail = ls.call("GET", "/Package/1/Detail").json()["items"][0]
    assert 2 <= len(detail["services"]) <= 4
    assert {p["currencyName"] for p in detail["services"][0]["prices"]} == {
        "US Dollar",
        "Euro",
        "British Pound",
    }


def test_any_version_is_accepted(ls: Client) -> None:
    for version in (1, 4, 10):
        url = f"{ls.base}/ResourceServer/api/v{version}/AccountStatusType"
        assert ls.http.get(url).json()["totalCount"] == 4
    assert ls.http.get(f"{ls.base}/ResourceServer/api/v11/Currency").status_code == 404


def test_account_crud(ls: Client, ls_sim: LogiSenseSimulator) -> None:
    acme = created(ls.call("POST", "/Account", account(sfdcid="001AAA")))
    ident = acme["identity"]
    assert acme["currencyName"] == "US Dollar" and acme["billGroupName"] == "Monthly 1st"
    assert acme["subscriptionInvoicerId"] == ident  # no invoicer given: the account itself
    got = ls.call("GET", f"/Account/{ident}").json()
    assert got["totalCount"] == 1 and got["items"][0]["sfdcid"] == "001AAA"

    put = created(ls.call("PUT", f"/Account/{ident}", account(name="Acme Inc", sfdcid="001AAA")))
    assert put["name"] == "Acme Inc"
    patched = created(ls.call("PATCH", f"/Account/{ident}", {"accountStatusTypeId": 3}))
    assert patched["accountStatusTypeName"] == "Suspended" and patched["name"] == "Acme Inc"
    assert ls_sim.state.tables["Account"][ident]["accountStatusTypeId"] == 3

    deleted = ls.call("DELETE", f"/Account/{ident}")
    assert deleted.json()["type"] == "delete"
    assert error_codes(ls.call("GET", f"/Account/{ident}"), 404) == [11900301]


def test_contact_crud_and_shared_contact(ls: Client) -> None:
    a = created(ls.call("POST", "/Account", account(sfdcid="001A")))["identity"]
    b = created(ls.call("POST", "/Account", account(name="Beta", sfdcid="001B")))["identity"]
    body = {"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"}
    contact = created(ls.call("POST", "/Contact", {**body, "sfdcid": "003X", "accountIds": [a]}))
    assert contact["name"] == "Ada Lovelace" and contact["accountNames"] == ["Acme Corp"]
    cid = contact["identity"]
    shared = created(ls.call("PATCH", f"/Contact/{cid}", {"accountIds": [a, b]}))
    assert shared["accountIds"] == [a, b]
    detail = ls.call("GET", f"/Account/{b}/Detail").json()["items"][0]
    assert [c["identity"] for c in detail["contacts"]] == [cid]
    found = ls.call(
        "POST",
        "/Contact/Search",
        {"query": {"search": [{"name": "accountIds", "operator": "eq", "value": b}]}},
    ).json()
    assert [c["identity"] for c in found["items"]] == [cid]
    assert ls.call("DELETE", f"/Contact/{cid}").status_code == 200


def test_search_by_sfdcid_and_operators(ls: Client) -> None:
    for n in range(5):
        ls.call("POST", "/Account", account(name=f"Acct {n}", sfdcid=f"001S{n}"))

    def search(query: dict[str, Any]) -> dict[str, Any]:
        response = ls.call("POST", "/Account/Search", {"query": query})
        assert response.status_code == 200, response.text
        return response.json()

    hit = search({"search": [{"name": "sfdcid", "operator": "eq", "value": "001s3"}]})
    assert hit["totalCount"] == 1 and hit["items"][0]["name"] == "Acct 3"
    miss = search({"search": [{"name": "sfdcid", "operator": "eq", "value": "001ZZZ"}]})
    assert miss == {"trackingId": miss["trackingId"], "totalCount": 0, "items": []}
    ranged = search(
        {
            "search": [
                {"name": "identity", "operator": "gtEq", "value": 3},
                {"name": "identity", "operator": "lt", "value": 5},
            ],
            "orderBy": [{"name": "identity", "direction": "desc"}],
            "fields": ["name"],
        }
    )
    assert ranged["items"] == [{"identity": 4, "name": "Acct 2"}, {"identity": 3, "name": "Acct 1"}]
    others = search({"search": [{"name": "sfdcid", "operator": "notEq", "value": None}]})
    assert others["totalCount"] == 5
    by_name = search({"search": [{"name": "currencyName", "operator": "eq", "value": "US Dollar"}]})
    assert by_name["totalCount"] == 6
    paged = search({"top": 4, "pagination": {"pageNumber": 2, "pageSize": 3}})
    assert paged["totalCount"] == 4 and [i["identity"] for i in paged["items"]] == [4]
    bad = ls.call(
        "POST", "/Account/Search", {"query": {"search": [{"name": "x", "operator": "like"}]}}
    )
    assert error_codes(bad, 400) == [11900112, 11900112]


def test_paged(ls: Client) -> None:
    page = ls.call("GET", "/Service/Paged", params={"pageNumber": 2, "pageSize": 5}).json()
    assert page["totalCount"] == len(seed.build_seed()["Service"])
    assert [s["identity"] for s in page["items"]] == [6, 7, 8, 9, 10]


def test_batch_create_is_all_or_nothing(ls: Client, ls_sim: LogiSenseSimulator) -> None:
    bad = ls.call("POST", "/Account", [account(sfdcid="001P"), account(name="")])
    assert error_codes(bad, 400) == [11900101]
    assert len(ls_sim.state.tables["Account"]) == 1
    good = ls.call("POST", "/Account", [account(sfdcid="001P"), account(sfdcid="001Q")])
    assert good.json()["results"]["totalCount"] == 2


# -- price plans ------------------------------------------------------------------------------


def test_price_plan_create_patch_fetch(ls: Client) -> None:
    acct = created(ls.call("POST", "/Account", account(sfdcid="001PP")))["identity"]
    made = created(ls.call("POST", "/Account/PricePlan", plan(acct, sfdcid="006A")))
    pid = made["identity"]
    assert made["currencyId"] == seed.USD and made["accountName"] == "Acme Corp"
    item = made["packageServicePricePlan"][0]
    assert item["serviceName"] == "Fiber 100 Mbps Access" and item["identity"] is not None

    items = [
        {**item, "recurringPrice": 65.0},
        {
            "packageId": 2,
            "serviceId": 4,
            "quantity": 10,
            "recurringPrice": 20.0,
            "overagePrice": 0.04,
            "statePrices": [{"state": "Suspended", "price": 5.0}],
        },
    ]
    patched = created(
        ls.call("PATCH", f"/Account/PricePlan/{pid}", {"packageServicePricePlan": items})
    )
    assert [i["recurringPrice"] for i in patched["packageServicePricePlan"]] == [65.0, 20.0]
    assert patched["packageServicePricePlan"][0]["identity"] == item["identity"]

    fetched = ls.call("GET", f"/Account/PricePlan/{pid}").json()["items"][0]
    assert fetched["packageServicePricePlan"] == patched["packageServicePricePlan"]
    found = ls.call(
        "POST",
        "/Account/PricePlan/Search",
        {"query": {"search": [{"name": "sfdcid", "operator": "eq", "value": "006A"}]}},
    ).json()
    assert [p["identity"] for p in found["items"]] == [pid]
    renamed = created(ls.call("PATCH", f"/Account/PricePlan/{pid}", {"name": "Renewal"}))
    assert renamed["packageServicePricePlan"] == patched["packageServicePricePlan"]


def test_catalog_is_editable(ls: Client) -> None:
    pkg = created(ls.call("POST", "/Package", {"name": "IoT", "isActive": True}))["identity"]
    prices = [{"currencyId": seed.USD, "recurringPrice": 3.0}]
    svc = created(ls.call("POST", "/Service", {"name": "SIM", "packageId": pkg, "prices": prices}))
    assert svc["packageName"] == "IoT" and svc["prices"][0]["currencyName"] == "US Dollar"
    created(ls.call("PATCH", f"/Service/{svc['identity']}", {"name": "SIM card"}))
    freq = ls.call("POST", "/PackageFrequency", {"name": "IoT Monthly", "packageId": pkg})
    assert created(freq)["packageName"] == "IoT"
    assert error_codes(ls.call("DELETE", f"/Package/{pkg}"), 409) == [11900204]
    assert error_codes(ls.call("POST", "/Currency", {"name": "Yen", "code": "JPY"}), 405) == [
        11900303
    ]
