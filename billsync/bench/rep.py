"""A sales rep at work in the Salesforce simulator: the REST writes whose change events the
streaming ingest carries to billsync. Plain requests, no billsync call-client header, so the
ingest treats them as anyone's edits, not as billsync's own."""

from __future__ import annotations

import time
from typing import Any

import requests

from billsync.bench.harness import SF_CREDENTIALS, SimulatorProcess
from billsync.bench.workload import VALID_ACCOUNT

API = "/services/data/v59.0"
COLLECTION_LIMIT = 200


class SalesforceRep:
    """Creates and renames accounts through the simulator's REST API."""

    def __init__(self, sim: SimulatorProcess) -> None:
        self.base_url = sim.base_url
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = sim.ca_file or True
        token = self.http.post(
            f"{self.base_url}/services/oauth2/token",
            data={"grant_type": "client_credentials", **SF_CREDENTIALS},
            timeout=30,
        )
        token.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        self.calls = 0

    def _collection(self, method: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = {
            "allOrNone": True,
            "records": [{"attributes": {"type": "Account"}, **r} for r in records],
        }
        response = self.http.request(
            method, f"{self.base_url}{API}/composite/sobjects", json=body, timeout=60
        )
        self.calls += 1
        response.raise_for_status()
        results = response.json()
        failed = [r for r in results if not r.get("success")]
        if failed:
            raise RuntimeError(f"Salesforce refused {len(failed)} writes: {failed[0]}")
        return list(results)

    def create_accounts(self, count: int, *, label: str = "Rep") -> list[str]:
        """``count`` valid, in-scope accounts (each its own invoice recipient); their ids."""
        ids: list[str] = []
        for offset in range(0, count, COLLECTION_LIMIT):
            size = min(COLLECTION_LIMIT, count - offset)
            records = [{"Name": f"{label} {offset + n}", **VALID_ACCOUNT} for n in range(size)]
            created = self._collection("POST", records)
            batch = [str(r["id"]) for r in created]
            self._collection(
                "PATCH",
                [
                    {
                        "Id": i,
                        "Subscription_Invoice_Recipient__c": i,
                        "Usage_Invoice_Recipient__c": i,
                    }
                    for i in batch
                ],
            )
            ids.extend(batch)
        return ids

    def rename(self, names: dict[str, str]) -> float:
        """Rename accounts in one collection call; returns when the call was sent."""
        sent = time.time()
        self._collection("PATCH", [{"Id": i, "Name": n} for i, n in names.items()])
        return sent
