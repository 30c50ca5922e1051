"""The official CometD JavaScript client (npm ``cometd``) against the simulator's Streaming API.

It handshakes (its bodies are chunked), subscribes with Salesforce's replay extension, and
receives retained and live change events and platform events, with the cookie and long-poll
behaviour the client expects.
"""

from __future__ import annotations

import uuid
from typing import Any

from simulators.salesforce import SalesforceSimulator
from tests.contract.conftest import create, node_env


def test_cometd_client_handshakes_and_receives_replayed_and_live_events(
    sim: SalesforceSimulator, run_node: Any
) -> None:
    first = create(sim, "Account", {"Name": "Before subscribe"})
    env = node_env(sim, SF_TOKEN=sim.new_session(), SF_REPLAY="-2", SF_WANTED="2")
    client = run_node("cometd_client.js", env)
    handshake = client.next_step("handshake")
    assert handshake["ext"] == {"replay": True, "payload.format": True}
    client.next_step("subscribed")
    replayed = client.next_step("event")["data"]
    assert replayed["payload"]["ChangeEventHeader"]["recordIds"] == [first]
    second = create(sim, "Account", {"Name": "While subscribed"})
    live = client.next_step("event")["data"]
    header = live["payload"]["ChangeEventHeader"]
    assert header["recordIds"] == [second] and header["changeType"] == "CREATE"
    assert live["payload"]["Name"] == "While subscribed"
    assert live["event"]["replayId"] > replayed["event"]["replayId"]
    assert client.next_step("done")["received"] == 2
    assert client.finish() == 0


def test_cometd_client_receives_platform_events_with_their_uuid(
    sim: SalesforceSimulator, run_node: Any
) -> None:
    channel = "/event/LogiSense_Sync_Request__e"
    env = node_env(sim, SF_TOKEN=sim.new_session(), SF_CHANNEL=channel, SF_WANTED="1")
    client = run_node("cometd_client.js", env)
    client.next_step("subscribed")
    create(sim, "LogiSense_Sync_Request__e", {"Record_Id__c": "006000000000001AAA"})
    event = client.next_step("event")
    assert event["channel"] == channel
    assert event["data"]["payload"]["Record_Id__c"] == "006000000000001AAA"
    assert uuid.UUID(event["data"]["event"]["EventUuid"])
    assert client.finish() == 0
