"""The Salesforce simulator's Streaming API: CDC and platform events over CometD long polling."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests
from simple_salesforce import Salesforce

from simulators.salesforce import SalesforceSimulator
from tests.simulators.bayeux import DOCUMENTED_HEADER, MiniBayeux, header

ACCOUNTS = "/data/AccountChangeEvent"


@pytest.fixture
def stream(sf_sim: SalesforceSimulator, sf_token: dict[str, str]) -> MiniBayeux:
    return MiniBayeux(sf_sim, sf_token["access_token"])


def test_handshake_reply_and_cookie(stream: MiniBayeux) -> None:
    reply = stream.handshake()
    assert reply["successful"] is True
    assert reply["supportedConnectionTypes"] == ["long-polling"]
    assert reply["ext"] == {"replay": True, "payload.format": True}
    assert reply["advice"] == {"interval": 0, "timeout": 2000, "reconnect": "retry"}
    assert "BAYEUX_BROWSER" in stream.http.cookies
    stream.http.cookies.clear()
    [refused] = stream.send({"channel": "/meta/connect", "connectionType": "long-polling"})
    assert refused["error"] == "403::Unknown client"


def test_new_events_arrive_within_a_second(stream: MiniBayeux, sf_client: Salesforce) -> None:
    stream.start(ACCOUNTS)
    received: list[float] = []

    def poll() -> None:
        stream.wait_for(1, within=3)
        received.append(time.monotonic())

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.2)
    written = time.monotonic()
    account_id = sf_client.Account.create(
        {"Name": "Acme", "LogiSense_Sync__c": True},
        headers={"Sforce-Call-Options": "client=billsync"},
    )["id"]
    poller.join()
    assert received and received[0] - written < 1.0
    [event] = stream.events
    assert event["channel"] == ACCOUNTS
    data = event["data"]
    assert set(data) == {"schema", "payload", "event"}
    assert header(event)["recordIds"] == [account_id]
    assert header(event)["changeType"] == "CREATE"
    assert header(event)["changeOrigin"] == "com/salesforce/api/rest/59.0;client=billsync"
    assert data["payload"]["Name"] == "Acme" and data["payload"]["LogiSense_Sync__c"] is True
    assert "IsDeleted" not in data["payload"] and "SystemModstamp" not in data["payload"]
    assert set(header(event)) == DOCUMENTED_HEADER


def test_update_carries_changed_fields_only(
    sf_sim: SalesforceSimulator, stream: MiniBayeux, sf_client: Salesforce
) -> None:
    account_id = sf_client.Account.create({"Name": "Acme", "Type": "Customer"})["id"]
    stream.start(ACCOUNTS)
    sf_client.Account.update(account_id, {"Name": "Acme Ltd", "Type": None})
    sf_client.Account.delete(account_id)
    update, delete = stream.wait_for(2)
    assert header(update)["changeType"] == "UPDATE"
    assert sorted(header(update)["changedFields"]) == ["LastModifiedDate", "Name", "Type"]
    assert "nulledFields" not in header(update) and "diffFields" not in header(update)
    assert update["data"]["payload"]["Type"] is None
    assert "CurrencyIsoCode" not in update["data"]["payload"]
    assert update["data"]["payload"]["Name"] == "Acme Ltd"
    assert header(delete)["changeType"] == "DELETE"
    assert set(delete["data"]["payload"]) == {"ChangeEventHeader"}
    assert "changeOrigin" in header(update) and ";client=" not in header(update)["changeOrigin"]


def test_contact_name_and_address_are_compound_fields(
    stream: MiniBayeux, sf_client: Salesforce
) -> None:
    stream.start("/data/ContactChangeEvent")
    contact = sf_client.Contact.create(
        {"FirstName": "Ada", "LastName": "Lovelace", "MailingCity": "London"}
    )["id"]
    sf_client.Contact.update(contact, {"LastName": "King"})
    create, update = stream.wait_for(2)
    assert create["data"]["payload"]["Name"] == {"FirstName": "Ada", "LastName": "Lovelace"}
    assert create["data"]["payload"]["MailingAddress"] == {"City": "London"}
    assert sorted(header(update)["changedFields"]) == ["LastModifiedDate", "Name.LastName"]


def test_replay_from_a_stored_id_and_all_retained(
    sf_sim: SalesforceSimulator, sf_token: dict[str, str], sf_client: Salesforce
) -> None:
    names = [f"A{n}" for n in range(5)]
    for name in names:
        sf_client.Account.create({"Name": name})
    everything = MiniBayeux(sf_sim, sf_token["access_token"]).start(ACCOUNTS, replay=-2)
    assert [e["data"]["payload"]["Name"] for e in everything.events] == names
    replay_ids = [e["data"]["event"]["replayId"] for e in everything.events]
    assert replay_ids == sorted(replay_ids) and len(set(replay_ids)) == 5
    later = MiniBayeux(sf_sim, sf_token["access_token"]).start(ACCOUNTS, replay=replay_ids[2])
    assert [e["data"]["payload"]["Name"] for e in later.events] == names[3:]
    fresh = MiniBayeux(sf_sim, sf_token["access_token"]).start(ACCOUNTS, replay=-1)
    assert fresh.events == []


def test_invalid_and_aged_out_replay_ids(
    sf_sim: SalesforceSimulator,
    stream: MiniBayeux,
    sf_client: Salesforce,
    sf_http: requests.Session,
) -> None:
    sf_client.Account.create({"Name": "Old"})
    [old] = sf_sim.bus.retained(ACCOUNTS)
    old_id = old["event"]["replayId"]
    stream.handshake()
    bad = stream.subscribe(ACCOUNTS, old_id + 1000)
    assert bad["successful"] is False
    assert bad["error"] == (
        f"400::The replayId {{{old_id + 1000}}} you provided was invalid.  Please provide a "
        "valid ID, -2 to replay all events, or -1 to replay only new events."
    )
    aged = sf_http.post(f"{sf_sim.base_url}/__sim/cdc/age", json={"hours": 73}).json()
    assert aged == {"retained": 0}
    assert stream.subscribe(ACCOUNTS, old_id)["successful"] is False
    assert stream.subscribe(ACCOUNTS, -2)["successful"] is True


def test_unknown_channel_is_refused(stream: MiniBayeux) -> None:
    stream.handshake()
    reply = stream.subscribe("/data/NopeChangeEvent")
    assert reply["successful"] is False and reply["error"].startswith("403:")
    assert stream.subscribe("/data/Opportunity_Product_Service__ChangeEvent")["successful"]
    assert stream.subscribe("/data/ChangeEvents")["successful"]


def test_gap_and_overflow_events(
    sf_sim: SalesforceSimulator, stream: MiniBayeux, sf_http: requests.Session
) -> None:
    stream.start(ACCOUNTS)
    ids = ["001000000000001AAA", "001000000000002AAA"]
    sf_http.post(
        f"{sf_sim.base_url}/__sim/cdc/gap",
        json={"object": "Account", "ids": ids, "changeType": "GAP_UPDATE"},
    )
    sf_http.post(f"{sf_sim.base_url}/__sim/cdc/overflow", json={"object": "Account"})
    gap, overflow = stream.wait_for(2)
    assert header(gap)["changeType"] == "GAP_UPDATE" and header(gap)["recordIds"] == ids
    assert set(gap["data"]["payload"]) == {"ChangeEventHeader"}
    assert header(overflow)["changeType"] == "GAP_OVERFLOW"
    assert header(overflow)["recordIds"] == ["000000000000000AAA"]


def test_composite_update_of_same_values_is_one_event(
    stream: MiniBayeux, sf_client: Salesforce
) -> None:
    created = sf_client.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": True,
            "records": [{"attributes": {"type": "Account"}, "Name": f"A{n}"} for n in range(3)],
        },
    )
    ids = [r["id"] for r in created]
    stream.start("/data/ChangeEvents")
    sf_client.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "Id": i, "Type": "Partner"} for i in ids
            ],
        },
    )
    sf_client.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": True,
            "records": [{"attributes": {"type": "Account"}, "Name": f"B{n}"} for n in range(2)],
        },
    )
    update, first, second = stream.wait_for(3)
    assert header(update)["recordIds"] == ids and header(update)["changeType"] == "UPDATE"
    assert header(first)["transactionKey"] == header(second)["transactionKey"]
    assert [header(first)["sequenceNumber"], header(second)["sequenceNumber"]] == [1, 2]


def test_platform_events_are_streamed(stream: MiniBayeux, sf_client: Salesforce) -> None:
    stream.start("/event/LogiSense_Sync_Request__e")
    sf_client.LogiSense_Sync_Request__e.create({"Record_Id__c": "006000000000001AAA"})
    [event] = stream.wait_for(1)
    payload = event["data"]["payload"]
    assert payload["Record_Id__c"] == "006000000000001AAA"
    assert {"CreatedDate", "CreatedById"} <= set(payload)
    assert isinstance(event["data"]["event"]["replayId"], int)
    assert uuid.UUID(event["data"]["event"]["EventUuid"]).version == 4


def test_undelete_carries_the_records_non_empty_fields(
    sf_sim: SalesforceSimulator, stream: MiniBayeux, sf_client: Salesforce
) -> None:
    account_id = sf_client.Account.create({"Name": "Acme", "Type": "Customer"})["id"]
    sf_client.Account.delete(account_id)
    stream.start(ACCOUNTS)
    sf_sim.store.undelete("Account", [account_id])
    [event] = stream.wait_for(1)
    assert header(event)["changeType"] == "UNDELETE"
    payload = event["data"]["payload"]
    assert payload["Name"] == "Acme" and payload["Type"] == "Customer"
    assert None not in payload.values()
    assert "IsDeleted" not in payload


def test_forget_clients_then_handshake_again(
    sf_sim: SalesforceSimulator,
    stream: MiniBayeux,
    sf_http: requests.Session,
    sf_client: Salesforce,
) -> None:
    stream.start(ACCOUNTS)
    sf_http.post(f"{sf_sim.base_url}/__sim/forget-clients")
    refused = stream.connect()
    assert refused["successful"] is False
    assert refused["error"] == "403::Unknown client"
    assert refused["advice"] == {"reconnect": "handshake"}
    stream.start(ACCOUNTS)
    sf_client.Account.create({"Name": "After"})
    assert len(stream.wait_for(1)) == 1


def test_expired_session_gets_401(
    sf_sim: SalesforceSimulator, stream: MiniBayeux, sf_http: requests.Session
) -> None:
    stream.start(ACCOUNTS)
    sf_http.post(f"{sf_sim.base_url}/__sim/faults", json={"token_ttl_s": 0.1})
    time.sleep(0.2)
    [reply] = stream.send({"channel": "/meta/connect", "connectionType": "long-polling"})
    assert stream.status == 401
    assert reply["error"] == "401::Authentication invalid"
    assert reply["advice"] == {"reconnect": "none"}


def test_long_poll_times_out_with_a_successful_connect(stream: MiniBayeux) -> None:
    stream.start(ACCOUNTS)
    started = time.monotonic()
    reply = stream.connect()
    assert 1.8 <= time.monotonic() - started < 3.0
    assert reply["successful"] is True and reply["advice"]["reconnect"] == "retry"


def test_dropped_long_poll_closes_the_connection(
    sf_sim: SalesforceSimulator, stream: MiniBayeux, sf_http: requests.Session
) -> None:
    stream.start(ACCOUNTS)
    sf_http.post(f"{sf_sim.base_url}/__sim/faults", json={"drop_longpoll_rate": 1.0})
    with pytest.raises(requests.ConnectionError):
        stream.connect()
    sf_http.post(f"{sf_sim.base_url}/__sim/faults", json={"drop_longpoll_rate": 0.0})
    stream.send(
        {"channel": "/meta/connect", "connectionType": "long-polling", "advice": {"timeout": 0}}
    )
    assert stream.status == 200


def test_many_clients_poll_at_once_without_blocking_writes(
    sf_sim: SalesforceSimulator, sf_token: dict[str, str], sf_client: Salesforce
) -> None:
    clients = [MiniBayeux(sf_sim, sf_token["access_token"]).start(ACCOUNTS) for _ in range(30)]
    threads = [threading.Thread(target=c.wait_for, args=(1, 3.0)) for c in clients]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    sf_client.Account.create({"Name": "Broadcast"})
    write_time = time.monotonic() - started
    for thread in threads:
        thread.join()
    assert write_time < 0.5
    assert all(len(c.events) == 1 for c in clients)
    assert time.monotonic() - started < 1.5
