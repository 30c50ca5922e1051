"""simple-salesforce (the client billsync's adapter is built on) used directly, as its users do.

Its REST calls, its error classes and requests' chunked uploads all behave against the
simulator as against an org.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from simulators.salesforce import SalesforceSimulator
from tests.contract.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
    trusting_session,
)


def chunks(text: str, size: int = 7) -> Iterator[bytes]:
    """A body that requests sends with ``Transfer-Encoding: chunked`` (no Content-Length)."""
    data = text.encode()
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture
def sf(sim: SalesforceSimulator) -> Salesforce:
    """simple-salesforce on a session from a chunked password-grant request."""
    http = trusting_session(sim)
    form = (
        f"grant_type=password&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
        f"&username={USERNAME}&password={PASSWORD}{SECURITY_TOKEN}"
    )
    response = http.post(
        f"{sim.base_url}/services/oauth2/token",
        data=chunks(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 200, response.text
    token = response.json()
    return Salesforce(
        session_id=token["access_token"], instance_url=token["instance_url"], session=http
    )


def test_records_round_trip_through_simple_salesforce(sf: Salesforce) -> None:
    created = sf.Account.create({"Name": "Simple Co", "Type": "Customer"})
    assert created["success"] is True
    sf.Account.update(created["id"], {"Type": None, "Name": "Simple Co Ltd"})
    record = sf.Account.get(created["id"])
    assert record["Name"] == "Simple Co Ltd" and record["Type"] is None
    found = sf.query_all("SELECT Id, Name FROM Account WHERE Name LIKE 'Simple%'")
    assert [r["Id"] for r in found["records"]] == [created["id"]]
    sf.Account.delete(created["id"])
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(created["id"])


def test_errors_map_to_simple_salesforce_exceptions(
    sf: Salesforce, sim: SalesforceSimulator
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.query("SELECT FROM Account")
    assert bad.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    stale = Salesforce(
        session_id="00Dbogus!session", instance_url=sim.base_url, session=trusting_session(sim)
    )
    with pytest.raises(SalesforceExpiredSession):
        stale.query("SELECT Id FROM Account")


def test_chunked_json_bodies_are_read_whole(sf: Salesforce, sim: SalesforceSimulator) -> None:
    http = trusting_session(sim)
    body = '{"Name": "Chunked Co", "Type": "Prospect"}'
    response = http.post(
        f"{sim.base_url}/services/data/v59.0/sobjects/Account",
        data=chunks(body, size=5),
        headers={"Authorization": f"Bearer {sf.session_id}", "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert sf.Account.get(response.json()["id"])["Name"] == "Chunked Co"
