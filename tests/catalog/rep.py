"""The sales rep of the demo, with the test suite's credentials, and billsync's own Salesforce
client for the same simulated org."""

from __future__ import annotations

from typing import Any

from adapters.salesforce.rest import SalesforceClient
from billsync.demo.rep import Line, Service
from billsync.demo.rep import Rep as DemoRep
from tests.conftest import SF_CLIENT, SF_SECRET

__all__ = ["Line", "Rep", "Service", "salesforce_client"]


class Rep(DemoRep):
    """A rep logged in with the tests' client credentials."""

    def __init__(self, sim: Any) -> None:
        super().__init__(sim, client_id=SF_CLIENT, client_secret=SF_SECRET)


def salesforce_client(sim: Any) -> SalesforceClient:
    """billsync's client for the simulated org (client credentials, the simulator's CA)."""
    return SalesforceClient(
        sim.base_url, client_id=SF_CLIENT, client_secret=SF_SECRET, ca_bundle=sim.ca_file
    )
