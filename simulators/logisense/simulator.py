"""``LogiSenseSimulator``: the app, its data, tokens and fault injection on a cheroot server."""

from __future__ import annotations

import time
from typing import Any

from adapters.logisense.mapping import DEFAULT_MAPPING, LogiSenseMapping
from simulators.runtime import FaultInjector, Simulator, SimulatorServer, Stats

from .app import LogiSenseApp, fault_body, route_name
from .state import LogiSenseState
from .tokens import TokenAuthority

READ_ONLY_POSTS = ("/Search", "/Access/Login")


class LogiSenseStats(Stats):
    """Stats where only data changes count as writes (a login or a search is a read-only POST)."""

    def record(self, method: str, route: str, status: int) -> None:
        """Count one served request; ``writes_total`` only for create/update/patch/delete."""
        if route.endswith(READ_ONLY_POSTS):
            with self.lock:
                self.requests_total += 1
                self.routes[f"{method} {route}"] += 1
                entry = {"method": method, "route": route, "status": status, "t": time.time()}
                self.log.append(entry)
            return
        super().record(method, route, status)


class LogiSenseSimulator(Simulator):
    """A local, in-memory LogiSense Billing REST API (Authorization and Resource servers).

    Both servers live under one ``base_url``, as on a real LogiSense host, so ``base_url`` is what
    ``BILLSYNC_LS_BASE_URL`` takes. Only the given credentials log in. ``tls`` (certificate and
    key files) serves HTTPS instead of HTTP.
    """

    def __init__(
        self,
        username: str = "billsync",
        password: str = "pw",
        client_id: str = "billsync",
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        threads: int = 64,
        mapping: LogiSenseMapping = DEFAULT_MAPPING,
        unique_sfdcid: bool = False,
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.state = LogiSenseState(mapping, unique_sfdcid=unique_sfdcid)
        self.tokens = TokenAuthority()
        app = LogiSenseApp(
            self.state,
            self.tokens,
            (username, password, client_id),
            token_ttl=lambda: self.faults.token_ttl_s,
        )
        self.injector = FaultInjector(
            app,
            route_of=route_name,
            error_body=fault_body,
            on_reset=self.state.reset,
            admin={
                "dump": lambda body: self.state.dump(),
                "expire_tokens": self._expire_tokens,
                "patch": self._admin_patch,
            },
            seed=seed,
        )
        self.injector.stats = LogiSenseStats()
        self._server = SimulatorServer(
            self.injector, host=host, port=port, threads=threads, tls=tls
        )

    def _expire_tokens(self, body: dict[str, Any]) -> dict[str, Any]:
        self.tokens.expire_all()
        return {"expired": True}

    def _admin_patch(self, body: dict[str, Any]) -> dict[str, Any]:
        """Change stored fields directly, with no rule and no API count (drift in tests)."""
        path, identity, fields = body["resource"], int(body["identity"]), body["fields"]
        if path not in self.state.schema.by_path or not isinstance(fields, dict):
            raise ValueError(f"unknown resource {path!r} or fields not an object")
        with self.state.lock:
            record = self.state.get(path, identity)
            if record is None:
                raise KeyError(f"{path} {identity} does not exist")
            self.state.replace(path, identity, {**record, **fields, "identity": identity})
            return self.state.render(path, self.state.tables[path][identity])


def main(
    port: int,
    username: str,
    password: str,
    client_id: str,
    host: str = "127.0.0.1",
    mapping: LogiSenseMapping = DEFAULT_MAPPING,
    unique_sfdcid: bool = False,
) -> int:
    """``billsync sim logisense``: print the base URL, serve until SIGTERM, return 0."""
    sim = LogiSenseSimulator(
        username=username,
        password=password,
        client_id=client_id,
        host=host,
        port=port,
        mapping=mapping,
        unique_sfdcid=unique_sfdcid,
    )
    return sim.serve_until_signal()


__all__ = ["LogiSenseSimulator", "main"]
