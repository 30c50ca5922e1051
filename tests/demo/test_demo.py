"""README's first command: the demo runs the whole system to its summary, every entity as
expected (on the embedded default, and switched to RabbitMQ and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from billsync.cli import app


def test_demo_runs_the_whole_system_to_its_summary(backend: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("BILLSYNC_QUEUE_PREFIX", backend.prefix)
    arguments = ["demo", "--timeout", "180"]
    if backend.name != "embedded":
        arguments += ["--broker", backend.broker_url, "--database", backend.database_url]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output[-3000:]
    assert "catalog sync" in result.output
    assert "entities ended as expected" in result.output
    for name in ("Globex Office 3.3", "Late Corp fiber", "Globex mispriced", "Example7"):
        assert name in result.output
