"""``SalesforceSimulator``: the org, its HTTPS server (trustme CA) and the admin routes.

The simulator writes its CA certificate to ``ca_file`` so clients can trust it (simple-salesforce
only speaks https), serves REST, OAuth and CometD on one port, and takes fault injection and
test controls under ``/__sim/``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

import trustme

from simulators.runtime import WILDCARD_HOSTS, FaultInjector, Simulator, SimulatorServer
from simulators.salesforce.app import SalesforceApp, fault_body, route_of
from simulators.salesforce.changes import gap_data
from simulators.salesforce.cometd import CometdServer
from simulators.salesforce.eventbus import EventBus
from simulators.salesforce.existing import seed_accounts
from simulators.salesforce.merge import merge_records
from simulators.salesforce.oauth import SessionRegistry, load_certificate_key
from simulators.salesforce.rest import RestApi
from simulators.salesforce.store import OrgStore
from simulators.salesforce.transaction import ALL_CHANGES_CHANNEL, Transaction
from simulators.salesforce.wire import ApiUsage, BufferedBody, body_limit

DEFAULT_THREADS = 256
DEFAULT_USERNAME = "integration@example.com"
DEFAULT_PASSWORD = "pw"
DEFAULT_SECURITY_TOKEN = "tok"
DEFAULT_MAX_RETAINED = 100_000  # events kept at most, whatever their age (bounds memory)
OVERFLOW_RECORD_ID = "000000000000000AAA"
GAP_TYPES = ("GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE")


class SalesforceSimulator(Simulator):
    """A local Salesforce org over HTTPS: OAuth, REST, SOQL, CDC over CometD, faults.

    ``base_url`` (``https://HOST:PORT``) is also the ``instance_url`` of every token: HOST is the
    first of ``tls_names`` when given, else the bind host (``127.0.0.1`` for a wildcard bind).

    ``store`` is the in-memory org; tests may read it and insert records without change events
    through ``store.insert_raw``. Use as a context manager, or ``start()`` / ``stop()``.

    The Connected App is ``client_id``/``client_secret`` (with ``jwt_cert``, a PEM certificate,
    for the JWT bearer flow); its integration user is ``username``, who logs in with ``password``
    followed by ``security_token``.
    """

    def __init__(
        self,
        client_id: str = "billsync",
        client_secret: str = "s3cret",
        host: str = "127.0.0.1",
        port: int = 0,
        ca_file: str | None = None,
        retention_hours: float = 72.0,
        api_daily_limit: int = 1_000_000,
        longpoll_timeout_s: float = 110.0,
        seed: int = 0,
        *,
        threads: int = DEFAULT_THREADS,
        max_retained_events: int = DEFAULT_MAX_RETAINED,
        tls_names: Sequence[str] = (),
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        security_token: str = DEFAULT_SECURITY_TOKEN,
        jwt_cert: str | None = None,
    ) -> None:
        self.bus = EventBus(
            retention_hours=retention_hours, seed=seed, max_events=max_retained_events
        )
        self.store = OrgStore(seed=seed, bus=self.bus)
        self.usage = ApiUsage(api_daily_limit)
        self.injector = FaultInjector(
            self._placeholder,
            route_of=route_of,
            error_body=fault_body,
            on_reset=self._reset,
            admin=self._admin_routes(),
            seed=seed,
        )
        self.sessions = SessionRegistry(
            client_id,
            client_secret,
            org_id=self.store.org_id,
            user_id=self.store.user_id,
            ttl_s=lambda: self.injector.faults.token_ttl_s,
            seed=seed,
            users={username: password + security_token},
            jwt_key=load_certificate_key(jwt_cert) if jwt_cert else None,
        )
        self.cometd = CometdServer(
            self.bus,
            longpoll_timeout_s=longpoll_timeout_s,
            drop_roll=lambda: self.injector.roll(self.injector.faults.drop_longpoll_rate),
            seed=seed,
        )
        self.rest = RestApi(self.store, usage=self.usage)
        self.injector.app = SalesforceApp(
            rest=self.rest,
            sessions=self.sessions,
            cometd=self.cometd,
            usage=self.usage,
            base_url=lambda: self.base_url,
        )
        self._tls_dir = tempfile.mkdtemp(prefix="sfsim-")
        self.ca_file = ca_file or os.path.join(self._tls_dir, "ca.pem")
        self.tls_names = certificate_names(host, tls_names)
        self._server = SimulatorServer(
            BufferedBody(self.injector, body_limit),
            host=host,
            port=port,
            threads=threads,
            tls=self._make_tls(),
            advertised_host=tls_names[0] if tls_names else None,
        )

    @staticmethod
    def _placeholder(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("simulator app not wired")

    def _make_tls(self) -> tuple[str, str]:
        ca = trustme.CA()
        cert = ca.issue_cert(*self.tls_names)
        ca.cert_pem.write_to_path(self.ca_file)
        cert_file = os.path.join(self._tls_dir, "server.pem")
        key_file = os.path.join(self._tls_dir, "server.key")
        with open(cert_file, "wb") as out:
            for pem in cert.cert_chain_pems:
                out.write(pem.bytes())
        cert.private_key_pem.write_to_path(key_file)
        return cert_file, key_file

    # --- lifecycle ------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop serving (pending long polls are released first)."""
        self.cometd.forget_clients()
        super().stop()

    def new_session(self) -> str:
        """A session id issued without an HTTP round trip (for tests)."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self.sessions.client_id,
            "client_secret": self.sessions.client_secret,
        }
        return str(self.sessions.issue(form, self.base_url)["access_token"])

    # --- admin ----------------------------------------------------------------------------

    def publish_gap(self, sobject: str, record_ids: list[str], change_type: str) -> int:
        """Emit a gap (or overflow) event: header only; its replay id."""
        if change_type not in (*GAP_TYPES, "GAP_OVERFLOW"):
            raise ValueError(f"changeType must be one of {(*GAP_TYPES, 'GAP_OVERFLOW')}")
        obj = self.store.object(sobject)
        with self.store.lock:
            commit = Transaction(self.store, "").commit_info()
            data = gap_data(obj, record_ids, change_type, commit)
            return self.bus.publish((obj.change_event_channel, ALL_CHANGES_CHANNEL), data)

    def _admin_routes(self) -> dict[str, Any]:
        return {
            "cdc/age": lambda body: {"retained": self.bus.age(float(body["hours"]))},
            "cdc/gap": lambda body: {
                "replayId": self.publish_gap(
                    body["object"], list(body.get("ids", [])), body.get("changeType", "GAP_UPDATE")
                )
            },
            "cdc/overflow": lambda body: {
                "replayId": self.publish_gap(body["object"], [OVERFLOW_RECORD_ID], "GAP_OVERFLOW")
            },
            "cdc/events": lambda body: self.bus.retained(body.get("channel")),
            "forget-clients": lambda body: {"forgotten": self.cometd.forget_clients()},
            "undelete": lambda body: {
                "ids": self.store.undelete(body["object"], list(body["ids"]))
            },
            "api-usage": self._api_usage,
            "cdc/entities": self._cdc_entities,
            "seed/accounts": lambda body: seed_accounts(self.store, body),
            "merge": lambda body: merge_records(self.store, body),
        }

    def _cdc_entities(self, body: dict[str, Any]) -> dict[str, list[str]]:
        """Read or change which objects Change Data Capture covers (``selected``, ``remove``)."""
        with self.store.lock:
            if "selected" in body:
                self.store.cdc_entities = {self.store.object(n).name for n in body["selected"]}
            for name in body.get("remove", []):
                self.store.cdc_entities.discard(self.store.object(name).name)
            return {"selected": sorted(self.store.cdc_entities)}

    def _api_usage(self, body: dict[str, Any]) -> dict[str, int]:
        if "used" in body:
            self.usage.used = int(body["used"])
        if "limit" in body:
            self.usage.limit = int(body["limit"])
        return {"used": self.usage.used, "limit": self.usage.limit}

    def _reset(self) -> None:
        self.cometd.forget_clients()
        self.store.reset()
        self.rest.bulk.jobs.clear()
        self.usage.used = 0


def certificate_names(host: str, extra: Sequence[str] = ()) -> list[str]:
    """The names the server certificate covers: localhost, 127.0.0.1, the bind host, ``extra``.

    A wildcard bind address is left out (no client connects to ``0.0.0.0``); names given in
    ``extra`` (what other machines or containers call this host) are added in order.
    """
    names = ["localhost", "127.0.0.1"]
    candidates = [] if host in WILDCARD_HOSTS else [host]
    for name in [*candidates, *extra]:
        if name and name not in names:
            names.append(name)
    return names


def main(
    port: int,
    ca_file: str,
    client_id: str,
    client_secret: str,
    host: str = "127.0.0.1",
    tls_names: Sequence[str] = (),
    *,
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    security_token: str = DEFAULT_SECURITY_TOKEN,
    jwt_cert: str | None = None,
) -> int:
    """``billsync sim salesforce``: print the base URL, serve until SIGTERM, return 0."""
    sim = SalesforceSimulator(
        client_id=client_id,
        client_secret=client_secret,
        host=host,
        port=port,
        ca_file=ca_file,
        tls_names=tls_names,
        username=username,
        password=password,
        security_token=security_token,
        jwt_cert=jwt_cert,
    )
    return sim.serve_until_signal()
