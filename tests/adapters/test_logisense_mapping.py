"""The LogiSense mapping file: documented defaults, clear start-up errors, and a deployment's own
names served by the simulator (``--mapping``) and spoken by the adapter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapters.logisense import LogiSenseClient, load_mapping
from adapters.logisense.mapping import DEFAULT_MAPPING, DEFAULT_MAPPING_FILE
from billsync import clients
from billsync.config import Settings
from billsync.errors import ConfigError
from simulators.logisense import LogiSenseSimulator

USER, PASSWORD, CLIENT = "u", "p", "c"

CUSTOM = """
[resources]
account_contact = "Account/ContactLink"
package_frequency = "PackageFrequency"

[account]
usage_invoicer_field = "usageInvoiceAccountId"
extensions_shape = "list"

[contact]
billing_contact_type = "Invoice"
points_field = "points"

[contact.points]
email = "Email Address"
sfdcid = "SalesforceId"

[price_plan]
key_field = "name"
key_format = "SF {sfid}"

[price_plan.item]
recurring_prices = "statusPrices"
"""


def test_the_shipped_file_is_the_documented_defaults() -> None:
    assert load_mapping() == DEFAULT_MAPPING
    assert DEFAULT_MAPPING_FILE.name == "mapping.toml"
    m = DEFAULT_MAPPING
    assert (m.resources.account_parent, m.resources.price_plan) == (
        "Account/Parent",
        "Account/PricePlan",
    )
    assert m.contact.points.sfdcid == "sfdcid" and m.account.sfdcid_extension == "sfdcid"


def test_bad_keys_are_named_at_start_up(tmp_path: Path) -> None:
    bad = tmp_path / "mapping.toml"
    bad.write_text('[contact.points]\nfax = "fax"\n[account]\nextensions_shape = "xml"\n')
    with pytest.raises(ConfigError) as caught:
        load_mapping(bad)
    message = str(caught.value)
    assert "contact.points.fax" in message and "account.extensions_shape" in message
    assert str(bad) in message
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_mapping(_write(tmp_path, "[account"))
    with pytest.raises(ConfigError, match="cannot be read"):
        load_mapping(tmp_path / "missing.toml")


def test_settings_load_the_file_when_the_client_is_built(tmp_path: Path) -> None:
    settings = Settings(
        ls_base_url="http://127.0.0.1:9",
        ls_username=USER,
        ls_password=SecretStr(PASSWORD),
        ls_client_id=CLIENT,
        ls_mapping_file=str(_write(tmp_path, "[server]\nupdate_request_below_version = -1\n")),
    )
    with pytest.raises(ConfigError, match="update_request_below_version"):
        clients.logisense_client(settings)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(text)
    return path


@pytest.fixture
def custom(tmp_path: Path) -> Iterator[tuple[LogiSenseSimulator, LogiSenseClient]]:
    mapping = load_mapping(_write(tmp_path, CUSTOM))
    with (
        LogiSenseSimulator(
            username=USER, password=PASSWORD, client_id=CLIENT, mapping=mapping
        ) as sim,
        LogiSenseClient(
            sim.base_url, username=USER, password=PASSWORD, client_id=CLIENT, mapping=mapping
        ) as client,
    ):
        yield sim, client


def test_a_deployments_names_are_served_and_spoken(
    custom: tuple[LogiSenseSimulator, LogiSenseClient],
) -> None:
    sim, client = custom
    ref = client.reference_data()
    assert ref.contact_types["Invoice"] == 1
    account = client.create_account(
        {
            "name": "Acme",
            "currencyId": 1,
            "accountStatusTypeId": 1,
            "billGroupId": 1,
            "usageInvoicerAccountId": None,  # billsync's name; the wire name is the mapping's
            "extensions": {"sfdcid": "001A"},
        }
    )
    other = client.create_account(
        {"name": "Beta", "currencyId": 1, "accountStatusTypeId": 1, "billGroupId": 1}
    )
    stored = sim.state.tables["Account"][account["identity"]]
    assert stored["extensions"] == [{"name": "sfdcid", "value": "001A"}]
    assert stored["usageInvoiceAccountId"] == account["identity"]
    assert "usageInvoicerAccountId" not in stored
    assert account["usageInvoicerAccountId"] == account["identity"]
    assert client.find_account_by_sfdcid("001A")["identity"] == account["identity"]  # type: ignore[index]

    contact = client.create_contact(
        {
            "contactTypeId": 1,
            "lastName": "Lovelace",
            "points": {"email": "ada@example.com", "sfdcid": "003A"},
            "accountIds": [account["identity"], other["identity"]],
        }
    )
    row = sim.state.tables["Contact"][contact["identity"]]
    names = [
        sim.state.name_of("contact_point_type", p["contactPointTypeId"]) for p in row["points"]
    ]
    assert names == ["Email Address", "SalesforceId"]
    assert len(sim.state.tables["Account/ContactLink"]) == 1
    found = client.find_contact_by_sfdcid("003A")
    assert found is not None and found["accountIds"] == [account["identity"], other["identity"]]

    plan = client.create_price_plan(
        {
            "name": client.price_plan_key("006A"),
            "accountId": account["identity"],
            "packageServicePricePlan": [
                {
                    "packageServiceId": 1,
                    "packageFrequencyId": 1,
                    "packageCurrencyId": 1,
                    "statusPrices": [{"serviceStatusName": "Active", "amount": 5.0}],
                }
            ],
        }
    )
    assert plan["name"] == "SF 006A"
    assert client.find_price_plan(account["identity"], "006A")["identity"] == plan["identity"]  # type: ignore[index]
    packages = client.catalog()
    assert [f.name for f in packages[0].frequencies] == ["1m", "12m"]


def test_update_request_header_where_the_version_needs_it(tmp_path: Path) -> None:
    """Account on v3 (the mapping's per-resource version): PATCH carries UpdateRequest, which
    the simulator requires below v4; other resources on v7 do not."""
    mapping = load_mapping(_write(tmp_path, '[server.versions]\n"Account" = 3\n'))
    with (
        LogiSenseSimulator(username=USER, password=PASSWORD, client_id=CLIENT) as sim,
        LogiSenseClient(
            sim.base_url, username=USER, password=PASSWORD, client_id=CLIENT, mapping=mapping
        ) as client,
    ):
        assert client.session.needs_update_request("Account")
        assert not client.session.needs_update_request("Contact")
        client.update_account(1, {"name": "Renamed on v3"})
        assert sim.state.tables["Account"][1]["name"] == "Renamed on v3"
        routes = sim.stats.as_json()["routes"]
        assert routes["PATCH /ResourceServer/api/v*/Account/{id}"] == 1


def test_one_file_also_holds_the_salesforce_field_map(tmp_path: Path) -> None:
    from statemachine.fieldmap import FieldMap

    path = _write(
        tmp_path,
        '[contact]\nbilling_contact_type = "Invoice"\n'
        '[salesforce.account_extensions]\nRegion__c = "region__c"\n',
    )
    settings = Settings(ls_mapping_file=str(path))
    assert settings.field_map_file == str(path)
    field_map = FieldMap.load(settings.field_map_file)
    assert field_map.account_extensions == {"Region__c": "region__c"}
    assert "Region__c" in field_map.watched("Account")
    assert load_mapping(path).contact.billing_contact_type == "Invoice"
    with pytest.raises(ConfigError, match=r"salesforce\.contact_points"):
        load_mapping(_write(tmp_path, "[salesforce]\ncontact_points = 3\n"))


def test_lookup_without_a_search_filter_pages_and_compares(tmp_path: Path) -> None:
    """An instance whose Search cannot filter on a custom field: billsync pages through the
    accounts and compares the extension itself, still exactly."""
    mapping = load_mapping(_write(tmp_path, '[account]\nsfdcid_search_name = ""\n'))
    with (
        LogiSenseSimulator(username=USER, password=PASSWORD, client_id=CLIENT) as sim,
        LogiSenseClient(
            sim.base_url, username=USER, password=PASSWORD, client_id=CLIENT, mapping=mapping
        ) as client,
    ):
        base = {"currencyId": 1, "accountStatusTypeId": 1, "billGroupId": 1}
        made = client.create_account({**base, "name": "A", "extensions": {"sfdcid": "001X"}})
        client.create_account({**base, "name": "B", "extensions": {"sfdcid": "001x"}})
        found = client.find_account_by_sfdcid("001X")
        assert found is not None and found["identity"] == made["identity"]
        searches = [e for e in sim.stats.log if e["route"].endswith("/Account/Search")]
        assert searches  # paged by identity, no sfdcid filter sent
