"""Shared fixtures for the adapter tests (Salesforce ones are prefixed ``sf_``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from billsync.demo.rep import Rep as DemoRep

SF_CLIENT_ID = "billsync-test-client"
SF_CLIENT_SECRET = "sf-test-secret-7f3a"
SF_LONGPOLL_S = 2.0


class SfAdmin(DemoRep):
    """Talks to a running Salesforce simulator the way a test (or a sales rep) would.

    ``/__sim/*`` admin calls, plus REST writes of objects billsync itself may never write
    (Accounts), made with a token of its own so that they are not billsync's writes.
    """

    def __init__(self, sim: Any) -> None:
        super().__init__(sim, client_id=SF_CLIENT_ID, client_secret=SF_CLIENT_SECRET)

    def stats(self) -> dict[str, Any]:
        """``GET /__sim/stats``."""
        return self.admin("stats")  # type: ignore[no-any-return]

    def faults(self, **knobs: Any) -> None:
        """``POST /__sim/faults``."""
        self.admin("faults", knobs)

    def token(self, fresh: bool = False) -> str:
        """A rep's access token (client credentials); ``fresh``: a new one."""
        if fresh:
            self._token = None
        return super().token()

    def rest(self, method: str, path: str, body: Any = None) -> Any:
        """A REST call as a rep (not billsync): ``path`` under ``/services/data/v59.0/``."""
        url = f"{self.base_url}/services/data/v59.0/{path}"
        for fresh in (False, True):
            headers = {"Authorization": f"Bearer {self.token(fresh)}"}
            response = self.http.request(method, url, json=body, headers=headers, timeout=10)
            if response.status_code != 401:
                break
        response.raise_for_status()
        return response.json() if response.content else None

    def create_account(self, name: str, **fields: Any) -> str:
        """Create an Account as a rep; its id."""
        body = {"Name": name, "CurrencyIsoCode": "USD", **fields}
        return str(self.rest("POST", "sobjects/Account", body)["id"])


@pytest.fixture(scope="session")
def sf_simulator_class() -> Any:
    """The simulator class, or a skip while ``simulators.salesforce`` does not provide it."""
    try:
        from simulators.salesforce import SalesforceSimulator
    except ImportError as exc:
        pytest.skip(f"the Salesforce simulator is not importable yet: {exc}")
    return SalesforceSimulator


@pytest.fixture(scope="module")
def sf_sim(sf_simulator_class: Any) -> Iterator[Any]:
    """One HTTPS Salesforce simulator per test module, with 2-second long polls."""
    sim = sf_simulator_class(
        client_id=SF_CLIENT_ID,
        client_secret=SF_CLIENT_SECRET,
        port=0,
        longpoll_timeout_s=SF_LONGPOLL_S,
    )
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def sf_admin(sf_sim: Any) -> Iterator[SfAdmin]:
    """A reset simulator (data, faults, stats) and a handle on it."""
    admin = SfAdmin(sf_sim)
    admin.admin("reset", {})
    yield admin
    admin.http.close()
