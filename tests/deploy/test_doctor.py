"""``billsync doctor`` against the simulators: every check passes on a good deployment, and each
broken part is named with its fix and a non-zero exit."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from typer.testing import CliRunner

from billsync import clients
from billsync.cli import app
from tests.conftest import _delete_queues
from tests.deploy.conftest import sf_admin

pytestmark = pytest.mark.timeout(120)


def doctor(env: dict[str, str], *args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, ["doctor", *args], env=env)
    if "--json" in args:
        return result.exit_code, json.loads(result.stdout)
    return result.exit_code, result.stdout


def failing(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"] if not c["passed"]}


def test_every_check_passes_on_the_simulators(env: dict[str, str]) -> None:
    code, report = doctor(env, "--json")
    assert failing(report) == {}
    assert code == 0 and report["passed"] is True
    names = {c["name"] for c in report["checks"]}
    for name in (
        "salesforce.login",
        "salesforce.api_version",
        "salesforce.object.Account",
        "salesforce.object.Opportunity_Product_Service__c",
        "salesforce.object.LogiSense_Sync_Request__e",
        "salesforce.permissions",
        "salesforce.cdc",
        "salesforce.api_limit",
        "logisense.login",
        "logisense.reference_data",
        "logisense.sfdcid",
        "broker.connection",
        "broker.queues",
        "store.migrations",
        "clock",
    ):
        assert name in names


def test_against_rabbitmq_the_queues_are_declared_and_checked(
    env: dict[str, str], rabbitmq_url: str
) -> None:
    env = {**env, "BILLSYNC_BROKER_URL": rabbitmq_url}
    try:
        code, report = doctor(env, "--json")
    finally:
        _delete_queues(rabbitmq_url, env["BILLSYNC_QUEUE_PREFIX"])
    assert failing(report) == {}
    assert code == 0
    queues = next(c for c in report["checks"] if c["name"] == "broker.queues")
    assert f"{env['BILLSYNC_QUEUE_PREFIX']}.changes" in queues["detail"]


def test_a_missing_custom_field_is_named_with_the_deploy_command(
    env: dict[str, str], sf_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sf_sim.store.schema["Account"].fields, "LogiSense_Bill_Group__c")
    code, report = doctor(env, "--json")
    assert code == 1 and report["passed"] is False
    failed = failing(report)
    assert list(failed) == ["salesforce.object.Account"]
    assert (
        "Account.LogiSense_Bill_Group__c is missing"
        in failed["salesforce.object.Account"]["detail"]
    )
    assert "sf project deploy start" in failed["salesforce.object.Account"]["fix"]


def test_cdc_off_for_contact_is_named(env: dict[str, str], sf_sim: Any) -> None:
    sf_admin(sf_sim, "cdc/entities", {"remove": ["Contact"]})
    try:
        code, text = doctor(env)
    finally:
        everything = [n for n, o in sf_sim.store.schema.items() if not o.platform_event]
        sf_admin(sf_sim, "cdc/entities", {"selected": everything})
    assert code == 1
    assert "FAIL salesforce.cdc: Change Data Capture is off for Contact" in text
    assert "fix: select the object in Setup > Change Data Capture" in text
    assert "failing: salesforce.cdc" in text


def test_a_wrong_logisense_password_is_named_and_not_printed(env: dict[str, str]) -> None:
    wrong = "Wrong-Pass-9921"
    code, report = doctor({**env, "BILLSYNC_LS_PASSWORD": wrong}, "--json")
    assert code == 1
    failed = failing(report)
    assert list(failed) == ["logisense.login"]
    assert "BILLSYNC_LS_PASSWORD" in failed["logisense.login"]["fix"]
    assert wrong not in json.dumps(report)


def test_an_unreachable_broker_is_named(env: dict[str, str]) -> None:
    down = "amqp://guest:guest@127.0.0.1:1//"
    code, report = doctor({**env, "BILLSYNC_BROKER_URL": down}, "--json")
    assert code == 1
    failed = failing(report)
    assert list(failed) == ["broker.connection"]
    assert "start RabbitMQ" in failed["broker.connection"]["fix"]
    assert "guest:guest" not in failed["broker.connection"]["detail"]


def test_a_spent_api_limit_is_reported_as_a_wait(env: dict[str, str], sf_sim: Any) -> None:
    sf_admin(sf_sim, "api-usage", {"used": 10**9})
    try:
        code, report = doctor(env, "--json")
    finally:
        sf_admin(sf_sim, "api-usage", {"used": 0})
    assert code == 1
    failed = failing(report)
    assert "salesforce.login" not in failed
    limit = failed["salesforce.api_limit"]
    assert "REQUEST_LIMIT_EXCEEDED" in limit["detail"] and "never fail" in limit["detail"]


def test_queues_shows_the_salesforce_api_usage(env: dict[str, str], sf_sim: Any) -> None:
    sf_admin(sf_sim, "api-usage", {"used": 900, "limit": 1000})
    try:
        result = CliRunner().invoke(app, ["queues"], env=env)
        as_json = CliRunner().invoke(app, ["queues", "--json"], env=env)
    finally:
        sf_admin(sf_sim, "api-usage", {"used": 0, "limit": 1_000_000})
    assert result.exit_code == 0, result.output
    assert "Salesforce daily API requests: 901 of 1,000 (90%)" in result.stdout
    assert "backfill, drift and re-reads are slowed" in result.stdout
    usage = json.loads(as_json.stdout)["salesforce_api"]
    assert usage["used"] == 902 and usage["limit"] == 1000


def test_a_store_without_its_migrations_is_named(env: dict[str, str], tmp_path: Any) -> None:
    missing = tmp_path / "nowhere.db"
    code, report = doctor({**env, "BILLSYNC_DATABASE_URL": f"sqlite:///{missing}"}, "--json")
    assert code == 1
    failed = failing(report)
    assert list(failed) == ["store.migrations"]
    assert "no store file" in failed["store.migrations"]["detail"]
    assert not missing.exists()  # the doctor does not create it

    sqlite3.connect(missing).close()  # an empty database: no schema yet
    code, report = doctor({**env, "BILLSYNC_DATABASE_URL": f"sqlite:///{missing}"}, "--json")
    assert "no schema" in failing(report)["store.migrations"]["detail"]
    assert "start one billsync worker" in failing(report)["store.migrations"]["fix"]


def test_missing_access_is_named_by_the_permissions_check(env: dict[str, str]) -> None:
    from billsync.config import load_settings
    from billsync.doctor.salesforce import _permissions
    from billsync.org_metadata import default_source, load

    settings = load_settings(
        sf_instance_url=env["BILLSYNC_SF_INSTANCE_URL"],
        sf_client_id=env["BILLSYNC_SF_CLIENT_ID"],
        sf_client_secret=env["BILLSYNC_SF_CLIENT_SECRET"],
        sf_ca_bundle=env["BILLSYNC_SF_CA_BUNDLE"],
    )
    client = clients.salesforce_client(settings)
    describes = {name: client.describe(name) for name in ("Account", "Product_Service__c")}
    metadata = load(default_source())
    (warned,) = _permissions(metadata, describes)
    assert warned.status == "warn" and "may also edit Account" in warned.detail

    describes["Account"]["queryable"] = False  # what a user without read on Account sees
    for field in describes["Product_Service__c"]["fields"]:
        if field["name"] == "Recurring_Price__c":
            field["updateable"] = False  # read-only field-level security
    (failed,) = _permissions(metadata, describes)
    assert failed.status == "fail"
    assert "cannot read Account" in failed.detail
    assert "cannot edit Product_Service__c.Recurring_Price__c" in failed.detail
    assert "billsync_Integration" in failed.fix


def test_a_line_shows_its_mark_and_prints_org_data_as_it_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from billsync.cli.doctor import print_result
    from billsync.doctor.report import fail, ok

    print_result(ok("salesforce.login", "logged in"))
    print_result(fail("salesforce.object.Account", "Evil [/bold] Corp [red]x", "deploy [b]it"))
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "ok   salesforce.login: logged in",
        "FAIL salesforce.object.Account: Evil [/bold] Corp [red]x",
        "     fix: deploy [b]it",
    ]
