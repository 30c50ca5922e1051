"""``billsync --help`` and shell completion answer at once because the command modules import
nothing heavy until a command runs: this checks that property (the time itself is a machine's
figure: ``time billsync --help``, 0.12 to 0.16 s wall on the shared 2-core machine at load 8)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = {
    "sqlalchemy",
    "alembic",
    "kombu",
    "pika",
    "requests",
    "urllib3",
    "pydantic",
    "pydantic_settings",
    "simple_salesforce",
    "prometheus_client",
    "structlog",
    "adapters",
    "workers",
    "statemachine",
    "simulators",
}


def test_the_cli_imports_nothing_heavy_before_a_command_runs() -> None:
    code = (
        "import json, sys, billsync.cli; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert not loaded & HEAVY, sorted(loaded & HEAVY)


def test_help_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "billsync", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    for command in ("worker", "ingest", "status", "entities", "failed", "retry", "dlq", "queues"):
        assert command in done.stdout, command
