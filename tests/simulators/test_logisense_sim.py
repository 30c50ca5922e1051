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


# -- rules: one case per rule, each with its stable code --------------------------------------


Send = Callable[[], requests.Response]


def _acct(ls: Client, **fields: Any) -> int:
    return int(created(ls.call("POST", "/Account", account(**fields)))["identity"])


def _req_missing_account_fields(ls: Client) -> Send:
    return lambda: ls.call("POST", "/Account", {"sfdcid": "001M"})


def _req_missing_contact_last_name(ls: Client) -> Send:
    return lambda: ls.call("POST", "/Contact", {"firstName": "Ada"})


def _req_missing_plan_account(ls: Client) -> Send:
    return lambda: ls.call("POST", "/Account/PricePlan", {**plan(0), "accountId": None})


def _req_wrong_type(ls: Client) -> Send:
    return lambda: ls.call("POST", "/Account", account(currencyId="USD", sfdcid=5))


def _req_unknown_field(ls: Client) -> Send:
    return lambda: ls.call("POST", "/Account", account(colour="blue"))


def _req_missing_references(ls: Client) -> Send:
    return lambda: ls.call(
        "POST",
        "/Account",
        account(
            currencyId=99,
            accountStatusTypeId=99,
            billGroupId=99,
            accountsReceivableTermId=99,
            parentAccountId=99,
            subscriptionInvoicerId=99,
            usageInvoicerId=99,
        ),
    )


def _req_missing_contact_accounts(ls: Client) -> Send:
    return lambda: ls.call("POST", "/Contact", {"lastName": "X", "accountIds": [1, 98, 99]})


def _req_missing_catalog_refs(ls: Client) -> Send:
    items = [{"packageId": 99, "serviceId": 99}]
    return lambda: ls.call("POST", "/Account/PricePlan", plan(1, packageServicePricePlan=items))


def _req_currency_change_put(ls: Client) -> Send:
    ident = _acct(ls)
    return lambda: ls.call("PUT", f"/Account/{ident}", account(currencyId=seed.EUR))


def _req_currency_change_patch(ls: Client) -> Send:
    ident = _acct(ls)
    return lambda: ls.call("PATCH", f"/Account/{ident}", {"currencyId": seed.GBP})


def _req_parent_currency(ls: Client) -> Send:
    parent = _acct(ls, currencyId=seed.EUR)
    return lambda: ls.call("POST", "/Account", account(parentAccountId=parent))


def _req_parent_cycle(ls: Client) -> Send:
    top = _acct(ls)
    child = _acct(ls, parentAccountId=top)
    grandchild = _acct(ls, parentAccountId=child)
    return lambda: ls.call("PATCH", f"/Account/{top}", {"parentAccountId": grandchild})


def _req_parent_self(ls: Client) -> Send:
    ident = _acct(ls)
    return lambda: ls.call("PATCH", f"/Account/{ident}", {"parentAccountId": ident})


def _req_plan_currency(ls: Client) -> Send:
    ident = _acct(ls)
    return lambda: ls.call("POST", "/Account/PricePlan", plan(ident, currencyId=seed.EUR))


def _req_plan_no_items(ls: Client) -> Send:
    ident = _acct(ls)
    return lambda: ls.call("POST", "/Account/PricePlan", plan(ident, packageServicePricePlan=[]))


def _req_service_not_in_package(ls: Client) -> Send:
    items = [{"packageId": 1, "serviceId": 4}]
    ident = _acct(ls)
    return lambda: ls.call("POST", "/Account/PricePlan", plan(ident, packageServicePricePlan=items))


def _req_inactive_package(ls: Client) -> Send:
    services = ls.call("GET", f"/Package/{seed.INACTIVE_PACKAGE}/Detail").json()
    service_id = services["items"][0]["services"][0]["identity"]
    items = [{"packageId": seed.INACTIVE_PACKAGE, "serviceId": service_id}]
    ident = _acct(ls)
    return lambda: ls.call("POST", "/Account/PricePlan", plan(ident, packageServicePricePlan=items))


def _req_duplicate_account_sfdcid(ls: Client) -> Send:
    _acct(ls, sfdcid="001DUP")
    return lambda: ls.call("POST", "/Account", account(sfdcid="001dup"))


def _req_duplicate_contact_sfdcid(ls: Client) -> Send:
    ls.call("POST", "/Contact", {"lastName": "A", "sfdcid": "003DUP"})
    return lambda: ls.call("POST", "/Contact", {"lastName": "B", "sfdcid": "003DUP"})


def _req_duplicate_sfdcid_on_update(ls: Client) -> Send:
    _acct(ls, sfdcid="001ONE")
    other = _acct(ls, sfdcid="001TWO")
    return lambda: ls.call("PATCH", f"/Account/{other}", {"sfdcid": "001ONE"})


def _req_delete_parent(ls: Client) -> Send:
    parent = _acct(ls)
    _acct(ls, parentAccountId=parent)
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
    (_req_missing_references, 400, [11900104] * 7),
    (_req_missing_contact_accounts, 400, [11900104, 11900104]),
    (_req_missing_catalog_refs, 400, [11900104, 11900104]),
    (_req_currency_change_put, 400, [11900105]),
    (_req_currency_change_patch, 400, [11900105]),
    (_req_parent_currency, 400, [11900106]),
    (_req_parent_cycle, 400, [11900107]),
    (_req_parent_self, 400, [11900107]),
    (_req_plan_currency, 400, [11900108]),
    (_req_plan_no_items, 400, [11900109]),
    (_req_service_not_in_package, 400, [11900110]),
    (_req_inactive_package, 400, [11900111]),
    (_req_duplicate_account_sfdcid, 409, [11900201]),
    (_req_duplicate_contact_sfdcid, 409, [11900201]),
    (_req_duplicate_sfdcid_on_update, 409, [11900201]),
    (_req_delete_parent, 409, [11900202]),
    (_req_delete_with_plan, 409, [11900203]),
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
