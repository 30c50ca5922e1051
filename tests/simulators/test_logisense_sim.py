"""The LogiSense simulator over HTTP: login, envelopes, CRUD, search, price plans, every rule's
error code, fault injection and stats."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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


def account(sfdcid: str | None = None, **fields: Any) -> dict[str, Any]:
    """A valid account body (documented fields; ``sfdcid`` as an extension)."""
    return {
        "name": "Acme Corp",
        "currencyId": seed.USD,
        "accountStatusTypeId": seed.ACTIVE,
        "billGroupId": seed.MONTHLY_1ST,
        "accountsReceivableTermsId": seed.NET_30,
        "accountTypeId": seed.CUSTOMER,
        **({"extensions": {"sfdcid": sfdcid}} if sfdcid is not None else {}),
        **fields,
    }


def item(**fields: Any) -> dict[str, Any]:
    """A valid plan item: fiber access of Internet Essentials, monthly, in USD."""
    return {
        "packageServiceId": 1,
        "packageFrequencyId": 1,
        "packageCurrencyId": 1,
        "quantity": 2,
        "recurringPrices": [{"serviceStatusName": "Active", "amount": 70.0}],
        **fields,
    }


def plan(account_id: int | None, **fields: Any) -> dict[str, Any]:
    """A valid price plan body."""
    return {
        "name": "Opportunity 006A",
        "accountId": account_id,
        "description": "Salesforce opportunity 006A",
        "packageServicePricePlan": [item()],
        **fields,
    }


def contact(account_id: int, sfdcid: str = "003X", **fields: Any) -> dict[str, Any]:
    """A valid billing contact with an e-mail, its sfdcid and a Californian address."""
    return {
        "contactTypeId": seed.BILLING,
        "firstName": "Ada",
        "lastName": "Lovelace",
        "accountId": account_id,
        "contactPoints": [
            {"contactPointTypeId": 1, "value": "ada@example.com"},
            {"contactPointTypeId": 3, "value": sfdcid},
            {"contactPointTypeId": 4, "address1": "1 Main St", "countryId": 1, "stateId": 1},
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
    assert internal["name"] == "Billing Dept Internal" and internal["extensions"] == {}
    packages = ls.call("GET", "/Package").json()["items"]
    assert len(packages) >= 4 and any(not p["isActive"] for p in packages)
    detail = ls.call("GET", "/Package/1/Detail").json()["items"][0]
    assert 2 <= len(detail["packageServices"]) <= 4
    assert [f["name"] for f in detail["packageFrequencies"]] == ["1m", "12m"]
    assert detail["packageFrequencies"][0]["extensions"] == {"family": "Monthly Plans"}
    assert [c["currencyName"] for c in detail["packageCurrencies"]] == [
        "US Dollar",
        "Euro",
        "British Pound",
    ]
    types = ls.call("GET", "/ContactType").json()["items"]
    assert [t["name"] for t in types] == ["Billing", "Admin", "Shipping"]
    points = ls.call("GET", "/ContactPointType").json()["items"]
    assert {(p["contactTypeId"], p["name"]) for p in points} >= {(1, "email"), (1, "sfdcid")}
    states = ls.call("GET", "/State").json()["items"]
    assert ("CA", "United States") in {(s["code"], s["countryName"]) for s in states}


def test_any_version_is_accepted(ls: Client) -> None:
    for version in (1, 4, 10):
        url = f"{ls.base}/ResourceServer/api/v{version}/AccountStatusType"
        assert ls.http.get(url).json()["totalCount"] == 4
    assert ls.http.get(f"{ls.base}/ResourceServer/api/v11/Currency").status_code == 404


def test_account_crud(ls: Client, ls_sim: LogiSenseSimulator) -> None:
    acme = created(ls.call("POST", "/Account", account(sfdcid="001AAA")))
    ident = acme["identity"]
    assert acme["currencyName"] == "US Dollar" and acme["billGroupName"] == "Monthly 1st"
    assert acme["accountsReceivableTermsName"] == "Net 30" and acme["accountTypeName"] == "Customer"
    assert acme["invoicerAccountId"] == ident  # no invoicer given: the account itself
    got = ls.call("GET", f"/Account/{ident}").json()
    assert got["totalCount"] == 1 and got["items"][0]["extensions"] == {"sfdcid": "001AAA"}

    put = ls.call("PUT", f"/Account/{ident}", account(name="Acme Inc", sfdcid="001AAA"))
    assert put.json()["type"] == "update" and created(put)["name"] == "Acme Inc"
    patched = created(ls.call("PATCH", f"/Account/{ident}", {"accountStatusTypeId": 3}))
    assert patched["accountStatusTypeName"] == "Suspended" and patched["name"] == "Acme Inc"
    assert patched["extensions"] == {"sfdcid": "001AAA"}
    assert ls_sim.state.tables["Account"][ident]["accountStatusTypeId"] == 3
    more = created(ls.call("PATCH", f"/Account/{ident}", {"extensions": {"region": "West"}}))
    assert more["extensions"] == {"sfdcid": "001AAA", "region": "West"}  # merged, not replaced

    deleted = ls.call("DELETE", f"/Account/{ident}")
    assert deleted.json()["type"] == "delete"
    assert deleted.json()["results"]["items"][0]["action"] == "deleted"
    assert error_codes(ls.call("GET", f"/Account/{ident}"), 404) == [11900301]


def test_account_parent_is_its_own_resource(ls: Client) -> None:
    top = _acct(ls, sfdcid="001T")
    mid = _acct(ls, sfdcid="001M")
    low = _acct(ls, sfdcid="001L")
    created(ls.call("POST", "/Account/Parent", {"accountId": mid, "parentAccountId": top}))
    row = created(ls.call("POST", "/Account/Parent", {"accountId": low, "parentAccountId": mid}))
    assert row["topAccountId"] == top and row["parentAccountName"] == "Acme Corp"
    again = ls.call("POST", "/Account/Parent", {"accountId": low, "parentAccountId": top})
    assert error_codes(again, 409) == [11900205]
    moved = created(
        ls.call("PATCH", f"/Account/Parent/{row['identity']}", {"parentAccountId": top})
    )
    assert moved["parentAccountId"] == top
    detail = ls.call("GET", f"/Account/{top}/Detail").json()["items"][0]
    assert sorted(c["accountId"] for c in detail["childAccounts"]) == [mid, low]
    assert ls.call("DELETE", f"/Account/Parent/{row['identity']}").status_code == 200


def test_contact_with_contact_points_and_shared_link(ls: Client) -> None:
    a = _acct(ls, sfdcid="001A")
    b = _acct(ls, name="Beta", sfdcid="001B")
    made = created(ls.call("POST", "/Contact", contact(a)))
    assert made["name"] == "Ada Lovelace" and made["accountName"] == "Acme Corp"
    assert made["contactTypeName"] == "Billing"
    assert [p["contactPointTypeName"] for p in made["contactPoints"]] == [
        "email",
        "sfdcid",
        "address",
    ]
    cid = made["identity"]
    link = created(ls.call("POST", "/Account/Contact", {"accountId": b, "contactId": cid}))
    assert link["contactId"] == cid
    detail = ls.call("GET", f"/Account/{b}/Detail").json()["items"][0]
    assert [c["contactId"] for c in detail["contactLinks"]] == [cid]
    found = ls.call(
        "POST",
        "/Contact/Search",
        {"query": {"search": [{"name": "sfdcid", "operator": "eq", "value": "003x"}]}},
    ).json()
    assert [c["identity"] for c in found["items"]] == [cid]
    points = [{"contactPointTypeId": 2, "value": "+1 555"}]
    phone_only = created(ls.call("PATCH", f"/Contact/{cid}", {"contactPoints": points}))
    assert [p["value"] for p in phone_only["contactPoints"]] == ["+1 555"]


def test_contact_points_follow_the_contact_type(ls: Client) -> None:
    a = _acct(ls)
    wrong_type = contact(a, contactPoints=[{"contactPointTypeId": 5, "value": "x@example.com"}])
    assert error_codes(ls.call("POST", "/Contact", wrong_type), 400) == [11900102]
    bad_state = contact(
        a,
        contactPoints=[{"contactPointTypeId": 4, "address1": "x", "countryId": 2, "stateId": 1}],
    )
    assert error_codes(ls.call("POST", "/Contact", bad_state), 400) == [11900104]
    twice = contact(
        a,
        contactPoints=[
            {"contactPointTypeId": 1, "value": "a@example.com"},
            {"contactPointTypeId": 1, "value": "b@example.com"},
        ],
    )
    assert error_codes(ls.call("POST", "/Contact", twice), 400) == [11900102]


def test_sfdcid_is_not_unique_by_default(ls: Client) -> None:
    first = _acct(ls, sfdcid="001DUP")
    second = _acct(ls, sfdcid="001dup")
    third = _acct(ls, sfdcid="001DUP")
    found = ls.call(
        "POST",
        "/Account/Search",
        {"query": {"search": [{"name": "sfdcid", "operator": "eq", "value": "001DUP"}]}},
    ).json()
    assert sorted(a["identity"] for a in found["items"]) == [first, second, third]


def test_unique_sfdcid_can_be_switched_on() -> None:
    with LogiSenseSimulator(username="u", password="p", client_id="c", unique_sfdcid=True) as sim:
        client = Client(sim.base_url)
        assert client.login(username="u", password="p", client_id="c").status_code == 200
        assert client.call("POST", "/Account", account(sfdcid="001U")).status_code == 200
        assert error_codes(client.call("POST", "/Account", account(sfdcid="001u")), 409) == [
            11900201
        ]


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
                {"name": "identity", "operator": "gtEq", "value": 3, "condition": "and"},
                {"name": "identity", "operator": "lt", "value": 5},
            ],
            "orderBy": [{"name": "identity", "direction": "desc"}],
            "fields": ["name", "extensions"],
        }
    )
    assert ranged["items"] == [
        {"identity": 4, "name": "Acct 2", "extensions": {"sfdcid": "001S2"}},
        {"identity": 3, "name": "Acct 1", "extensions": {"sfdcid": "001S1"}},
    ]
    named = ls.call("POST", "/Account/Search", {"query": {"fields": ["name", "sfdcid"]}})
    assert error_codes(named, 400) == [11900112]  # custom fields cannot be named in `fields`
    contains = search({"search": [{"name": "name", "operator": "contains", "value": "cct 4"}]})
    assert [a["name"] for a in contains["items"]] == ["Acct 4"]
    by_name = search({"search": [{"name": "currencyName", "operator": "eq", "value": "US Dollar"}]})
    assert by_name["totalCount"] == 6
    paged = search({"top": 4, "pagination": {"pageNumber": 2, "pageSize": 3}})
    assert paged["totalCount"] == 4 and [i["identity"] for i in paged["items"]] == [4]
    bad = ls.call(
        "POST", "/Account/Search", {"query": {"search": [{"name": "x", "operator": "like"}]}}
    )
    assert error_codes(bad, 400) == [11900112, 11900112]


def test_paged_reads_the_pagination_header(ls: Client, ls_sim: LogiSenseSimulator) -> None:
    header = {"Pagination": '{"pageNumber": 2, "pageSize": 5}'}
    page = ls.call("GET", "/Service/Paged", headers=header).json()
    assert page["totalCount"] == len(ls_sim.state.tables["Service"])
    assert [s["identity"] for s in page["items"]] == [6, 7, 8, 9, 10]
    bad = ls.call("GET", "/Service/Paged", headers={"Pagination": "two"})
    assert error_codes(bad, 400) == [11900112]


def test_metadata_lists_each_resources_fields(ls: Client) -> None:
    meta = ls.call("GET", "/Contact/Metadata").json()["items"][0]
    names = {f["name"]: f for f in meta["fields"]}
    assert {"contactTypeId", "firstName", "lastName", "title", "isUsedForTax"} <= set(names)
    assert names["lastName"]["isRequired"] is True and names["identity"]["isUpdatable"] is False
    assert names["contactTypeId"]["reference"] == "ContactType"
    plan_meta = ls.call("GET", "/Account/PricePlan/Metadata").json()["items"][0]
    assert "sfdcid" not in {f["name"] for f in plan_meta["fields"]}


def test_update_request_header_before_v4(ls: Client) -> None:
    ident = _acct(ls)
    url = f"{ls.base}/ResourceServer/api/v3/Account/{ident}"
    assert error_codes(ls.http.patch(url, json={"name": "X"}), 400) == [11900112]
    header = {"UpdateRequest": '{"filters": ["name"]}'}
    assert ls.http.patch(url, json={"name": "X"}, headers=header).status_code == 200
    wider = ls.http.patch(url, json={"name": "Y", "billDay": 3}, headers=header)
    assert error_codes(wider, 400) == [11900112]


def test_batch_create_is_all_or_nothing(ls: Client, ls_sim: LogiSenseSimulator) -> None:
    bad = ls.call("POST", "/Account", [account(sfdcid="001P"), account(name="")])
    assert error_codes(bad, 400) == [11900101]
    assert len(ls_sim.state.tables["Account"]) == 1
    good = ls.call("POST", "/Account", [account(sfdcid="001P"), account(sfdcid="001Q")])
    assert good.json()["results"]["totalCount"] == 2


# -- price plans ------------------------------------------------------------------------------


def test_price_plan_create_patch_fetch(ls: Client) -> None:
    acct = _acct(ls, sfdcid="001PP")
    made = created(ls.call("POST", "/Account/PricePlan", plan(acct)))
    pid = made["identity"]
    assert made["accountName"] == "Acme Corp" and "currencyId" not in made
    first = made["packageServicePricePlan"][0]
    assert first["packageServiceName"] == "Fiber 100 Mbps Access" and first["identity"]
    assert (first["packageFrequencyName"], first["packageCurrencyName"]) == ("1m", "US Dollar")

    items = [
        {**first, "recurringPrices": [{"serviceStatusName": "Active", "amount": 65.0}]},
        item(
            packageServiceId=4,
            packageFrequencyId=3,
            packageCurrencyId=4,
            quantity=10,
            oneTimePrice=5.0,
        ),
    ]
    patched = created(
        ls.call("PATCH", f"/Account/PricePlan/{pid}", {"packageServicePricePlan": items})
    )
    amounts = [i["recurringPrices"][0]["amount"] for i in patched["packageServicePricePlan"]]
    assert amounts == [65.0, 70.0]
    assert patched["packageServicePricePlan"][0]["identity"] == first["identity"]

    fetched = ls.call("GET", f"/Account/PricePlan/{pid}").json()["items"][0]
    assert fetched["packageServicePricePlan"] == patched["packageServicePricePlan"]
    found = ls.call(
        "POST",
        "/Account/PricePlan/Search",
        {"query": {"search": [{"name": "accountId", "operator": "eq", "value": acct}]}},
    ).json()
    assert [p["identity"] for p in found["items"]] == [pid]
    renamed = created(ls.call("PATCH", f"/Account/PricePlan/{pid}", {"name": "Renewal"}))
    assert renamed["packageServicePricePlan"] == patched["packageServicePricePlan"]


def test_catalog_is_editable(ls: Client) -> None:
    pkg = created(ls.call("POST", "/Package", {"name": "IoT", "isActive": True}))["identity"]
    svc = created(ls.call("POST", "/Service", {"name": "SIM", "serviceTypeId": 1}))
    prices = [{"currencyId": seed.USD, "oneTimePrice": 3.0}]
    body = {"packageId": pkg, "serviceId": svc["identity"], "prices": prices}
    link = created(ls.call("POST", "/Package/Service", body))
    assert link["packageName"] == "IoT" and link["serviceName"] == "SIM"
    created(ls.call("PATCH", f"/Service/{svc['identity']}", {"name": "SIM card"}))
    freq = ls.call("POST", "/Package/Frequency", {"name": "1m", "packageId": pkg})
    assert created(freq)["packageName"] == "IoT"
    assert error_codes(ls.call("POST", "/Currency", {"name": "Yen", "code": "JPY"}), 405) == [
        11900303
    ]


# -- rules: one case per rule, each with its stable code --------------------------------------


Send = Callable[[], requests.Response]


def _acct(ls: Client, **fields: Any) -> int:
    return int(created(ls.call("POST", "/Account", account(**fields)))["identity"])


def _req_missing_account_fields(ls: Client) -> Send:
    return lambda: ls.call("POST", "/Account", {"extensions": {"sfdcid": "001M"}})


def _req_missing_contact_last_name(ls: Client) -> Send:
    return lambda: ls.call("POST", "/Contact", {**contact(1), "lastName": None})


def _req_missing_plan_account(ls: Client) -> Send:
    return lambda: ls.call("POST", "/Account/PricePlan", plan(None))


def _req_wrong_type(ls: Client) -> Send:
    return lambda: ls.call("POST", "/Account", account(currencyId="USD", extensions=5))


def _req_unknown_field(ls: Client) -> Send:
    return lambda: ls.call("POST", "/Account", account(colour="blue"))


def _req_undocumented_plan_fields(ls: Client) -> Send:
    return lambda: ls.call("POST", "/Account/PricePlan", plan(1, sfdcid="006A", currencyId=1))


def _req_missing_references(ls: Client) -> Send:
    return lambda: ls.call(
        "POST",
        "/Account",
        account(
            currencyId=99,
            accountStatusTypeId=99,
            billGroupId=99,
            accountsReceivableTermsId=99,
            accountTypeId=99,
            invoicerAccountId=99,
            usageInvoicerAccountId=99,
        ),
    )


def _req_missing_contact_account(ls: Client) -> Send:
    return lambda: ls.call("POST", "/Contact", contact(99))


def _req_missing_catalog_refs(ls: Client) -> Send:
    items = [item(packageServiceId=99, packageFrequencyId=99, packageCurrencyId=99)]
    return lambda: ls.call("POST", "/Account/PricePlan", plan(1, packageServicePricePlan=items))


def _req_currency_change_put(ls: Client) -> Send:
    ident = _acct(ls)
    return lambda: ls.call("PUT", f"/Account/{ident}", account(currencyId=seed.EUR))


def _req_currency_change_patch(ls: Client) -> Send:
    ident = _acct(ls)
    return lambda: ls.call("PATCH", f"/Account/{ident}", {"currencyId": seed.GBP})


def _req_parent_currency(ls: Client) -> Send:
    parent = _acct(ls, currencyId=seed.EUR)
    child = _acct(ls)
    body = {"accountId": child, "parentAccountId": parent}
    return lambda: ls.call("POST", "/Account/Parent", body)


def _parent(ls: Client, child: int, parent: int) -> int:
    body = {"accountId": child, "parentAccountId": parent}
    return int(created(ls.call("POST", "/Account/Parent", body))["identity"])


def _req_parent_cycle(ls: Client) -> Send:
    top, child, grandchild = _acct(ls), _acct(ls), _acct(ls)
    _parent(ls, child, top)
    _parent(ls, grandchild, child)
    body = {"accountId": top, "parentAccountId": grandchild}
    return lambda: ls.call("POST", "/Account/Parent", body)


def _req_parent_self(ls: Client) -> Send:
    ident = _acct(ls)
    return lambda: ls.call(
        "POST", "/Account/Parent", {"accountId": ident, "parentAccountId": ident}
    )


def _req_plan_currency(ls: Client) -> Send:
    ident = _acct(ls)
    items = [item(packageCurrencyId=2)]  # package 1 in EUR, for a USD account
    return lambda: ls.call("POST", "/Account/PricePlan", plan(ident, packageServicePricePlan=items))


def _req_plan_no_items(ls: Client) -> Send:
    ident = _acct(ls)
    return lambda: ls.call("POST", "/Account/PricePlan", plan(ident, packageServicePricePlan=[]))


def _req_service_not_in_package(ls: Client) -> Send:
    items = [item(packageServiceId=4)]  # a Business Voice service with an Internet frequency
    ident = _acct(ls)
    return lambda: ls.call("POST", "/Account/PricePlan", plan(ident, packageServicePricePlan=items))


def _req_inactive_package(ls: Client) -> Send:
    detail = ls.call("GET", f"/Package/{seed.INACTIVE_PACKAGE}/Detail").json()["items"][0]
    items = [
        item(
            packageServiceId=detail["packageServices"][0]["identity"],
            packageFrequencyId=detail["packageFrequencies"][0]["identity"],
            packageCurrencyId=detail["packageCurrencies"][0]["identity"],
        )
    ]
    ident = _acct(ls)
    return lambda: ls.call("POST", "/Account/PricePlan", plan(ident, packageServicePricePlan=items))


def _req_duplicate_link(ls: Client) -> Send:
    a = _acct(ls)
    cid = int(created(ls.call("POST", "/Contact", contact(a)))["identity"])
    created(ls.call("POST", "/Account/Contact", {"accountId": a, "contactId": cid}))
    return lambda: ls.call("POST", "/Account/Contact", {"accountId": a, "contactId": cid})


def _req_delete_parent(ls: Client) -> Send:
    parent = _acct(ls)
    _parent(ls, _acct(ls), parent)
    return lambda: ls.call("DELETE", f"/Account/{parent}")


def _req_delete_with_plan(ls: Client) -> Send:
    ident = _acct(ls)
    created(ls.call("POST", "/Account/PricePlan", plan(ident)))
    return lambda: ls.call("DELETE", f"/Account/{ident}")


def _req_malformed_json(ls: Client) -> Send:
    return lambda: ls.http.post(
        ls.base + API + "/Account", data=b"{not json", headers={"Content-Type": "application/json"}
    )


def _req_missing_id(ls: Client) -> Send:
    return lambda: ls.call("PATCH", "/Account/4242", {"name": "x"})


RULE_CASES = [
    (_req_missing_account_fields, 400, [11900101] * 4),
    (_req_missing_contact_last_name, 400, [11900101]),
    (_req_missing_plan_account, 400, [11900101]),
    (_req_wrong_type, 400, [11900102, 11900102, 11900101]),
    (_req_unknown_field, 400, [11900103]),
    (_req_undocumented_plan_fields, 400, [11900103, 11900103]),
    (_req_missing_references, 400, [11900104] * 7),
    (_req_missing_contact_account, 400, [11900104]),
    (_req_missing_catalog_refs, 400, [11900104] * 3),
    (_req_currency_change_put, 400, [11900105]),
    (_req_currency_change_patch, 400, [11900105]),
    (_req_parent_currency, 400, [11900106]),
    (_req_parent_cycle, 400, [11900107]),
    (_req_parent_self, 400, [11900107]),
    (_req_plan_currency, 400, [11900108]),
    (_req_plan_no_items, 400, [11900109]),
    (_req_service_not_in_package, 400, [11900110]),
    (_req_inactive_package, 400, [11900111]),
    (_req_duplicate_link, 409, [11900205]),
    (_req_delete_parent, 409, [11900204]),
    (_req_delete_with_plan, 409, [11900204]),
    (_req_malformed_json, 400, [11900113]),
    (_req_missing_id, 404, [11900301]),
]


@pytest.mark.parametrize(
    ("make_request", "status", "codes"), RULE_CASES, ids=[c[0].__name__[5:] for c in RULE_CASES]
)
def test_rule_error_envelope(
    ls: Client,
    ls_sim: LogiSenseSimulator,
    make_request: Any,
    status: int,
    codes: list[int],
) -> None:
    send = make_request(ls)  # the setup calls run here; the refused request below
    before = ls_sim.state.dump()
    writes = ls_sim.stats.writes_total
    assert error_codes(send(), status) == codes
    assert ls_sim.state.dump() == before
    assert ls_sim.stats.writes_total == writes


def test_refused_write_changes_nothing(ls: Client, ls_sim: LogiSenseSimulator) -> None:
    ident = _acct(ls, sfdcid="001KEEP")
    before = ls_sim.state.dump()
    response = ls.call("PUT", f"/Account/{ident}", account(currencyId=seed.EUR, name="Changed"))
    assert error_codes(response, 400) == [11900105]
    assert ls_sim.state.dump() == before


def test_every_problem_is_listed(ls: Client) -> None:
    response = ls.call("POST", "/Account", {"name": "", "currencyId": 77, "foo": 1})
    codes = error_codes(response, 400)
    assert sorted(codes) == [11900101, 11900101, 11900101, 11900103, 11900104]


# -- faults and stats -------------------------------------------------------------------------


def test_error_rate_gives_the_configured_status_in_the_envelope(ls: Client) -> None:
    ls.admin("faults", {"error_rate": 1.0, "error_status": 502})
    assert error_codes(ls.call("GET", "/Account/1"), 502) == [11909502]
    ls.admin("faults", {"error_rate": 0.0})
    assert ls.call("GET", "/Account/1").status_code == 200


def test_throttle_gives_429_with_retry_after(ls: Client) -> None:
    ls.admin("faults", {"throttle_rate": 1.0, "retry_after_s": 7})
    response = ls.call("POST", "/Account", account())
    assert error_codes(response, 429) == [11909429]
    assert response.headers["Retry-After"] == "7"


def test_timeout_fault(ls: Client) -> None:
    ls.admin("faults", {"timeout_rate": 1.0, "timeout_s": 0.05})
    assert error_codes(ls.call("GET", "/Account/1"), 504) == [11909504]


def test_latency_slows_every_call(ls: Client) -> None:
    ls.admin("faults", {"latency_ms": 150})
    start = time.perf_counter()
    assert ls.call("GET", "/Account/1").status_code == 200
    assert time.perf_counter() - start >= 0.15


def test_reset_clears_faults_data_and_stats(ls: Client, ls_sim: LogiSenseSimulator) -> None:
    _acct(ls, sfdcid="001GONE")
    ls.admin("faults", {"error_rate": 1.0, "latency_ms": 5})
    ls.admin("reset", {})
    assert ls_sim.faults.error_rate == 0 and ls_sim.faults.latency_ms == 0
    assert ls.admin("stats")["requests_total"] == 0
    assert ls.call("GET", "/Account").json()["totalCount"] == 1
    assert ls.admin("faults", {"nope": 1}).get("error")  # unknown knobs are refused


def test_stats_count_writes_but_not_reads_logins_or_admin(
    ls: Client, ls_sim: LogiSenseSimulator
) -> None:
    ls.admin("reset", {})
    ls.login()
    ident = _acct(ls, sfdcid="001ST")
    ls.call("PUT", f"/Account/{ident}", account(sfdcid="001ST", name="Renamed"))
    ls.call("GET", f"/Account/{ident}")
    ls.call("POST", "/Account/Search", {"query": {}})
    ls.call("POST", "/Account", account(currencyId=99))  # refused: not a write
    ls.admin("patch", {"resource": "Account", "identity": ident, "fields": {"name": "Drifted"}})
    stats = ls.admin("stats")
    assert stats["writes_total"] == 2
    assert stats["requests_total"] == 6
    routes = stats["routes"]
    assert routes["POST /ResourceServer/api/v*/Account"] == 2
    assert routes["PUT /ResourceServer/api/v*/Account/{id}"] == 1
    assert routes["GET /ResourceServer/api/v*/Account/{id}"] == 1
    assert routes["POST /AuthorizationServer/api/v*/Access/Login"] == 1
    assert ls_sim.state.tables["Account"][ident]["name"] == "Drifted"


def test_dump_returns_every_resource(ls: Client) -> None:
    dump = ls.admin("dump")
    assert set(dump) >= {"Account", "Contact", "Account/PricePlan", "Package", "Currency"}
    assert dump["Account"][0]["name"] == "Billing Dept Internal"


def test_concurrent_creates_get_distinct_identities(ls: Client, ls_sim: LogiSenseSimulator) -> None:
    from concurrent.futures import ThreadPoolExecutor

    token = ls.http.headers["Authorization"]

    def create(n: int) -> int:
        client = Client(ls.base)
        client.http.headers["Authorization"] = token
        return int(created(client.call("POST", "/Account", account(sfdcid=f"001C{n}")))["identity"])

    with ThreadPoolExecutor(8) as pool:
        identities = list(pool.map(create, range(40)))
    assert len(set(identities)) == 40
    assert len(ls_sim.state.sfdcid_index["Account"]) == 40


def test_main_serves_until_sigterm() -> None:
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators.logisense", "--port", "0", "--password", "s3cret"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        client = Client(url)
        assert client.login().status_code == 401
        assert client.login(password="s3cret").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


HOSTILE = [
    ("POST", "/Account", b"null", 400),
    ("POST", "/Account", b"[1, 2]", 400),
    ("POST", "/Account", b"[]", 400),
    ("POST", "/Account", b"[" * 100000 + b"]" * 100000, 400),
    ("POST", "/Account", b'{"name": "x", "currencyId": 1e999}', 400),
    ("PATCH", "/Account/1", b'["name"]', 400),
    ("POST", "/Account/Search", b'{"query": {"search": [{"name": {}, "operator": "eq"}]}}', 400),
    ("POST", "/Account/Search", b'{"query": {"search": "sfdcid"}}', 400),
    ("POST", "/Account/Search", b'{"query": {"fields": [{}], "top": "all"}}', 400),
    ("POST", "/Account/Search", b'{"query": {"pagination": {"pageSize": 0}}}', 400),
    (
        "POST",
        "/Account/PricePlan",
        b'{"name": "x", "accountId": 1, "packageServicePricePlan": [7]}',
        400,
    ),
    ("GET", "/Account/1%27%20OR%201=1", b"", 404),
    ("GET", "/Account/Paged?pageSize=-3", b"", 400),
]


@pytest.mark.parametrize(("method", "path", "raw", "status"), HOSTILE)
def test_hostile_requests_are_refused_in_the_envelope(
    ls: Client, ls_sim: LogiSenseSimulator, method: str, path: str, raw: bytes, status: int
) -> None:
    before = ls_sim.state.dump()
    response = ls.http.request(
        method, ls.base + API + path, data=raw, headers={"Content-Type": "application/json"}
    )
    assert error_codes(response, status)
    assert ls_sim.state.dump() == before
