"""A CometD client from PyPI (aiocometd-ng, asyncio) against the simulator's Streaming API.

Salesforce's bearer token goes in an auth extension and the replay id in the subscribe
message's ``ext``, as Salesforce's streaming clients do; the client negotiates long polling.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiocometd_ng import AuthExtension, Client, ConnectionType, Extension

from simulators.salesforce import SalesforceSimulator
from tests.contract.conftest import create

CHANNEL = "/data/AccountChangeEvent"


class BearerToken(AuthExtension):
    """Sends ``Authorization: Bearer <token>`` with every request."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def outgoing(self, payload: Any, headers: Any) -> None:
        headers["Authorization"] = f"Bearer {self.token}"

    async def incoming(self, payload: Any, headers: Any = None) -> None:
        return None


class ReplayFrom(Extension):
    """Salesforce's replay extension: subscribe from a replay id (-2: all retained)."""

    def __init__(self, replay: dict[str, int]) -> None:
        self.replay = replay

    async def outgoing(self, payload: Any, headers: Any) -> None:
        for message in payload:
            if message.get("channel") == "/meta/subscribe":
                message.setdefault("ext", {})["replay"] = dict(self.replay)

    async def incoming(self, payload: Any, headers: Any = None) -> None:
        return None


async def receive(sim: SalesforceSimulator, replay: int, wanted: int, then: Any) -> list[Any]:
    tls = ssl.create_default_context(cafile=sim.ca_file)
    # By host name, as an org is reached: aiohttp keeps no cookies set by a bare IP address,
    # and Bayeux needs the BAYEUX_BROWSER cookie back.
    url = sim.base_url.replace("127.0.0.1", "localhost")
    client = Client(
        f"{url}/cometd/59.0",
        connection_types=ConnectionType.LONG_POLLING,
        ssl=tls,
        auth=BearerToken(sim.new_session()),
        extensions=[ReplayFrom({CHANNEL: replay})],
    )
    received: list[Any] = []
    async with client:
        await client.subscribe(CHANNEL)
        await asyncio.to_thread(then)
        async for message in client:
            received.append(message)
            if len(received) >= wanted:
                break
    return received


def test_python_cometd_client_replays_and_receives_live_events(sim: SalesforceSimulator) -> None:
    old = create(sim, "Account", {"Name": "Retained"})
    later: list[str] = []

    def write_live() -> None:
        later.append(create(sim, "Account", {"Name": "Live"}))

    messages = asyncio.run(asyncio.wait_for(receive(sim, -2, 2, write_live), timeout=30))
    headers = [m["data"]["payload"]["ChangeEventHeader"] for m in messages]
    assert [h["recordIds"] for h in headers] == [[old], later]
    assert [m["channel"] for m in messages] == [CHANNEL, CHANNEL]
    assert messages[0]["data"]["event"]["replayId"] < messages[1]["data"]["event"]["replayId"]
