"""Outbound proxies are honoured for Salesforce and LogiSense, though the adapters ignore the
environment (``trust_env = False``, urllib3 for LogiSense): a local forward proxy sees the
traffic."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.proxies import bypassed, proxy_for
from billsync import clients
from billsync.config import load_settings
from billsync.errors import TransientError
from tests.conftest import LS_CLIENT, LS_PASSWORD, LS_USER
from tests.deploy.connect_proxy import ProxyServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def proxy() -> Any:
    with ProxyServer() as server:
        yield server


def sf_settings(env: dict[str, str], **overrides: Any) -> Any:
    return load_settings(
        sf_instance_url=env["BILLSYNC_SF_INSTANCE_URL"],
        sf_client_id=env["BILLSYNC_SF_CLIENT_ID"],
        sf_client_secret=env["BILLSYNC_SF_CLIENT_SECRET"],
        sf_ca_bundle=env["BILLSYNC_SF_CA_BUNDLE"],
        **overrides,
    )


def test_https_proxy_carries_salesforce_login_and_rest_through_connect(
    env: dict[str, str], proxy: ProxyServer
) -> None:
    client = clients.salesforce_client(sf_settings(env, https_proxy=proxy.url))
    assert client.query_all("SELECT Id FROM Pricebook2")  # the standard price book
    host = env["BILLSYNC_SF_INSTANCE_URL"].removeprefix("https://")
    assert proxy.seen and all(seen == f"CONNECT {host}" for seen in proxy.seen)
    assert client.auth.logins == 1  # the login went through the same proxy


def test_no_proxy_sends_salesforce_direct(env: dict[str, str], proxy: ProxyServer) -> None:
    settings = sf_settings(env, https_proxy=proxy.url, no_proxy="localhost,127.0.0.1")
    client = clients.salesforce_client(settings)
    assert client.query_all("SELECT Id FROM Pricebook2")
    assert proxy.seen == []


def test_billsync_sf_proxy_wins_over_no_proxy(env: dict[str, str], proxy: ProxyServer) -> None:
    settings = sf_settings(env, sf_proxy=proxy.url, no_proxy="*")
    clients.salesforce_client(settings).query_all("SELECT Id FROM Pricebook2")
    assert proxy.seen


def test_billsync_ls_proxy_carries_logisense_traffic(
    env: dict[str, str], proxy: ProxyServer
) -> None:
    settings = load_settings(
        ls_base_url=env["BILLSYNC_LS_BASE_URL"],
        ls_username=env["BILLSYNC_LS_USERNAME"],
        ls_password=env["BILLSYNC_LS_PASSWORD"],
        ls_client_id=env["BILLSYNC_LS_CLIENT_ID"],
        ls_proxy=proxy.url,
    )
    with clients.logisense_client(settings) as client:
        assert client.reference_data().currencies
    base = env["BILLSYNC_LS_BASE_URL"]
    assert any(seen.startswith(f"POST {base}/") and "Access/Login" in seen for seen in proxy.seen)
    assert all(base in seen for seen in proxy.seen)


@pytest.fixture(scope="module")
def tls_logisense(tmp_path_factory: Any) -> Any:
    """A LogiSense simulator over HTTPS, and the file of the CA of its own that signed its
    certificate."""
    import trustme

    from simulators.logisense import LogiSenseSimulator

    folder = tmp_path_factory.mktemp("ls-tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
    cert.private_key_pem.write_to_path(str(folder / "server.key"))
    tls = (str(folder / "server.pem"), str(folder / "server.key"))
    with LogiSenseSimulator(LS_USER, LS_PASSWORD, LS_CLIENT, tls=tls) as sim:
        yield sim, str(folder / "ca.pem")


def ls_tls_settings(sim: Any, **overrides: Any) -> Any:
    return load_settings(
        ls_base_url=sim.base_url,
        ls_username=LS_USER,
        ls_password=LS_PASSWORD,
        ls_client_id=LS_CLIENT,
        **overrides,
    )


def test_logisense_trusts_its_own_ca_bundle(tls_logisense: Any) -> None:
    sim, ca_file = tls_logisense
    assert sim.base_url.startswith("https://")
    settings = ls_tls_settings(sim, ls_ca_bundle=ca_file)
    with clients.logisense_client(settings) as client:
        assert client.reference_data().currencies


def test_logisense_refuses_a_certificate_from_an_unknown_ca(
    tls_logisense: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the bundle the private CA is not trusted, whatever the environment says."""
    sim, ca_file = tls_logisense
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    before = sim.stats.as_json()["requests_total"]
    client = clients.logisense_client(ls_tls_settings(sim))
    with pytest.raises(TransientError, match="TLS failed on the login request"):
        client.reference_data()
    assert sim.stats.as_json()["requests_total"] == before


@pytest.mark.parametrize(
    ("url", "no_proxy", "expected"),
    [
        ("https://acme.my.salesforce.com", None, "http://proxy:3128"),
        ("https://acme.my.salesforce.com", "salesforce.com", None),
        ("https://acme.my.salesforce.com", ".my.salesforce.com", None),
        ("https://acme.my.salesforce.com", "force.com,example.org", "http://proxy:3128"),
        ("https://10.1.2.3:8443", "10.0.0.0/8", None),
        ("https://10.1.2.3:8443", "10.1.2.3:9000", "http://proxy:3128"),
        ("https://10.1.2.3:8443", "10.1.2.3:8443", None),
        ("https://billing.internal", "*", None),
    ],
)
def test_no_proxy_rules(url: str, no_proxy: str | None, expected: str | None) -> None:
    assert proxy_for(url, https_proxy="http://proxy:3128", no_proxy=no_proxy) == expected


def test_bypass_needs_a_whole_label() -> None:
    assert not bypassed("notsalesforce.com", None, "salesforce.com")
