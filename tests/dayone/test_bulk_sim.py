"""The Salesforce simulator's Bulk API 2.0 query jobs, read over HTTP as Salesforce documents
them, and the adapter that reads them."""

from __future__ import annotations

import csv
import io
from typing import Any

import requests

from adapters.salesforce.bulk import BulkQueryClient
from adapters.salesforce.rest import SalesforceClient
from tests.conftest import sf_settings
from tests.ingest.conftest import silent_account

API = "/services/data/v59.0"


def http(sim: Any) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = sim.ca_file
    session.headers["Authorization"] = f"Bearer {sim.new_session()}"
    return session


def test_query_job_lifecycle_and_locator_paging(salesforce: Any) -> None:
    ids = {silent_account(salesforce, f"Bulk {n}") for n in range(5)}
    silent_account(salesforce, "Out of scope", LogiSense_Sync__c=False)
    client = http(salesforce)
    base = salesforce.base_url + API
    soql = "SELECT Id, Name, LogiSense_Sync__c FROM Account WHERE LogiSense_Sync__c = true"
    job = client.post(f"{base}/jobs/query", json={"operation": "query", "query": soql}).json()
    assert job["state"] == "UploadComplete" and job["id"].startswith("750")
    early = client.get(f"{base}/jobs/query/{job['id']}/results")
    assert early.status_code == 400  # not complete yet
    states = [client.get(f"{base}/jobs/query/{job['id']}").json()["state"] for _ in range(3)]
    assert states == ["InProgress", "JobComplete", "JobComplete"]

    rows: list[dict[str, str]] = []
    locator: str | None = None
    sets = 0
    while True:
        params = {"maxRecords": 2, **({"locator": locator} if locator else {})}
        answer = client.get(f"{base}/jobs/query/{job['id']}/results", params=params)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
        page = list(csv.DictReader(io.StringIO(answer.text)))
        assert int(answer.headers["Sforce-NumberOfRecords"]) == len(page)
        rows.extend(page)
        sets += 1
        locator = answer.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert sets == 3
    assert {r["Id"] for r in rows} == ids
    assert {r["LogiSense_Sync__c"] for r in rows} == {"true"}

    refused = client.post(
        f"{base}/jobs/query",
        json={"operation": "query", "query": "SELECT Id FROM Account ORDER BY Id"},
    )
    assert refused.status_code == 400 and "ORDER BY" in refused.json()[0]["message"]


def test_adapter_reads_typed_records_from_a_locator(salesforce: Any) -> None:
    ids = sorted(silent_account(salesforce, f"Typed {n}", ParentId=None) for n in range(7))
    settings = sf_settings(salesforce)
    rest = SalesforceClient(
        settings["sf_instance_url"],
        client_id=settings["sf_client_id"],
        client_secret=settings["sf_client_secret"],
        ca_bundle=settings["sf_ca_bundle"],
    )
    bulk = BulkQueryClient(rest, set_size=3, poll_interval_s=0.01)
    job = bulk.start("SELECT Id, Name, ParentId, LogiSense_Sync__c FROM Account")
    bulk.wait(job)
    sets = list(bulk.result_sets(job, "Account"))
    assert [len(s.records) for s in sets] == [3, 3, 1]
    record = sets[0].records[0]
    assert record["LogiSense_Sync__c"] is True and record["ParentId"] is None
    # Resuming at a stored locator reads the remaining sets only, the same records.
    resumed = list(bulk.result_sets(job, "Account", locator=sets[1].locator))
    assert [r["Id"] for s in resumed for r in s.records] == [
        r["Id"] for s in sets[1:] for r in s.records
    ]
    assert sorted(r["Id"] for s in sets for r in s.records) == ids
