"""jsforce, the most used JavaScript Salesforce client, against the simulator.

It logs in with client credentials and with a password (OAuth, chunked form bodies), is refused
for a wrong password as the real token endpoint refuses it, queries, creates, renews an expired
session from the 401 ``INVALID_SESSION_ID`` answer, and streams Change Data Capture with replay
from -2 and from a stored replay id (over Faye's long polling).
"""

from __future__ import annotations

from typing import Any

from simulators.salesforce import SalesforceSimulator
from tests.contract.conftest import node_env


def test_jsforce_logs_in_queries_creates_and_streams_with_replay(
    sim: SalesforceSimulator, run_node: Any
) -> None:
    client = run_node("jsforce_client.js", node_env(sim))
    app = client.next_step("client_credentials")
    assert app["instanceUrl"] == sim.base_url
    assert app["orgId"] == sim.store.org_id and app["userId"] == sim.store.user_id
    assert client.next_step("password")["instanceUrl"] == sim.base_url
    refused = client.next_step("refused")
    assert refused == {
        "step": "refused",
        "refused": True,
        "error": "invalid_grant",
        "description": "authentication failure",
    }

    created = client.next_step("create")["ids"]
    stored = {rid: sim.store.tables["Account"][rid]["Name"] for rid in created}
    assert sorted(stored.values()) == ["jsforce one", "jsforce three", "jsforce two"]
    query = client.next_step("query")
    assert query["totalSize"] == 3
    assert query["names"] == ["jsforce one", "jsforce three", "jsforce two"]

    assert client.next_step("refresh") == {"step": "refresh", "totalSize": 1, "renewed": True}

    everything = client.next_step("replay_all")["events"]
    assert [e["header"]["recordIds"] for e in everything] == [[rid] for rid in created]
    assert {e["header"]["changeType"] for e in everything} == {"CREATE"}
    assert [e["name"] for e in everything] == ["jsforce one", "jsforce two", "jsforce three"]
    later = client.next_step("replay_from")
    assert later["from"] == everything[0]["replayId"]
    assert [e["replayId"] for e in later["events"]] == [e["replayId"] for e in everything[1:]]
    assert client.finish() == 0
