"""The LogiSense adapter against the LogiSense simulator over real HTTP.

Outcomes only: what the simulator holds and which billsync error a failure becomes.
"""

from __future__ import annotations

import email.utils
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from adapters.logisense import LogiSenseClient, ReferenceData
from adapters.logisense.envelopes import retry_after_seconds
from adapters.logisense.token import Grant, TokenKeeper, grant_from
from billsync import clients
from billsync.config import Settings
from billsync.errors import (
    AuthenticationFailed,
    ConfigError,
    NotFound,
    PermanentError,
    RemoteRejected,
    TransientError,
)

try:
    from simulators.logisense import LogiSenseSimulator
except ImportError as exc:  # pragma: no cover - only while the simulator is not in the tree
    pytest.skip(f"simulators.logisense cannot be imported yet: {exc}", allow_module_level=True)

USERNAME, PASSWORD, CLIENT_ID = "ls-user", "s3cret-pw!", "billsync-client"
USD, EUR = 1, 2
ACTIVE, MONTHLY_1ST, NET_30 = 1, 1, 1
LOGIN_ROUTE = "POST /AuthorizationServer/api/v*/Access/Login"


@pytest.fixture(scope="module")
def ls_server() -> Iterator[LogiSenseSimulator]:
    """One simulator for the module; each test gets it reset (seed data back, no faults)."""
    with LogiSenseSimulator(username=USERNAME, password=PASSWORD, client_id=CLIENT_ID) as sim:
        yield sim


@pytest.fixture
def ls_sim(ls_server: LogiSenseSimulator) -> LogiSenseSimulator:
    ls_server.reset()
    return ls_server


@pytest.fixture
def ls_client(ls_sim: LogiSenseSimulator) -> Iterator[LogiSenseClient]:
    with LogiSenseClient(
        ls_sim.base_url, username=USERNAME, password=PASSWORD, client_id=CLIENT_ID, timeout_s=5
    ) as client:
        yield client


def account_fields(sfdcid: str, **extra: Any) -> dict[str, Any]:
    """billsync's view of an account: documented fields, ``sfdcid`` as an extension."""
    return {
        "name": f"Acme {sfdcid}",
        "currencyId": USD,
        "accountStatusTypeId": ACTIVE,
        "billGroupId": MONTHLY_1ST,
        "accountsReceivableTermsId": NET_30,
        "extensions": {"sfdcid": sfdcid},
        **extra,
    }


def logins(sim: LogiSenseSimulator) -> int:
    return sim.stats.as_json()["routes"].get(LOGIN_ROUTE, 0)


# -- login and tokens ------------------------------------------------------------------------


def test_one_login_serves_many_calls(ls_client: LogiSenseClient, ls_sim: LogiSenseSimulator):
    for _ in range(5):
        assert ls_client.get_account(1) is not None
    assert ls_client.login_count == 1
    assert logins(ls_sim) == 1
    assert ls_client.call_counts == {
        "POST Access/Login": 1,
        "GET Account": 5,
        "POST Account/Parent/Search": 5,
    }


def test_token_is_refreshed_before_it_expires(
    ls_client: LogiSenseClient, ls_sim: LogiSenseSimulator
):
    ls_sim.faults.token_ttl_s = 1
    assert ls_client.get_account(1) is not None
    time.sleep(1.5)
    after = ls_client.get_account(1)
    assert after is not None and after["name"] == "Billing Dept Internal"
    assert ls_client.login_count == 2
    assert logins(ls_sim) == 2
    assert ls_sim.tokens.refreshes == 1  # the second one was the refresh_token grant
    # refreshed proactively: no data call was refused with 401
    assert all(entry["status"] != 401 for entry in ls_sim.stats.log)


def test_revoked_token_means_one_new_login(ls_client: LogiSenseClient, ls_sim: LogiSenseSimulator):
    assert ls_client.get_account(1) is not None
    requests.post(f"{ls_sim.base_url}/__sim/expire_tokens", json={}, timeout=5).raise_for_status()
    assert ls_client.get_account(1) is not None
    assert ls_client.login_count == 2
    assert ls_client.call_counts["GET Account"] == 3  # refused once, then resent


def test_bad_password_is_authentication_failed(ls_sim: LogiSenseSimulator):
    client = LogiSenseClient(
        ls_sim.base_url, username=USERNAME, password="wrong-password", client_id=CLIENT_ID
    )
    with pytest.raises(AuthenticationFailed) as caught:
        client.get_account(1)
    message = str(caught.value)
    assert "BILLSYNC_LS_PASSWORD" in message and "401" in message
    assert "wrong-password" not in message
    assert "wrong-password" not in repr(client.session.__dict__.get("_credentials"))


def test_bad_client_id_is_authentication_failed(ls_sim: LogiSenseSimulator):
    client = LogiSenseClient(
        ls_sim.base_url, username=USERNAME, password=PASSWORD, client_id="someone-else"
    )
    with pytest.raises(AuthenticationFailed, match="BILLSYNC_LS_CLIENT_ID"):
        client.find_account_by_sfdcid("001000000000001AAA")


def test_client_secret_login(ls_sim: LogiSenseSimulator):
    client = LogiSenseClient(
        ls_sim.base_url, username=USERNAME, client_secret=PASSWORD, client_id=CLIENT_ID
    )
    assert client.get_account(1) is not None


# -- accounts ------------------------------------------------------------------------------


def test_account_find_create_update_get(ls_client: LogiSenseClient, ls_sim: LogiSenseSimulator):
    sfdcid = "001000000000001AAA"
    assert ls_client.find_account_by_sfdcid(sfdcid) is None
    created = ls_client.create_account(account_fields(sfdcid))
    identity = created["identity"]
    assert created["currencyName"] == "US Dollar"
    assert created["invoicerAccountId"] == identity  # self-invoicing by default
    assert ls_sim.state.tables["Account"][identity]["extensions"] == {"sfdcid": sfdcid}

    found = ls_client.find_account_by_sfdcid(sfdcid)
    assert found is not None and found["identity"] == identity and found["sfdcid"] == sfdcid

    ls_client.update_account(identity, {"name": "Acme Renamed"})
    stored = ls_client.get_account(identity)
    assert stored is not None
    assert stored["name"] == "Acme Renamed"
    assert stored["billGroupId"] == MONTHLY_1ST and stored["extensions"] == {"sfdcid": sfdcid}
    assert ls_client.get_account(987654) is None


def test_lookup_is_exact_and_case_sensitive(ls_client: LogiSenseClient, ls_sim: LogiSenseSimulator):
    """Issue 10, build 6: LogiSense matches text ignoring case; billsync does not."""
    lower, upper = "001000000000001AAa", "001000000000001AAA"
    first = ls_client.create_account(account_fields(lower))["identity"]
    assert ls_client.find_account_by_sfdcid(upper) is None  # ...AAa is another customer
    second = ls_client.create_account(account_fields(upper))["identity"]
    found = ls_client.find_account_by_sfdcid(upper)
    assert found is not None and found["identity"] == second != first


def test_two_exact_matches_are_a_permanent_error_naming_both(
    ls_client: LogiSenseClient, ls_sim: LogiSenseSimulator
):
    """sfdcid is a text field, not a key: LogiSense accepts a second one; billsync never guesses."""
    sfdcid = "001000000000005AAA"
    one = ls_client.create_account(account_fields(sfdcid))["identity"]
    two = ls_client.create_account(account_fields(sfdcid))["identity"]
    with pytest.raises(PermanentError) as caught:
        ls_client.find_account_by_sfdcid(sfdcid)
    assert f"identities {one}, {two}" in str(caught.value)
    assert not isinstance(caught.value, RemoteRejected)


def test_child_account_points_to_parent(ls_client: LogiSenseClient, ls_sim: LogiSenseSimulator):
    parent = ls_client.create_account(account_fields("001000000000002AAA"))
    child = ls_client.create_account(
        account_fields(
            "001000000000003AAA",
            parentAccountId=parent["identity"],
            invoicerAccountId=parent["identity"],
            usageInvoicerAccountId=parent["identity"],
        )
    )
    rows = list(ls_sim.state.tables["Account/Parent"].values())
    assert [(r["accountId"], r["parentAccountId"]) for r in rows] == [
        (child["identity"], parent["identity"])
    ]
    assert "parentAccountId" not in ls_sim.state.tables["Account"][child["identity"]]
    stored = ls_client.get_account(child["identity"])
    assert stored is not None and stored["parentAccountId"] == parent["identity"]
    assert stored["invoicerAccountId"] == parent["identity"]
    other = ls_client.create_account(account_fields("001000000000004AAA"))["identity"]
    ls_client.update_account(child["identity"], {"parentAccountId": other})
    assert ls_client.get_account(child["identity"])["parentAccountId"] == other  # type: ignore[index]
    ls_client.update_account(child["identity"], {"parentAccountId": None})
    assert ls_client.get_account(child["identity"])["parentAccountId"] is None  # type: ignore[index]
    assert len(ls_sim.state.tables["Account"]) == 4  # nothing but the link was removed


def test_iter_accounts_pages_through_everything(ls_client: LogiSenseClient):
    for n in range(23):
        ls_client.create_account(account_fields(f"001000000000{n:03d}BBB"))
    ls_client.accounts.resource.page_size = 5
    seen = [a["identity"] for a in ls_client.iter_accounts()]
    assert len(seen) == 24 and len(set(seen)) == 24  # 23 + the seeded LogiSense-only account
    assert seen == sorted(seen)
    assert ls_client.call_counts["POST Account/Search"] == 5


def test_bad_identity_never_reaches_a_url(ls_client: LogiSenseClient):
    with pytest.raises(PermanentError):
        ls_client.update_account("1/../Contact/2", {"name": "x"})  # type: ignore[arg-type]


# -- contacts ------------------------------------------------------------------------------


def contact_fields(sfdcid: str, accounts: list[int], **points: Any) -> dict[str, Any]:
    """billsync's view of a billing contact (contact type 1 in the seed)."""
    return {
        "contactTypeId": 1,
        "firstName": "Ada",
        "lastName": "Lovelace",
        "points": {"sfdcid": sfdcid, **points},
        "accountIds": accounts,
    }


def test_contact_points_and_shared_contact(ls_client: LogiSenseClient, ls_sim: LogiSenseSimulator):
    first = ls_client.create_account(account_fields("001000000000010AAA"))["identity"]
    second = ls_client.create_account(account_fields("001000000000011AAA"))["identity"]
    sfdcid = "003000000000001AAA"
    assert ls_client.find_contact_by_sfdcid(sfdcid) is None
    address = {"street": "1 Main St", "city": "Austin", "country": 1, "state": 3}
    contact = ls_client.create_contact(
        contact_fields(sfdcid, [first], email="ada@example.com", address=address)
    )
    stored = ls_sim.state.tables["Contact"][contact["identity"]]
    assert stored["accountId"] == first and stored["contactTypeId"] == 1
    assert [(p["contactPointTypeId"], p.get("value")) for p in stored["contactPoints"]] == [
        (1, "ada@example.com"),
        (3, sfdcid),
        (4, None),
    ]
    assert stored["contactPoints"][2] == {
        "contactPointTypeId": 4,
        "address1": "1 Main St",
        "city": "Austin",
        "countryId": 1,
        "stateId": 3,
    }
    ls_client.update_contact(contact["identity"], {"accountIds": [first, second]})
    ls_client.update_contact(contact["identity"], {"accountIds": [first, second]})  # no-op
    assert len(ls_sim.state.tables["Account/Contact"]) == 1

    found = ls_client.find_contact_by_sfdcid(sfdcid)
    assert found is not None and found["identity"] == contact["identity"]
    assert found["accountIds"] == [first, second]
    assert found["points"]["address"]["city"] == "Austin"
    ls_client.update_contact(contact["identity"], {"points": {"sfdcid": sfdcid, "phone": "+1"}})
    stored_view = ls_client.get_contact(contact["identity"])
    assert stored_view is not None and stored_view["points"] == {"sfdcid": sfdcid, "phone": "+1"}
    assert [c["identity"] for c in ls_client.iter_contacts()] == [contact["identity"]]
    assert ls_client.get_contact(987654) is None


def test_two_contacts_with_one_sfdcid_are_refused(ls_client: LogiSenseClient):
    account = ls_client.create_account(account_fields("001000000000012AAA"))["identity"]
    sfdcid = "003000000000002AAA"
    ls_client.create_contact(contact_fields(sfdcid, [account]))
    ls_client.create_contact(contact_fields(sfdcid.lower(), [account]))
    assert ls_client.find_contact_by_sfdcid(sfdcid) is not None  # the lower-case one is not it
    ls_client.create_contact(contact_fields(sfdcid, [account]))
    with pytest.raises(PermanentError, match="2 contacts with sfdcid"):
        ls_client.find_contact_by_sfdcid(sfdcid)


# -- price plans ---------------------------------------------------------------------------


def plan_fields(account_id: int, marker: str, recurring: float) -> dict[str, Any]:
    def item(service: int, amount: float, **extra: Any) -> dict[str, Any]:
        return {
            "packageServiceId": service,
            "packageFrequencyId": 1,
            "packageCurrencyId": 1,
            "quantity": 1,
            "recurringPrices": [{"serviceStatusName": "Active", "amount": amount}],
            **extra,
        }

    return {
        "name": "Opportunity",
        "accountId": account_id,
        "description": marker,
        "packageServicePricePlan": [
            item(1, recurring, quantity=2),
            item(3, 0.0, oneTimePrice=99.0),
        ],
    }


def test_price_plan_create_find_update(ls_client: LogiSenseClient):
    account = ls_client.create_account(account_fields("001000000000020AAA"))["identity"]
    opportunity = "006000000000001AAA"
    assert ls_client.find_price_plan(account, opportunity) is None
    marker = ls_client.price_plan_key(opportunity)
    assert marker == f"Salesforce opportunity {opportunity}"
    plan = ls_client.create_price_plan(plan_fields(account, marker, 70.0))
    assert plan["accountId"] == account
    assert [i["packageServiceName"] for i in plan["packageServicePricePlan"]] == [
        "Fiber 100 Mbps Access",
        "Installation",
    ]
    ls_client.create_price_plan(plan_fields(account, marker.lower(), 1.0))  # not this one
    found = ls_client.find_price_plan(account, opportunity)
    assert found is not None and found["identity"] == plan["identity"]
    changed = plan_fields(account, marker, 65.0)["packageServicePricePlan"]
    ls_client.update_price_plan(plan["identity"], {"packageServicePricePlan": changed})
    stored = ls_client.get_price_plan(plan["identity"])
    assert stored is not None
    assert stored["packageServicePricePlan"][0]["recurringPrices"][0]["amount"] == 65.0


# -- reference data and catalog --------------------------------------------------------------


def test_reference_data_from_the_seed(ls_client: LogiSenseClient):
    ref = ls_client.reference_data()
    assert isinstance(ref, ReferenceData)
    assert ref.currencies == {"USD": 1, "EUR": 2, "GBP": 3}
    assert ref.account_statuses["Active"] == ACTIVE and "Closed" in ref.account_statuses
    assert ref.bill_groups["Monthly 1st"] == MONTHLY_1ST
    assert ref.ar_terms["Net 30"] == NET_30
    assert ref.account_types == {"Customer": 1, "Partner": 2, "Reseller": 3}
    assert ref.contact_types["Billing"] == 1
    assert ref.countries["GB"] == 3 and ref.states[("US", "CA")] == 1
    assert ref.states[("CA", "ON")] == 4  # Ontario, not California: states are per country
    assert {c["symbol"] for c in ref.currency_items} == {"$", "€", "£"}
    assert ref.currency_code(EUR) == "EUR"
    assert ls_client.call_counts["GET Currency/Paged"] == 1  # reference reads use /Paged


def test_catalog_from_the_seed(ls_client: LogiSenseClient):
    packages = {p.name: p for p in ls_client.catalog()}
    assert len(packages) == 5
    internet = packages["Internet Essentials"]
    assert internet.is_active
    assert [(f.name, f.family) for f in internet.frequencies] == [
        ("1m", "Monthly Plans"),
        ("12m", "Annual Plans"),
    ]
    assert [c.code for c in internet.currencies] == ["USD", "EUR", "GBP"]
    assert len(internet.products()) == 6
    fiber = next(s for s in internet.services if s.name == "Fiber 100 Mbps Access")
    usd = fiber.price_in("USD")
    eur = fiber.price_in("EUR")
    assert usd is not None and eur is not None
    assert (usd.recurring, usd.one_time) == (79.0, 0.0)
    assert eur.recurring == 72.68
    assert [(s.state, s.price) for s in usd.state_prices] == [
        ("Active", 79.0),
        ("Suspended", 19.75),
    ]
    assert not packages["Legacy DSL"].is_active


# -- error translation -------------------------------------------------------------------------


def test_validation_errors_list_every_problem(ls_client: LogiSenseClient):
    with pytest.raises(RemoteRejected) as caught:
        ls_client.create_account({"currencyId": 999, "accountStatusTypeId": ACTIVE})
    err = caught.value
    assert err.status == 400
    assert any("'name' is required" in m for m in err.errors)
    assert any("'currencyId' 999" in m for m in err.errors)
    assert any("'billGroupId' is required" in m for m in err.errors)
    assert str(err).startswith("LogiSense refused the account (400): ")
    assert "'name' is required" in str(err) and "'currencyId' 999" in str(err)
    assert "rolled back" not in str(err)  # the generic trailer stays in errors only


def test_currency_change_is_refused(ls_client: LogiSenseClient):
    identity = ls_client.create_account(account_fields("001000000000030AAA"))["identity"]
    with pytest.raises(RemoteRejected, match=r"refused the account \(400\): 'currencyId' cannot"):
        ls_client.update_account(identity, {"currencyId": EUR})
    stored = ls_client.get_account(identity)
    assert stored is not None and stored["currencyId"] == USD


def test_missing_record_is_not_found(ls_client: LogiSenseClient):
    with pytest.raises(NotFound) as caught:
        ls_client.update_account(987654, {"name": "ghost"})
    assert caught.value.status == 404


def test_duplicate_sfdcid_is_a_conflict_when_the_instance_enforces_it():
    with (
        LogiSenseSimulator(
            username=USERNAME, password=PASSWORD, client_id=CLIENT_ID, unique_sfdcid=True
        ) as sim,
        LogiSenseClient(
            sim.base_url, username=USERNAME, password=PASSWORD, client_id=CLIENT_ID
        ) as client,
    ):
        client.create_account(account_fields("001000000000040AAA"))
        with pytest.raises(RemoteRejected) as caught:
            client.create_account(account_fields("001000000000040AAA"))
    assert caught.value.status == 409 and not isinstance(caught.value, NotFound)
    assert "already belongs" in str(caught.value)


def test_throttled_is_transient_with_retry_after(
    ls_client: LogiSenseClient, ls_sim: LogiSenseSimulator
):
    ls_client.get_account(1)  # log in first: the fault applies to every route
    ls_sim.faults.throttle_rate = 1.0
    ls_sim.faults.retry_after_s = 7
    with pytest.raises(TransientError) as caught:
        ls_client.get_account(1)
    assert caught.value.retry_after == 7
    assert "429" in str(caught.value)


def test_server_error_is_transient(ls_client: LogiSenseClient, ls_sim: LogiSenseSimulator):
    ls_client.get_account(1)
    ls_sim.faults.error_rate = 1.0
    ls_sim.faults.error_status = 503
    with pytest.raises(TransientError, match=r"\(503\)") as caught:
        ls_client.create_account(account_fields("001000000000050AAA"))
    assert caught.value.retry_after is None
    ls_sim.faults.error_rate = 0.0
    assert ls_client.find_account_by_sfdcid("001000000000050AAA") is None


def test_login_outage_is_transient(ls_sim: LogiSenseSimulator):
    ls_sim.faults.error_rate = 1.0
    client = LogiSenseClient(
        ls_sim.base_url, username=USERNAME, password=PASSWORD, client_id=CLIENT_ID
    )
    with pytest.raises(TransientError, match="login"):
        client.get_account(1)


def test_slow_server_is_a_transient_timeout(ls_sim: LogiSenseSimulator):
    client = LogiSenseClient(
        ls_sim.base_url, username=USERNAME, password=PASSWORD, client_id=CLIENT_ID, timeout_s=0.2
    )
    client.get_account(1)
    ls_sim.faults.latency_ms = 700
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"within 0\.2 s"):
        client.get_account(1)
    assert time.monotonic() - started < 0.6


def test_unreachable_server_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = LogiSenseClient(
        f"http://127.0.0.1:{port}", username=USERNAME, password=PASSWORD, client_id=CLIENT_ID
    )
    with pytest.raises(TransientError, match="cannot reach LogiSense"):
        client.get_account(1)


def test_environment_proxies_are_ignored(
    ls_client: LogiSenseClient, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    assert ls_client.get_account(1) is not None


# -- threads -----------------------------------------------------------------------------------


def test_eight_threads_create_200_accounts_once_each(
    ls_client: LogiSenseClient, ls_sim: LogiSenseSimulator
):
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(25):
                ls_client.create_account(account_fields(f"001{worker:03d}{n:012d}"))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    counts = Counter(a["sfdcid"] for a in ls_client.iter_accounts() if a["sfdcid"])
    assert len(counts) == 200 and set(counts.values()) == {1}
    assert ls_client.login_count == 1
    assert ls_sim.stats.as_json()["writes_total"] == 200


# -- configuration -----------------------------------------------------------------------------


def test_from_settings_names_missing_variables(monkeypatch: pytest.MonkeyPatch):
    for name in ("BASE_URL", "USERNAME", "PASSWORD", "CLIENT_ID", "CLIENT_SECRET"):
        monkeypatch.delenv(f"BILLSYNC_LS_{name}", raising=False)
    with pytest.raises(ConfigError) as caught:
        clients.logisense_client(Settings(ls_username="someone"))
    message = str(caught.value)
    assert "BILLSYNC_LS_BASE_URL" in message and "BILLSYNC_LS_CLIENT_ID" in message
    assert "BILLSYNC_LS_PASSWORD" in message and "BILLSYNC_LS_USERNAME" not in message


def test_from_settings_connects(ls_sim: LogiSenseSimulator):
    settings = Settings(
        ls_base_url=ls_sim.base_url + "/",
        ls_username=USERNAME,
        ls_password=SecretStr(PASSWORD),
        ls_client_id=CLIENT_ID,
        http_timeout_s=3,
    )
    client = clients.logisense_client(settings)
    assert client.session.timeout_s == 3
    assert client.reference_data().currencies["GBP"] == 3
    assert PASSWORD not in repr(client) and PASSWORD not in repr(client.session.__dict__)


def test_failed_early_refresh_keeps_the_live_token():
    """An outage at refresh time does not throw away a token that still has life left."""
    answers: list[Any] = [
        {"access_token": "first", "expires_in": 0.5},
        TransientError("LogiSense failed on the login request (503)"),
        {"access_token": "second", "expires_in": 60},
    ]

    def login(previous: Grant | None) -> Grant:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return grant_from(answer, now=time.monotonic())

    keeper = TokenKeeper(login)
    assert keeper.token() == "first"
    time.sleep(0.42)  # past 80 % of the life, not yet expired
    assert keeper.token() == "first"  # the refresh failed; the old token is still good
    time.sleep(0.1)  # the old token is dead now: the next call logs in again
    assert keeper.token() == "second"
    assert keeper.logins == 2


def test_retry_after_as_seconds_or_http_date():
    assert retry_after_seconds("12") == 12.0
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    wait = retry_after_seconds(in_a_minute)
    assert wait is not None and 55 <= wait <= 61
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
