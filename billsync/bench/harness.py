"""The rig the benchmark and the reliability suite run on: every part a separate process.

- a scratch PostgreSQL database (or SQLite file), created, migrated and dropped afterwards, so
  nothing is ever left behind in the server's databases;
- a scratch queue prefix on the broker, its queues deleted afterwards;
- the simulators as ``billsync sim ...`` subprocesses, driven through their ``/__sim/`` routes;
- workers as ``billsync worker`` subprocesses (real processes: on two cores a worker must not
  share one interpreter's lock with the simulators or the producer).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pika
import psutil
import requests

from adapters.broker.publisher import publish_messages
from adapters.broker.topology import Topology
from adapters.broker.urls import pika_parameters
from adapters.store.db import Engine, Session, make_engine, migrate
from adapters.store.scratch import scratch_database
from billsync.errors import TransientError
from billsync.messages import Message

DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"
LS_CREDENTIALS = {"username": "bench", "password": "bench-password", "client_id": "bench"}
SF_CREDENTIALS = {"client_id": "bench", "client_secret": "bench-secret"}
START_TIMEOUT_S = 30.0


T = TypeVar("T")


class RigError(RuntimeError):
    """A part of the rig would not start or answer (not a finding about billsync)."""


def billsync_command() -> list[str]:
    """How to run the ``billsync`` CLI in a subprocess with this interpreter."""
    return [sys.executable, "-c", "from billsync.cli import main; main()"]


def delete_topology(broker_url: str, topology: Topology) -> None:
    """Delete the scratch queues and exchanges (best effort: the broker may be gone)."""
    try:
        connection = pika.BlockingConnection(pika_parameters(broker_url))
    except pika.exceptions.AMQPError:
        return
    try:
        channel = connection.channel()
        for name in topology.queue_names:
            channel.queue_delete(name)
        channel.exchange_delete(topology.exchange_name)
        channel.exchange_delete(topology.dead_letter_exchange_name)
    finally:
        connection.close()


class SimulatorProcess:
    """``billsync sim logisense|salesforce`` in a subprocess, driven over ``/__sim/``."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.workdir = workdir
        self.ca_file = str(workdir / "sf-ca.pem") if kind == "salesforce" else None
        self.base_url = ""
        self._process: subprocess.Popen[str] | None = None
        self._http = requests.Session()
        self._http.trust_env = False

    def start(self) -> SimulatorProcess:
        """Start it and wait for the line with its base URL."""
        arguments = ["sim", self.kind, "--port", "0"]
        if self.kind == "logisense":
            for key, value in LS_CREDENTIALS.items():
                arguments += [f"--{key.replace('_', '-')}", value]
        else:
            arguments += ["--ca-file", str(self.ca_file)]
            for key, value in SF_CREDENTIALS.items():
                arguments += [f"--{key.replace('_', '-')}", value]
        log = open(self.workdir / f"sim-{self.kind}.log", "w")  # noqa: SIM115
        self._process = subprocess.Popen(
            billsync_command() + arguments,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "BILLSYNC_LOG_LEVEL": "WARNING"},
        )
        assert self._process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self._process.stdout.readline()
            if not line and self._process.poll() is not None:
                break
            if line.startswith("http"):
                self.base_url = line.strip()
                self._http.verify = self.ca_file or True
                return self
        raise RigError(f"the {self.kind} simulator did not start (see {log.name})")

    def admin(self, method: str, name: str, body: dict[str, Any] | None = None) -> Any:
        """Call ``/__sim/<name>``."""
        response = self._http.request(
            method, f"{self.base_url}/__sim/{name}", json=body, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def faults(self, **knobs: Any) -> None:
        """Set fault knobs (latency_ms, error_rate, timeout_rate, ...)."""
        self.admin("POST", "faults", knobs)

    def stats(self) -> dict[str, Any]:
        """Request counts."""
        return dict(self.admin("GET", "stats"))

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every record it holds (LogiSense only)."""
        return dict(self.admin("GET", "dump"))

    def stop(self) -> None:
        """SIGTERM, then wait."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


class WorkerProcess:
    """One ``billsync worker`` subprocess (or another long-running command: ``ingest``)."""

    def __init__(
        self,
        env: dict[str, str],
        concurrency: int,
        log_path: Path,
        *,
        command: list[str] | None = None,
        ready_text: bytes = b" running, concurrency",
    ) -> None:
        self.env = env
        self.concurrency = concurrency
        self.log_path = log_path
        self.command = command or ["worker", "--concurrency", str(concurrency)]
        self.ready_text = ready_text
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True) -> WorkerProcess:
        """Start it; with ``wait``, return once it says it is running."""
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [*billsync_command(), *self.command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        log.close()
        if wait:
            self.wait_running()
        return self

    def wait_running(self) -> None:
        """Block until the worker has printed that it runs."""
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.ready_text in self.log_path.read_bytes():
                return
            time.sleep(0.05)
        raise RigError(f"worker did not start (see {self.log_path})")

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        """Still running?"""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to finish, ack or release anything."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (finish what is in hand), then SIGKILL if it does not exit."""
        if not self.alive():
            return
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def rss_bytes(self) -> int:
        """Resident set size now."""
        return int(psutil.Process(self.pid).memory_info().rss)


@dataclass
class Rig:
    """A running system: scratch store and queues, simulators, workers. Use ``open_rig``."""

    broker_url: str
    database_url: str
    topology: Topology
    workdir: Path
    logisense: SimulatorProcess
    salesforce: SimulatorProcess | None
    engine: Engine
    workers: list[WorkerProcess] = field(default_factory=list)

    def worker_env(self, **settings: Any) -> dict[str, str]:
        """The environment of a worker of this rig; ``settings`` override (lease_s=5, ...)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSYNC_")}
        values: dict[str, Any] = {
            "broker_url": self.broker_url,
            "database_url": self.database_url,
            "queue_prefix": self.topology.prefix,
            "ls_base_url": self.logisense.base_url,
            "ls_username": LS_CREDENTIALS["username"],
            "ls_password": LS_CREDENTIALS["password"],
            "ls_client_id": LS_CREDENTIALS["client_id"],
            "log_level": "WARNING",
        }
        if self.salesforce is not None:
            values.update(
                sf_instance_url=self.salesforce.base_url,
                sf_client_id=SF_CREDENTIALS["client_id"],
                sf_client_secret=SF_CREDENTIALS["client_secret"],
                sf_ca_bundle=self.salesforce.ca_file,
            )
        values.update(settings)
        env.update({f"BILLSYNC_{k.upper()}": str(v) for k, v in values.items()})
        return env

    def start_worker(self, concurrency: int = 16, **settings: Any) -> WorkerProcess:
        """Start one more worker and wait until it runs."""
        number = len(self.workers)
        worker = WorkerProcess(
            self.worker_env(**settings), concurrency, self.workdir / f"worker-{number}.log"
        )
        self.workers.append(worker)
        return worker.start()

    def start_ingest(self, **settings: Any) -> WorkerProcess:
        """Start ``billsync ingest`` (the streaming producer) and wait until it listens."""
        ingest = WorkerProcess(
            self.worker_env(**settings),
            0,
            self.workdir / f"ingest-{len(self.workers)}.log",
            command=["ingest"],
            ready_text=b"ingest listening",
        )
        self.workers.append(ingest)
        return ingest.start()

    def stop_workers(self) -> None:
        """Stop every worker."""
        for worker in self.workers:
            worker.stop()
        self.workers.clear()

    def publish(self, messages: Iterable[Message], *, attempts: int = 30) -> int:
        """Enqueue and wait for confirms, retrying while the broker is away."""
        batch = list(messages)
        for attempt in range(attempts):
            try:
                return publish_messages(self.broker_url, self.topology, batch)
            except TransientError:
                if attempt == attempts - 1:
                    raise
                time.sleep(1.0)
        return 0

    def read(self, query: Callable[[Session], T]) -> T:
        """The answer of a read-only store query (``adapters.store.figures``) on the scratch
        store."""
        with Session(self.engine) as session:
            return query(session)


@contextmanager
def open_rig(
    broker_url: str = DEFAULT_BROKER,
    database_url: str = DEFAULT_DATABASE,
    *,
    salesforce: bool = False,
) -> Iterator[Rig]:
    """Scratch database and queues, the simulators started; everything removed on exit."""
    workdir = Path(tempfile.mkdtemp(prefix="billsync-rig-"))
    topology = Topology(prefix=f"billsync-bench-{uuid.uuid4().hex[:8]}")
    with scratch_database(database_url) as scratch_url:
        migrate(scratch_url)
        engine = make_engine(scratch_url, pool_size=2)
        logisense = SimulatorProcess("logisense", workdir)
        sf = SimulatorProcess("salesforce", workdir) if salesforce else None
        rig = Rig(broker_url, scratch_url, topology, workdir, logisense, sf, engine)
        try:
            logisense.start()
            if sf is not None:
                sf.start()
            yield rig
        finally:
            rig.stop_workers()
            logisense.stop()
            if sf is not None:
                sf.stop()
            engine.dispose()
            delete_topology(broker_url, topology)
            if os.environ.get("BILLSYNC_KEEP_RIG_LOGS") is None:
                shutil.rmtree(workdir, ignore_errors=True)
