"""A raw CometD (Bayeux long-polling) reader for tests: what the simulator's Streaming API sends,
unparsed, and the change event header fields Salesforce documents for CometD."""

from __future__ import annotations

import time
from typing import Any

import requests

from simulators.salesforce import SalesforceSimulator

#: The ``ChangeEventHeader`` fields of a CometD change event (no ``nulledFields``: Salesforce
#: documents that list for the Pub/Sub API only).
DOCUMENTED_HEADER = {
    "entityName",
    "recordIds",
    "changeType",
    "changeOrigin",
    "transactionKey",
    "sequenceNumber",
    "commitTimestamp",
    "commitNumber",
    "commitUser",
    "changedFields",
}


class MiniBayeux:
    """The smallest Bayeux long-polling client that exercises the server (not for production)."""

    def __init__(self, sim: SalesforceSimulator, token: str, version: str = "59.0") -> None:
        self.url = f"{sim.base_url}/cometd/{version}"
        self.http = requests.Session()
        self.http.verify = sim.ca_file
        self.http.trust_env = False
        self.token = token
        self.client_id = ""
        self.events: list[dict[str, Any]] = []

    def send(self, *messages: dict[str, Any], timeout: float = 10) -> list[dict[str, Any]]:
        """Post messages; keep data messages in ``events``; return the meta replies."""
        for message in messages:
            if self.client_id and message["channel"] != "/meta/handshake":
                message.setdefault("clientId", self.client_id)
        response = self.http.post(
            self.url,
            json=list(messages),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=timeout,
        )
        self.status = response.status_code
        replies = response.json()
        self.events.extend(m for m in replies if not m["channel"].startswith("/meta/"))
        return [m for m in replies if m["channel"].startswith("/meta/")]

    def handshake(self) -> dict[str, Any]:
        [reply] = self.send(
            {
                "channel": "/meta/handshake",
                "version": "1.0",
                "supportedConnectionTypes": ["long-polling"],
            }
        )
        self.client_id = reply.get("clientId", "")
        return reply

    def subscribe(self, channel: str, replay: int = -1) -> dict[str, Any]:
        [reply] = self.send(
            {
                "channel": "/meta/subscribe",
                "subscription": channel,
                "ext": {"replay": {channel: replay}},
            }
        )
        return reply

    def connect(self) -> dict[str, Any]:
        [reply] = self.send({"channel": "/meta/connect", "connectionType": "long-polling"})
        return reply

    def start(self, channel: str, replay: int = -1) -> MiniBayeux:
        """Handshake, subscribe and do the first (immediate) connect."""
        assert self.handshake()["successful"]
        assert self.subscribe(channel, replay)["successful"]
        assert self.connect()["successful"]
        return self

    def wait_for(self, count: int, within: float = 3.0) -> list[dict[str, Any]]:
        """Long-poll until ``count`` events arrived (or the time is up)."""
        deadline = time.monotonic() + within
        while len(self.events) < count and time.monotonic() < deadline:
            self.connect()
        return self.events


def header(event: dict[str, Any]) -> dict[str, Any]:
    """A change event's ``ChangeEventHeader``."""
    return dict(event["data"]["payload"]["ChangeEventHeader"])
