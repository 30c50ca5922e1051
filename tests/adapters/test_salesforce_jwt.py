"""The OAuth 2.0 JWT bearer flow: billsync's Salesforce adapter and the simulator's check.

A test key pair and certificate are made here (as an admin makes them for a Connected App); the
simulator holds the certificate (``--jwt-cert``) and verifies each assertion's RS256 signature,
issuer (client id), subject (username), audience (login URL) and expiry.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from adapters.salesforce.auth import JWT_BEARER, SalesforceAuth
from adapters.salesforce.rest import SalesforceClient
from billsync import clients
from billsync.config import Settings
from billsync.errors import AuthenticationFailed, ConfigError
from simulators.salesforce import SalesforceSimulator
from tests.simulators.test_sim_cli import start_cli, stop_cli

CLIENT_ID = "3MVG9-jwt-consumer-key"
USERNAME = "integration@jwt.example"


def make_key(path: Path) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key


def make_certificate(key: rsa.RSAPrivateKey, path: Path) -> None:
    """A self-signed certificate, as uploaded to a Connected App."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "billsync integration")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("jwt")
    paths = {
        "key": folder / "server.key",
        "cert": folder / "server.crt",
        "other": folder / "other.key",
    }
    make_certificate(make_key(paths["key"]), paths["cert"])
    make_key(paths["other"])
    return paths


@pytest.fixture(scope="module")
def sim(keys: dict[str, Path]) -> Iterator[SalesforceSimulator]:
    with SalesforceSimulator(
        client_id=CLIENT_ID, username=USERNAME, jwt_cert=str(keys["cert"])
    ) as simulator:
        yield simulator


def jwt_client(sim: SalesforceSimulator, key_file: Path, **overrides: str) -> SalesforceClient:
    options = {"client_id": CLIENT_ID, "username": USERNAME, **overrides}
    auth = SalesforceAuth(
        sim.base_url, jwt_key_file=str(key_file), ca_bundle=sim.ca_file, **options
    )
    return SalesforceClient(sim.base_url, auth=auth)


def test_jwt_bearer_login_then_rest_calls(sim: SalesforceSimulator, keys: dict[str, Path]) -> None:
    client = jwt_client(sim, keys["key"])
    assert client.auth.mode == "jwt"
    assert client.query_all("SELECT Id FROM Product2") == []
    assert client.auth.logins == 1


def test_assertions_the_connected_app_must_refuse(
    sim: SalesforceSimulator, keys: dict[str, Path]
) -> None:
    cases = {
        "another key": (keys["other"], {}, "invalid_grant (invalid assertion)"),
        "unknown user": (keys["key"], {"username": "x@y.z"}, "invalid_grant"),
        "unknown app": (keys["key"], {"client_id": "nope"}, "invalid_client_id"),
        "a foreign audience": (
            keys["key"],
            {"login_url": "https://evil.example.com"},
            "audience is invalid",
        ),
    }
    for case, (key_file, overrides, expected) in cases.items():
        with pytest.raises(AuthenticationFailed) as refused:
            jwt_client(sim, key_file, **overrides).query_all("SELECT Id FROM Product2")
        assert expected in str(refused.value), case
        assert "BEGIN" not in str(refused.value)


def test_expired_and_unsigned_assertions_are_refused(
    sim: SalesforceSimulator, keys: dict[str, Path]
) -> None:
    http = requests.Session()
    http.verify, http.trust_env = sim.ca_file, False
    private = serialization.load_pem_private_key(keys["key"].read_bytes(), password=None)
    claims = {"iss": CLIENT_ID, "sub": USERNAME, "aud": "https://login.salesforce.com"}
    expired = jwt.encode({**claims, "exp": 1_000_000_000}, private, algorithm="RS256")
    unsigned = jwt.encode({**claims, "exp": 4_000_000_000}, None, algorithm="none")
    for assertion, description in ((expired, "expired"), (unsigned, "invalid assertion")):
        answer = http.post(
            f"{sim.base_url}/services/oauth2/token",
            data={"grant_type": JWT_BEARER, "assertion": assertion},
        )
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_grant"
        assert description in answer.json()["error_description"]


def test_settings_choose_the_jwt_flow_and_name_what_is_missing(
    sim: SalesforceSimulator, keys: dict[str, Path], tmp_path: Path
) -> None:
    settings = Settings(
        sf_instance_url=sim.base_url,
        sf_client_id=CLIENT_ID,
        sf_username=USERNAME,
        sf_jwt_key_file=str(keys["key"]),
        sf_ca_bundle=sim.ca_file,
    )
    client = clients.salesforce_client(settings)
    assert client.auth.mode == "jwt"
    assert client.query_all("SELECT Id FROM Product2") == []
    with pytest.raises(ConfigError, match="BILLSYNC_SF_USERNAME"):
        SalesforceAuth(sim.base_url, client_id=CLIENT_ID, jwt_key_file=str(keys["key"]))
    missing = jwt_client(sim, tmp_path / "absent.key")
    with pytest.raises(ConfigError, match="BILLSYNC_SF_JWT_KEY_FILE"):
        missing.query_all("SELECT Id FROM Product2")
    ec_key = tmp_path / "ec.key"
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ConfigError, match="RSA"):
        jwt_client(sim, ec_key).query_all("SELECT Id FROM Product2")


def test_simulator_cli_takes_the_certificate(keys: dict[str, Path], tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    process, url = start_cli(
        "salesforce",
        "--port",
        "0",
        "--ca-file",
        str(ca_file),
        "--client-id",
        CLIENT_ID,
        "--username",
        USERNAME,
        "--jwt-cert",
        str(keys["cert"]),
    )
    try:
        auth = SalesforceAuth(
            url,
            client_id=CLIENT_ID,
            username=USERNAME,
            jwt_key_file=str(keys["key"]),
            ca_bundle=str(ca_file),
        )
        assert SalesforceClient(url, auth=auth).query_all("SELECT Id FROM Product2") == []
    finally:
        assert stop_cli(process) == 0
