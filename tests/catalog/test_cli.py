"""``billsync catalog sync`` from the command line: the table, ``--json``, exit codes."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from billsync.cli import app
from tests.catalog.rep import Rep
from tests.conftest import logisense_env, salesforce_env


def _env(logisense: Any, sf_sim: Any) -> dict[str, str]:
    return {**logisense_env(logisense), **salesforce_env(sf_sim)}


def test_table_then_json_with_nothing_written(logisense: Any, sf_sim: Any, rep: Rep) -> None:
    runner = CliRunner()
    env = _env(logisense, sf_sim)
    first = runner.invoke(app, ["catalog", "sync"], env=env)
    assert first.exit_code == 0, first.output
    assert "189 records written" in first.output
    assert "PricebookEntry" in first.output and "deactivated" in first.output
    writes = rep.writes()
    second = runner.invoke(app, ["catalog", "sync", "--json"], env=env)
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert report["written"] == 0 and report["ok"] is True
    assert report["objects"]["Product2"]["unchanged"] == 24
    assert rep.writes() == writes


def test_missing_salesforce_configuration_is_a_usage_error(logisense: Any, sf_sim: Any) -> None:
    env = {**_env(logisense, sf_sim), "BILLSYNC_SF_INSTANCE_URL": ""}
    result = CliRunner().invoke(app, ["catalog", "sync"], env=env)
    assert result.exit_code == 2
    assert "BILLSYNC_SF_INSTANCE_URL" in result.output
