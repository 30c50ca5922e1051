"""Every failure an operator meets is one line on stderr and an exit code (docs/operations.md):
3 for a store, broker, Salesforce or LogiSense that cannot be reached (with the URL, password
hidden, and the root cause), 2 for bad settings, 4 for what does not exist; and a read-only
command never creates a store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from billsync.cli import app

READ_ONLY = [
    ["status", "001000000000001AAA"],
    ["failed"],
    ["entities", "--state", "pending"],
    ["dlq", "list"],
    ["dlq", "show", "1"],
    ["dlq", "purge", "--yes"],
    ["retry", "--all"],
    ["drift"],
    ["merges"],
]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(*args: str, **env: str) -> Result:
    base = {"BILLSYNC_BROKER_URL": "memory://failures", "COLUMNS": "300"}
    return CliRunner().invoke(app, list(args), env={**base, **env})


def _one_line(result: Result) -> str:
    assert "Traceback" not in result.output, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, restore_logging: None) -> Any:
    """Each test runs in an empty directory, so that a store created by mistake is seen."""
    old = os.getcwd()
    os.chdir(tmp_path)
    yield
    os.chdir(old)


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: " ".join(c))
def test_read_only_commands_never_create_a_store(command: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "store.db"
    for url in (f"sqlite:///{missing}", None):
        env = {"BILLSYNC_DATABASE_URL": url} if url else {}
        result = _run(*command, **env)
        assert result.exit_code == 3, result.output
        line = _one_line(result)
        assert "does not exist" in line and "store" in line
    assert list(tmp_path.iterdir()) == [tmp_path / "gone"] or list(tmp_path.iterdir()) == []
    assert not missing.exists() and not (tmp_path / "billsync.db").exists()


def test_queues_without_a_store_shows_the_broker_and_creates_nothing(tmp_path: Path) -> None:
    result = _run("queues", "--json", BILLSYNC_DATABASE_URL=f"sqlite:///{tmp_path}/none.db")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dead_letters_kept"] == 0
    assert not (tmp_path / "none.db").exists()
    down = f"postgresql://u:pw-123@127.0.0.1:{_closed_port()}/x"
    result = _run("queues", "--json", BILLSYNC_DATABASE_URL=down)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dead_letters_kept"] is None
    assert "dead letters kept unknown" in result.stderr and "pw-123" not in result.stderr


def test_unreachable_store_names_the_redacted_url_and_the_cause() -> None:
    port = _closed_port()
    url = f"postgresql://billsync:s3cr3t-pw@127.0.0.1:{port}/billsync"
    salesforce = {
        "BILLSYNC_SF_INSTANCE_URL": f"https://127.0.0.1:{_closed_port()}",
        "BILLSYNC_SF_SESSION_ID": "a-session-id",
    }
    for command in (
        ["failed"],
        ["status", "001000000000001AAA"],
        ["dlq", "list"],
        ["merges"],
        ["backfill", "--dry-run"],
    ):
        result = _run(*command, BILLSYNC_DATABASE_URL=url, **salesforce)
        assert result.exit_code == 3, result.output
        line = _one_line(result)
        assert f"billsync:***@127.0.0.1:{port}/billsync" in line
        assert "s3cr3t-pw" not in result.output
        assert "Connection refused" in line


def test_unreachable_salesforce_names_the_host_and_the_cause() -> None:
    port = _closed_port()
    result = _run(
        "push",
        "opportunity",
        "006000000000001AAA",
        BILLSYNC_SF_INSTANCE_URL=f"https://127.0.0.1:{port}",
        BILLSYNC_SF_SESSION_ID="a-session-id",
    )
    assert result.exit_code == 3, result.output
    line = _one_line(result)
    assert f"https://127.0.0.1:{port}" in line and "Connection refused" in line


def test_backfill_dry_run_without_a_store_creates_none(tmp_path: Path) -> None:
    """No store yet is fine for a preview (every record would be new); it is not created, and
    the Salesforce that cannot be reached is the one line."""
    port = _closed_port()
    result = _run(
        "backfill",
        "--dry-run",
        BILLSYNC_DATABASE_URL=f"sqlite:///{tmp_path}/none.db",
        BILLSYNC_SF_INSTANCE_URL=f"https://127.0.0.1:{port}",
        BILLSYNC_SF_SESSION_ID="a-session-id",
        BILLSYNC_LS_BASE_URL=f"http://127.0.0.1:{_closed_port()}",
        BILLSYNC_LS_USERNAME="u",
        BILLSYNC_LS_PASSWORD="p",
        BILLSYNC_LS_CLIENT_ID="c",
    )
    assert result.exit_code == 3, result.output
    line = _one_line(result)
    assert "127.0.0.1" in line and "Connection refused" in line
    assert list(tmp_path.iterdir()) == []


def test_unreachable_logisense_names_the_host_and_the_cause(tmp_path: Path) -> None:
    from billsync.bootstrap import open_store
    from billsync.config import load_settings

    store = f"sqlite:///{tmp_path}/store.db"
    open_store(load_settings(database_url=store))
    port = _closed_port()
    result = _run(
        "drift",
        BILLSYNC_DATABASE_URL=store,
        BILLSYNC_LS_BASE_URL=f"http://127.0.0.1:{port}",
        BILLSYNC_LS_USERNAME="u",
        BILLSYNC_LS_PASSWORD="p-secret",
        BILLSYNC_LS_CLIENT_ID="c",
    )
    assert result.exit_code == 3, result.output
    line = _one_line(result)
    assert f"http://127.0.0.1:{port}" in line and "Connection refused" in line
    assert "p-secret" not in result.output


def test_unreachable_broker_is_one_line_without_library_noise(tmp_path: Path) -> None:
    """Run as a real process: what pika logs would reach the operator's terminal."""
    from billsync.bootstrap import open_store
    from billsync.config import load_settings

    store = f"sqlite:///{tmp_path}/store.db"
    open_store(load_settings(database_url=store))
    port = _closed_port()
    env = {
        **os.environ,
        "BILLSYNC_DATABASE_URL": store,
        "BILLSYNC_BROKER_URL": f"amqp://guest:hunter2-pw@127.0.0.1:{port}//",
        "BILLSYNC_MANAGEMENT_URL": f"http://guest:hunter2-pw@127.0.0.1:{_closed_port()}",
    }
    for command in (["queues"], ["dlq", "replay", "--all"]):
        done = subprocess.run(
            [sys.executable, "-m", "billsync", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 3 if command == ["queues"] else done.returncode in (0, 3)
        if command == ["queues"]:
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, done.stderr
            assert f"127.0.0.1:{port}" in lines[0] and "Connection refused" in lines[0]
        assert "hunter2-pw" not in done.stderr + done.stdout
        assert "pika" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("setup", "named"),
    [
        ({"config": "missing.toml"}, "missing.toml does not exist"),
        ({"config": "typo.toml", "text": 'databse_url = "sqlite:///x.db"\n'}, "databse_url"),
        ({"config": "broken.toml", "text": "database_url = [\n"}, "not valid TOML"),
        ({"env": {"BILLSYNC_LOG_LEVEL": "LOUD"}}, "BILLSYNC_LOG_LEVEL"),
        ({"env": {"BILLSYNC_LOG_FORMAT": "xml"}}, "BILLSYNC_LOG_FORMAT"),
        ({"env": {"BILLSYNC_WORKER_CONCURRENCY": "many"}}, "BILLSYNC_WORKER_CONCURRENCY"),
        ({"config": "value.toml", "text": 'log_level = "LOUD"\n'}, "BILLSYNC_LOG_LEVEL"),
        ({"env": {"BILLSYNC_DATABASE_URL": "not-a-url"}}, "BILLSYNC_DATABASE_URL"),
        ({"env": {"BILLSYNC_DATABASE_URL": "mysql://u:pw@h/db"}}, "mysql://u:***@h/db"),
    ],
    ids=[
        "missing-file",
        "unknown-key",
        "malformed",
        "level",
        "format",
        "number",
        "file-value",
        "database-url",
        "database-driver",
    ],
)
def test_bad_settings_exit_2_naming_them(setup: dict[str, Any], named: str, tmp_path: Path) -> None:
    args = []
    if "config" in setup:
        path = tmp_path / setup["config"]
        if "text" in setup:
            path.write_text(setup["text"])
        args = ["--config", str(path)]
    result = _run(*args, "failed", **setup.get("env", {}))
    assert result.exit_code == 2, result.output
    assert named in _one_line(result)
    assert not (tmp_path / "billsync.db").exists() and not (tmp_path / "x.db").exists()


def test_missing_config_file_from_the_environment_too(tmp_path: Path) -> None:
    result = _run("failed", BILLSYNC_CONFIG_FILE=str(tmp_path / "nope.toml"))
    assert result.exit_code == 2 and "nope.toml does not exist" in _one_line(result)


def test_version_and_completion() -> None:
    from importlib.metadata import version

    shown = _run("--version")
    assert shown.exit_code == 0 and shown.stdout.strip() == f"billsync {version('billsync')}"
    script = subprocess.run(
        [str(Path(sys.executable).with_name("billsync")), "--show-completion", "bash"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert script.returncode == 0 and "_BILLSYNC_COMPLETE" in script.stdout, script.stderr
    env = {**os.environ, "_BILLSYNC_COMPLETE": "complete_bash", "COMP_WORDS": "billsync dl"}
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("billsync"))],
        env={**env, "COMP_CWORD": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.stdout.split() == ["dlq"]
