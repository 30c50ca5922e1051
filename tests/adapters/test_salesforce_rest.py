"""The Salesforce REST client against the HTTPS simulator: logins, reads, writes, errors."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import certifi
import pytest
import requests

from adapters.salesforce.auth import SalesforceAuth
from adapters.salesforce.errors import LIMIT_EXCEEDED_RETRY_S
from adapters.salesforce.rest import SalesforceClient, soql_datetime
from adapters.salesforce.streaming import StreamingClient
from billsync import clients
from billsync.config import load_settings
from billsync.errors import (
    AuthenticationFailed,
    ConfigError,
    PermanentError,
    QuotaExhausted,
    RemoteRejected,
    TransientError,
    WriteNotAllowed,
)

pytestmark = pytest.mark.timeout(60)


def make_client(admin: Any, **overrides: Any) -> SalesforceClient:
    options: dict[str, Any] = {
        "client_id": admin.client_id,
        "client_secret": admin.client_secret,
        "ca_bundle": admin.sim.ca_file,
        "timeout_s": 5.0,
    }
    options.update(overrides)
    return SalesforceClient(admin.base_url, **options)


def products(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"Name": f"Package {n}", "LogiSense_Package_Id__c": f"PKG-{n}", "IsActive": True}
        for n in range(start, start + count)
    ]


@pytest.fixture
def sf_client(sf_admin: Any, monkeypatch: pytest.MonkeyPatch) -> SalesforceClient:
    """A client-credentials client, with REQUESTS_CA_BUNDLE pointing at a bundle without the
    simulator's CA: the adapter must trust BILLSYNC_SF_CA_BUNDLE regardless."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    return make_client(sf_admin)


# -- logins and TLS -------------------------------------------------------------------------


def test_client_credentials_login_with_ca_env_set(sf_client: SalesforceClient) -> None:
    assert sf_client.auth.mode == "client_credentials"
    assert sf_client.query_all("SELECT Id FROM Product2") == []
    assert sf_client.auth.logins == 1


def test_a_plain_session_fails_when_the_env_bundle_is_set(
    sf_admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pitfall the adapter avoids: env CA variables override Session.verify."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    plain = requests.Session()
    plain.verify = sf_admin.sim.ca_file
    with pytest.raises(requests.exceptions.SSLError):
        plain.get(f"{sf_admin.base_url}/__sim/stats", timeout=5)


def test_untrusted_certificate_is_a_permanent_configuration_error(sf_admin: Any) -> None:
    client = make_client(sf_admin, ca_bundle=certifi.where())
    with pytest.raises(PermanentError, match="BILLSYNC_SF_CA_BUNDLE"):
        client.query_all("SELECT Id FROM Product2")


def test_wrong_secret_is_refused_without_leaking_it(sf_admin: Any) -> None:
    client = make_client(sf_admin, client_secret="not-the-secret-42")
    with pytest.raises(AuthenticationFailed) as caught:
        client.query_all("SELECT Id FROM Product2")
    assert "not-the-secret-42" not in str(caught.value)


def test_username_password_token_login(sf_admin: Any) -> None:
    client = make_client(
        sf_admin, username="integration@example.com", password="pw", security_token="tok"
    )
    assert client.auth.mode == "password"
    assert client.query_all("SELECT Id FROM Product2") == []
    wrong = make_client(
        sf_admin, username="integration@example.com", password="pw-wrong-77", security_token="tok"
    )
    with pytest.raises(AuthenticationFailed) as caught:
        wrong.query_all("SELECT Id FROM Product2")
    assert "invalid_grant" in str(caught.value) and "pw-wrong-77" not in str(caught.value)


def test_given_session_id_is_used_and_cannot_be_renewed(sf_admin: Any) -> None:
    client = make_client(sf_admin, client_id=None, client_secret=None, session_id=sf_admin.token())
    assert client.auth.mode == "session"
    assert client.query_all("SELECT Id FROM Product2") == []
    stale = make_client(sf_admin, client_id=None, client_secret=None, session_id="00Dbogus!token")
    with pytest.raises(AuthenticationFailed) as caught:
        stale.query_all("SELECT Id FROM Product2")
    assert "00Dbogus" not in str(caught.value)


def test_expired_token_is_renewed_once_transparently(
    sf_client: SalesforceClient, sf_admin: Any
) -> None:
    sf_admin.faults(token_ttl_s=0.3)
    sf_client.query_all("SELECT Id FROM Product2")
    time.sleep(0.4)
    assert sf_client.query_all("SELECT Id FROM Product2") == []
    assert sf_client.auth.logins == 2


def test_from_settings_names_missing_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INSTANCE_URL", "CLIENT_ID", "CLIENT_SECRET", "USERNAME", "PASSWORD"):
        monkeypatch.delenv(f"BILLSYNC_SF_{name}", raising=False)
    with pytest.raises(ConfigError, match="BILLSYNC_SF_INSTANCE_URL"):
        clients.salesforce_client(load_settings())
    settings = load_settings(sf_instance_url="https://example.my.salesforce.com", sf_client_id="x")
    with pytest.raises(ConfigError, match="BILLSYNC_SF_CLIENT_SECRET"):
        clients.salesforce_client(settings)
    settings = load_settings(sf_instance_url="https://example.my.salesforce.com")
    with pytest.raises(ConfigError, match="BILLSYNC_SF_CLIENT_ID"):
        clients.salesforce_client(settings)


# -- reads ----------------------------------------------------------------------------------


def test_query_all_follows_next_records_url(sf_client: SalesforceClient) -> None:
    created = sf_client.create_many("Product2", products(2100))
    assert len(created) == 2100 and all(r["success"] for r in created)
    before = sf_client.api_calls
    records = sf_client.query_all("SELECT Id, Name FROM Product2")
    assert len(records) == 2100
    assert len({r["Id"] for r in records}) == 2100
    assert sf_client.api_calls - before == 2  # 2,000 + 100
    assert "attributes" not in records[0]


def test_records_by_ids_batches_200_ids_a_query(sf_client: SalesforceClient, sf_admin: Any) -> None:
    ids = [r["id"] for r in sf_client.create_many("Product2", products(450))]
    before = sf_client.api_calls
    found = sf_client.records_by_ids("Product2", ids, ["Name", "LogiSense_Package_Id__c"])
    assert sf_client.api_calls - before == 3
    assert set(found) == set(ids)
    assert found[ids[7]]["LogiSense_Package_Id__c"] == "PKG-7"


@pytest.mark.parametrize(
    "bad_id",
    ["001' OR Name != '", "001000000000001AAA') OR (Id != '", "", "x" * 18 + "'", "01t;DROP"],
)
def test_a_bad_id_is_refused_without_any_http_call(
    sf_client: SalesforceClient, sf_admin: Any, bad_id: str
) -> None:
    good = sf_client.create_many("Product2", products(1))[0]["id"]
    before = sf_admin.stats()["requests_total"]
    with pytest.raises(PermanentError, match="not a Salesforce id"):
        sf_client.records_by_ids("Product2", [good, bad_id], ["Name"])
    with pytest.raises(PermanentError):
        sf_client.get("Product2", bad_id)
    with pytest.raises(PermanentError, match="field"):
        sf_client.records_by_ids("Product2", [good], ["Name FROM Account --"])
    assert sf_admin.stats()["requests_total"] == before  # admin calls are not counted


def test_get_and_changed_since(sf_client: SalesforceClient) -> None:
    first = sf_client.create_many("Product2", products(2))
    record = sf_client.get("Product2", first[0]["id"])
    assert record is not None and record["Name"] == "Package 0"
    assert sf_client.get("Product2", first[0]["id"][:12] + "zzz") is None
    changed = list(sf_client.changed_since("Product2", 0, ["Name"]))
    assert {r["Name"] for r in changed} == {"Package 0", "Package 1"}
    assert list(sf_client.changed_since("Product2", 32503680000000 - 1, ["Name"])) == []
    assert soql_datetime(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"


# -- writes ---------------------------------------------------------------------------------


def test_upsert_many_250_products_by_external_id_in_two_calls(
    sf_client: SalesforceClient,
) -> None:
    before = sf_client.api_calls
    results = sf_client.upsert_many("Product2", "LogiSense_Package_Id__c", products(250))
    assert sf_client.api_calls - before == 2
    assert len(results) == 250 and all(r["success"] and r["created"] for r in results)
    renamed = [{**p, "Name": p["Name"] + " (v2)"} for p in products(250)]
    again = sf_client.upsert_many("Product2", "LogiSense_Package_Id__c", renamed)
    assert [r["id"] for r in again] == [r["id"] for r in results]
    assert not any(r["created"] for r in again)
    stored = sf_client.query_all(
        "SELECT Name FROM Product2 WHERE LogiSense_Package_Id__c = 'PKG-9'"
    )
    assert [r["Name"] for r in stored] == ["Package 9 (v2)"]


def test_update_many_and_publish_event(sf_client: SalesforceClient) -> None:
    ids = [r["id"] for r in sf_client.create_many("Product2", products(3))]
    results = sf_client.update_many("Product2", [{"Id": i, "IsActive": False} for i in ids])
    assert all(r["success"] for r in results)
    assert all(
        r["IsActive"] is False
        for r in sf_client.records_by_ids("Product2", ids, ["IsActive"]).values()
    )
    event_id = sf_client.publish_event(
        "LogiSense_Sync_Request", {"Record_Id__c": "006000000000001AAA"}
    )
    assert event_id


@pytest.mark.parametrize(
    "sobject",
    ["Account", "Contact", "Opportunity", "OpportunityLineItem", "Opportunity_Product_Service__c"],
)
def test_writes_outside_the_allowlist_never_reach_salesforce(
    sf_client: SalesforceClient, sf_admin: Any, sobject: str
) -> None:
    before = sf_admin.stats()
    record = {"Name": "Mallory", "Id": "001000000000001AAA"}
    with pytest.raises(WriteNotAllowed):
        sf_client.create_many(sobject, [record])
    with pytest.raises(WriteNotAllowed):
        sf_client.update_many(sobject, [record])
    with pytest.raises(WriteNotAllowed):
        sf_client.upsert_many(sobject, "Id", [record])
    with pytest.raises(WriteNotAllowed):
        sf_client.publish_event(sobject, {"Name": "x"})
    after = sf_admin.stats()
    assert after["requests_total"] == before["requests_total"]  # admin calls are not counted
    assert after["writes_total"] == before["writes_total"] == 0


def test_own_writes_carry_the_call_client_in_change_origin(
    sf_client: SalesforceClient, sf_admin: Any
) -> None:
    sf_client.upsert_many("Product2", "LogiSense_Package_Id__c", products(1))
    stream = StreamingClient(
        SalesforceAuth(
            sf_admin.base_url,
            client_id=sf_admin.client_id,
            client_secret=sf_admin.client_secret,
            ca_bundle=sf_admin.sim.ca_file,
        ),
        ["/data/Product2ChangeEvent"],
        replay_from=lambda channel: -2,
    )
    stop = threading.Event()
    batch = next(stream.events(stop))
    stop.set()
    stream.close()
    header = batch[0].payload["ChangeEventHeader"]
    assert header["changeOrigin"].endswith("client=billsync")
    assert header["entityName"] == "Product2"


# -- error translation ----------------------------------------------------------------------


def test_5xx_is_transient_and_4xx_is_rejected_with_salesforce_messages(
    sf_client: SalesforceClient, sf_admin: Any
) -> None:
    with pytest.raises(RemoteRejected) as rejected:
        sf_client.query_all("SELECT Id FROM Product2 WHERE")
    assert rejected.value.status == 400
    assert any("MALFORMED_QUERY" in e for e in rejected.value.errors)
    bad = sf_client.create_many("Product2", [{"NoSuchField__c": 1}])
    assert bad[0]["success"] is False and bad[0]["errors"]
    sf_client.query_all("SELECT Id FROM Product2")  # log in before the faults
    sf_admin.faults(error_rate=1.0, error_status=503)
    with pytest.raises(TransientError):
        sf_client.query_all("SELECT Id FROM Product2")
    sf_admin.faults(error_rate=0.0, throttle_rate=1.0, retry_after_s=7)
    with pytest.raises(TransientError) as throttled:
        sf_client.query_all("SELECT Id FROM Product2")
    assert throttled.value.retry_after == 7


def test_spent_daily_limit_is_a_quota_wait_with_a_hint(
    sf_client: SalesforceClient, sf_admin: Any
) -> None:
    limit = sf_admin.admin("api-usage", {})["limit"]
    sf_admin.admin("api-usage", {"used": limit})
    with pytest.raises(QuotaExhausted, match="REQUEST_LIMIT_EXCEEDED") as caught:
        sf_client.query_all("SELECT Id FROM Product2")
    assert isinstance(caught.value, TransientError)
    assert caught.value.retry_after == LIMIT_EXCEEDED_RETRY_S
    assert (sf_client.api_usage.used, sf_client.api_usage.limit) == (limit, limit)
    assert sf_client.api_usage.limit_exceeded == 1


def test_timeouts_and_refused_connections_are_transient(sf_admin: Any) -> None:
    client = make_client(sf_admin, timeout_s=0.5)
    client.query_all("SELECT Id FROM Product2")
    sf_admin.faults(timeout_rate=1.0, timeout_s=1.5)
    with pytest.raises(TransientError, match="timed out"):
        client.query_all("SELECT Id FROM Product2")
    sf_admin.faults(timeout_rate=0.0)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    nowhere = SalesforceClient(
        f"https://127.0.0.1:{port}", client_id="a", client_secret="b", timeout_s=1.0
    )
    with pytest.raises(TransientError):
        nowhere.query_all("SELECT Id FROM Product2")
