"""The SOQL engine of the Salesforce simulator, run over a small in-memory store."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulators.salesforce.soql import QueryableStore, QueryResult, SoqlError, parse, run_query

FIELDS: dict[str, set[str]] = {
    "Account": {
        "Id",
        "IsDeleted",
        "Name",
        "ParentId",
        "Type",
        "AnnualRevenue",
        "CreatedDate",
        "LogiSense_Sync__c",
        "CurrencyIsoCode",
    },
    "Contact": {
        "Id",
        "IsDeleted",
        "AccountId",
        "FirstName",
        "LastName",
        "Email",
        "LogiSense_Sync__c",
        "Birthdate",
    },
    "Opportunity": {"Id", "IsDeleted", "AccountId", "Name", "IsWon", "CloseDate", "Amount"},
    "OpportunityLineItem": {
        "Id",
        "IsDeleted",
        "OpportunityId",
        "Product2Id",
        "Quantity",
        "UnitPrice",
    },
    "Opportunity_Product_Service__c": {
        "Id",
        "IsDeleted",
        "Opportunity_Product__c",
        "Product_Service__c",
        "Quantity__c",
        "Recurring_Price__c",
    },
    "Product2": {"Id", "IsDeleted", "Name", "LogiSense_Package_Id__c"},
    "Product_Service__c": {"Id", "IsDeleted", "Name", "Product__c"},
}
PARENTS: dict[tuple[str, str], tuple[str, str]] = {
    ("Account", "Parent"): ("ParentId", "Account"),
    ("Contact", "Account"): ("AccountId", "Account"),
    ("Opportunity", "Account"): ("AccountId", "Account"),
    ("OpportunityLineItem", "Opportunity"): ("OpportunityId", "Opportunity"),
    ("OpportunityLineItem", "Product2"): ("Product2Id", "Product2"),
    ("Opportunity_Product_Service__c", "Opportunity_Product__r"): (
        "Opportunity_Product__c",
        "OpportunityLineItem",
    ),
    ("Product_Service__c", "Product__r"): ("Product__c", "Product2"),
}
CHILDREN: dict[tuple[str, str], tuple[str, str]] = {
    ("Account", "Contacts"): ("Contact", "AccountId"),
    ("Account", "ChildAccounts"): ("Account", "ParentId"),
    ("Opportunity", "OpportunityLineItems"): ("OpportunityLineItem", "OpportunityId"),
    ("OpportunityLineItem", "Opportunity_Product_Services__r"): (
        "Opportunity_Product_Service__c",
        "Opportunity_Product__c",
    ),
}


class MemoryStore:
    """A queryable store over dicts; relationship names match exactly, as a strict store would."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in FIELDS}

    def add(self, sobject: str, record_id: str, **values: Any) -> dict[str, Any]:
        row: dict[str, Any] = dict.fromkeys(FIELDS[sobject])
        row.update(values, Id=record_id, IsDeleted=values.get("IsDeleted", False))
        self.tables[sobject][record_id] = row
        return row

    def rows(self, sobject: str) -> Iterable[dict[str, Any]]:
        return self.tables[sobject].values()

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        table = self.tables[sobject]
        if (
            len(record_id) == 15
        ):  # a 15-character id names the record whose 18-character id extends it
            return next((row for key, row in table.items() if key[:15] == record_id), None)
        return table.get(record_id)

    def field_names(self, sobject: str) -> set[str] | None:
        return FIELDS.get(sobject)

    def parent_relationship(self, sobject: str, name: str) -> tuple[str, str] | None:
        return PARENTS.get((sobject, name))

    def child_relationship(self, sobject: str, name: str) -> tuple[str, str] | None:
        return CHILDREN.get((sobject, name))


def _now_iso(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@pytest.fixture
def store() -> MemoryStore:
    data = MemoryStore()
    data.add(
        "Account",
        "001A",
        Name="Acme",
        Type="Customer",
        AnnualRevenue=100.5,
        CreatedDate="2024-01-31T10:00:00.000+0000",
        LogiSense_Sync__c=True,
        CurrencyIsoCode="USD",
    )
    data.add(
        "Account",
        "001B",
        Name="Globex",
        ParentId="001A",
        Type="Prospect",
        AnnualRevenue=50,
        CreatedDate="2024-02-01T00:30:00.000+0000",
        LogiSense_Sync__c=False,
        CurrencyIsoCode="EUR",
    )
    data.add(
        "Account",
        "001C",
        Name="Initech",
        ParentId="001B",
        AnnualRevenue=-5,
        CreatedDate=_now_iso(),
        LogiSense_Sync__c=False,
    )
    data.add(
        "Account",
        "001D",
        Name="O'Brien_100%",
        AnnualRevenue=0,
        CreatedDate=_now_iso(-timedelta(days=1)),
        LogiSense_Sync__c=False,
    )
    data.add("Account", "001X", Name="Acme Removed", IsDeleted=True, LogiSense_Sync__c=True)
    data.add(
        "Contact",
        "003A",
        AccountId="001A",
        LastName="Smith",
        Email="s@acme.test",
        LogiSense_Sync__c=True,
        Birthdate="1980-05-17",
    )
    data.add("Contact", "003B", AccountId="001B", LastName="Jones", LogiSense_Sync__c=False)
    data.add("Contact", "003C", LastName="Brown", LogiSense_Sync__c=True)
    data.add("Contact", "003D", AccountId="001A", LastName="Ghost", IsDeleted=True)
    data.add("Contact", "003E", AccountId="001A", LastName="Adams", LogiSense_Sync__c=False)
    data.add(
        "Opportunity",
        "006A",
        AccountId="001A",
        Name="Big deal",
        IsWon=True,
        CloseDate="2024-03-01",
        Amount=1000,
    )
    data.add(
        "Opportunity",
        "006B",
        AccountId="001B",
        Name="Small deal",
        IsWon=False,
        CloseDate="2024-04-15",
        Amount=10.25,
    )
    data.add("Product2", "01tA", Name="Gold", LogiSense_Package_Id__c="PKG-1")
    data.add(
        "OpportunityLineItem",
        "00kA",
        OpportunityId="006A",
        Product2Id="01tA",
        Quantity=2,
        UnitPrice=300,
    )
    data.add(
        "OpportunityLineItem",
        "00kB",
        OpportunityId="006A",
        Product2Id="01tA",
        Quantity=1,
        UnitPrice=400,
    )
    data.add(
        "Opportunity_Product_Service__c",
        "a0A",
        Opportunity_Product__c="00kA",
        Quantity__c=2,
        Recurring_Price__c=150,
    )
    data.add("Product_Service__c", "a1A", Name="Support", Product__c="01tA")
    data.add("Product_Service__c", "a1B", Name="Orphan", Product__c=None)
    return data


def ids(result: QueryResult) -> list[str]:
    return [record["Id"] for record in result.records]


def query_ids(store: QueryableStore, soql: str, **options: Any) -> list[str]:
    return ids(run_query(soql, store, **options))


def error(store: QueryableStore, soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        run_query(soql, store)
    return caught.value


# ---------------------------------------------------------------- shape


def test_records_have_attributes_then_fields_in_select_order(store: MemoryStore) -> None:
    result = run_query("SELECT Name, Id FROM Account WHERE Id = '001A'", store)
    assert result.total_size == 1
    assert result.records == [
        {
            "attributes": {"type": "Account", "url": "/services/data/v59.0/sobjects/Account/001A"},
            "Name": "Acme",
            "Id": "001A",
        }
    ]
    assert list(result.records[0]) == ["attributes", "Name", "Id"]


def test_api_version_shapes_the_url(store: MemoryStore) -> None:
    result = run_query("SELECT Id FROM Account WHERE Id = '001A'", store, api_version="61.0")
    assert result.records[0]["attributes"]["url"] == "/services/data/v61.0/sobjects/Account/001A"


def test_keywords_fields_and_objects_are_case_insensitive(store: MemoryStore) -> None:
    result = run_query("select id, NAME, logisense_sync__C from account where ID = '001A'", store)
    assert result.records[0]["attributes"]["type"] == "Account"
    assert list(result.records[0])[1:] == ["Id", "Name", "LogiSense_Sync__c"]


def test_null_fields_are_returned_as_none(store: MemoryStore) -> None:
    result = run_query("SELECT Type FROM Account WHERE Id = '001C'", store)
    assert result.records[0]["Type"] is None


def test_deleted_rows_only_with_include_deleted(store: MemoryStore) -> None:
    soql = "SELECT Id FROM Account WHERE LogiSense_Sync__c = true"
    assert query_ids(store, soql) == ["001A"]
    assert query_ids(store, soql, include_deleted=True) == ["001A", "001X"]


# ---------------------------------------------------------------- WHERE


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("AnnualRevenue = 50", ["001B"]),
        ("AnnualRevenue != 50", ["001A", "001C", "001D"]),
        ("AnnualRevenue <> 50", ["001A", "001C", "001D"]),
        ("AnnualRevenue < 50", ["001C", "001D"]),
        ("AnnualRevenue <= 50", ["001B", "001C", "001D"]),
        ("AnnualRevenue > 50", ["001A"]),
        ("AnnualRevenue >= 50", ["001A", "001B"]),
        ("AnnualRevenue = 100.5", ["001A"]),
        ("AnnualRevenue = -5", ["001C"]),
        ("AnnualRevenue > -5.5", ["001A", "001B", "001C", "001D"]),
        ("Name = 'acme'", ["001A"]),
        ("Name < 'B'", ["001A"]),
        ("Name IN ('acme', 'GLOBEX', 'nobody')", ["001A", "001B"]),
        ("Name NOT IN ('acme', 'globex')", ["001C", "001D"]),
        ("AnnualRevenue IN (50, 0)", ["001B", "001D"]),
        ("LogiSense_Sync__c = true", ["001A"]),
        ("LogiSense_Sync__c = FALSE", ["001B", "001C", "001D"]),
        ("LogiSense_Sync__c != false", ["001A"]),
    ],
)
def test_comparison_operators(store: MemoryStore, condition: str, expected: list[str]) -> None:
    assert query_ids(store, f"SELECT Id FROM Account WHERE {condition}") == expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("Type = null", ["001C", "001D"]),
        ("Type != null", ["001A", "001B"]),
        ("Type != 'Customer'", ["001B", "001C", "001D"]),
        ("Type NOT IN ('Customer')", ["001B", "001C", "001D"]),
        ("Type IN ('Customer', null)", ["001A", "001C", "001D"]),
        ("Type < 'Z'", ["001A", "001B"]),
        ("NOT Type = 'Customer'", ["001B", "001C", "001D"]),
    ],
)
def test_nulls_follow_soql_rules(store: MemoryStore, condition: str, expected: list[str]) -> None:
    assert query_ids(store, f"SELECT Id FROM Account WHERE {condition}") == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("'a%'", ["001A"]),
        ("'%E%'", ["001A", "001B", "001C", "001D"]),
        ("'_lobex'", ["001B"]),
        ("'glob'", []),
        ("'%\\_100\\%'", ["001D"]),
        ("'o\\'brien%'", ["001D"]),
        ("'%.%'", []),
    ],
)
def test_like(store: MemoryStore, pattern: str, expected: list[str]) -> None:
    assert query_ids(store, f"SELECT Id FROM Account WHERE Name LIKE {pattern}") == expected


def test_and_binds_tighter_than_or_and_parentheses_regroup(store: MemoryStore) -> None:
    loose = "SELECT Id FROM Account WHERE Name = 'Acme' OR Name = 'Globex' AND AnnualRevenue > 60"
    grouped = (
        "SELECT Id FROM Account WHERE (Name = 'Acme' OR Name = 'Globex') AND AnnualRevenue > 60"
    )
    negated = "SELECT Id FROM Account WHERE NOT (Name = 'Acme' OR Name = 'Globex')"
    assert query_ids(store, loose) == ["001A"]
    assert query_ids(store, grouped) == ["001A"]
    assert query_ids(store, negated) == ["001C", "001D"]
    widened = (
        "SELECT Id FROM Account WHERE Name = 'Globex' OR (AnnualRevenue < 1 AND NOT Name LIKE 'O%')"
    )
    assert query_ids(store, widened) == ["001B", "001C"]


def test_string_escapes(store: MemoryStore) -> None:
    store.add("Account", "001E", Name="back\\slash\nline", LogiSense_Sync__c=False)
    assert query_ids(store, "SELECT Id FROM Account WHERE Name = 'O\\'Brien_100%'") == ["001D"]
    assert query_ids(store, "SELECT Id FROM Account WHERE Name = 'back\\\\slash\\nline'") == [
        "001E"
    ]


def test_values_are_data_not_code(store: MemoryStore) -> None:
    hostile = "SELECT Id FROM Account WHERE Name = '__import__(\\'os\\').system(\\'x\\') OR 1=1'"
    assert query_ids(store, hostile) == []
    assert query_ids(store, "SELECT Id FROM Account WHERE Name = 'x\\' OR Name != \\'x'") == []


def test_dates_and_datetimes_compare_as_such(store: MemoryStore) -> None:
    def opportunities(condition: str) -> list[str]:
        return query_ids(store, f"SELECT Id FROM Opportunity WHERE {condition}")

    assert opportunities("CloseDate = 2024-03-01") == ["006A"]
    assert opportunities("CloseDate > 2024-03-01") == ["006B"]
    assert opportunities("CloseDate <= 2024-04-15") == ["006A", "006B"]
    accounts = "SELECT Id FROM Account WHERE CreatedDate {} ORDER BY CreatedDate"
    assert query_ids(store, accounts.format("< 2024-01-31T10:00:01Z")) == ["001A"]
    assert query_ids(store, accounts.format("= 2024-01-31T10:00:00Z")) == ["001A"]
    # 00:30 UTC on Feb 1 is 19:30 on Jan 31 at -05:00: compared as instants, not as text.
    assert query_ids(store, accounts.format("< 2024-01-31T20:00:00-05:00")) == ["001A", "001B"]
    assert query_ids(store, accounts.format("> 2024-02-01T05:00:00+05:30")) == [
        "001B",
        "001D",
        "001C",
    ]
    # A date literal against a datetime field compares the UTC day.
    assert query_ids(store, accounts.format("= 2024-02-01")) == ["001B"]


def test_relative_date_literals(store: MemoryStore) -> None:
    soql = "SELECT Id FROM Account WHERE CreatedDate {} ORDER BY CreatedDate"
    assert query_ids(store, soql.format("= TODAY")) == ["001C"]
    assert query_ids(store, soql.format("= yesterday")) == ["001D"]
    assert query_ids(store, soql.format("< TODAY")) == ["001A", "001B", "001D"]
    assert query_ids(store, soql.format("= LAST_N_DAYS:1")) == ["001D", "001C"]
    assert query_ids(store, soql.format("= LAST_N_DAYS:10")) == ["001D", "001C"]
    assert query_ids(store, soql.format("< LAST_N_DAYS:10")) == ["001A", "001B"]
    assert query_ids(store, soql.format("> TODAY")) == []


# ---------------------------------------------------------------- ORDER BY, LIMIT, OFFSET, COUNT


def test_order_by_keys_directions_and_nulls(store: MemoryStore) -> None:
    def ordered(clause: str) -> list[str]:
        return query_ids(store, f"SELECT Id FROM Account ORDER BY {clause}")

    assert ordered("Name") == ["001A", "001B", "001C", "001D"]
    assert ordered("Name DESC") == ["001D", "001C", "001B", "001A"]
    assert ordered("AnnualRevenue") == ["001C", "001D", "001B", "001A"]
    assert ordered("Type") == ["001C", "001D", "001A", "001B"]
    assert ordered("Type NULLS LAST") == ["001A", "001B", "001C", "001D"]
    assert ordered("Type DESC NULLS LAST") == ["001B", "001A", "001C", "001D"]
    assert ordered("Type ASC NULLS FIRST, Name DESC") == ["001D", "001C", "001A", "001B"]
    assert ordered("LogiSense_Sync__c DESC, AnnualRevenue DESC") == ["001A", "001B", "001D", "001C"]
    assert ordered("Parent.Name NULLS LAST, Name") == ["001B", "001C", "001A", "001D"]


def test_limit_and_offset(store: MemoryStore) -> None:
    assert query_ids(store, "SELECT Id FROM Account ORDER BY Name LIMIT 2") == ["001A", "001B"]
    assert query_ids(store, "SELECT Id FROM Account ORDER BY Name LIMIT 2 OFFSET 1") == [
        "001B",
        "001C",
    ]
    assert query_ids(store, "SELECT Id FROM Account ORDER BY Name OFFSET 3") == ["001D"]
    assert query_ids(store, "SELECT Id FROM Account LIMIT 0") == []


def test_count(store: MemoryStore) -> None:
    assert run_query("SELECT COUNT() FROM Account", store) == QueryResult([], 4)
    counted = run_query("SELECT count() FROM Contact WHERE LogiSense_Sync__c = true", store)
    assert counted == QueryResult([], 2)
    assert run_query("SELECT COUNT() FROM Account LIMIT 3", store).total_size == 3
    assert run_query("SELECT COUNT() FROM Account", store, include_deleted=True).total_size == 5


# ---------------------------------------------------------------- relationships


def test_parent_fields_nest_under_the_relationship(store: MemoryStore) -> None:
    result = run_query(
        "SELECT Id, Account.Name, Account.CurrencyIsoCode, LastName FROM Contact ORDER BY LastName",
        store,
    )
    adams, brown = result.records[0], result.records[1]
    assert adams == {
        "attributes": {"type": "Contact", "url": "/services/data/v59.0/sobjects/Contact/003E"},
        "Id": "003E",
        "Account": {
            "attributes": {"type": "Account", "url": "/services/data/v59.0/sobjects/Account/001A"},
            "Name": "Acme",
            "CurrencyIsoCode": "USD",
        },
        "LastName": "Adams",
    }
    assert brown["Account"] is None
    assert list(adams) == ["attributes", "Id", "Account", "LastName"]


def test_multi_level_parent_paths(store: MemoryStore) -> None:
    result = run_query(
        "SELECT Name, Parent.Name, Parent.Parent.Name FROM Account WHERE Id = '001C'", store
    )
    parent = result.records[0]["Parent"]
    assert parent["Name"] == "Globex"
    assert parent["Parent"]["Name"] == "Acme"
    assert parent["Parent"]["attributes"]["type"] == "Account"
    top = run_query("SELECT Parent.Parent.Name FROM Account WHERE Id = '001B'", store)
    assert top.records[0]["Parent"] == {
        "attributes": {"type": "Account", "url": "/services/data/v59.0/sobjects/Account/001A"},
        "Parent": None,
    }


def test_custom_relationships_and_any_letter_case(store: MemoryStore) -> None:
    result = run_query(
        "SELECT Name, product__r.name, PRODUCT__R.LogiSense_Package_Id__c FROM Product_Service__c "
        "ORDER BY Name",
        store,
    )
    assert result.records[0]["Product__r"] is None
    assert result.records[1]["Product__r"] == {
        "attributes": {"type": "Product2", "url": "/services/data/v59.0/sobjects/Product2/01tA"},
        "Name": "Gold",
        "LogiSense_Package_Id__c": "PKG-1",
    }
    lowered = run_query("SELECT account.name FROM Contact WHERE Id = '003A'", store)
    assert lowered.records[0]["Account"]["Name"] == "Acme"


def test_where_and_order_through_parents(store: MemoryStore) -> None:
    soql = "SELECT Id FROM Contact WHERE Account.Name LIKE 'acme%' ORDER BY LastName DESC"
    assert query_ids(store, soql) == ["003A", "003E"]
    assert query_ids(store, "SELECT Id FROM Contact WHERE Account.Parent.Name = 'Acme'") == ["003B"]
    assert query_ids(store, "SELECT Id FROM Contact WHERE Account.Name = null") == ["003C"]


def test_child_subqueries(store: MemoryStore) -> None:
    result = run_query(
        "SELECT Id, (SELECT Id, Quantity FROM OpportunityLineItems ORDER BY Quantity) "
        "FROM Opportunity ORDER BY Name",
        store,
    )
    big, small = result.records
    assert big["OpportunityLineItems"] == {
        "totalSize": 2,
        "done": True,
        "records": [
            {
                "attributes": {
                    "type": "OpportunityLineItem",
                    "url": "/services/data/v59.0/sobjects/OpportunityLineItem/00kB",
                },
                "Id": "00kB",
                "Quantity": 1,
            },
            {
                "attributes": {
                    "type": "OpportunityLineItem",
                    "url": "/services/data/v59.0/sobjects/OpportunityLineItem/00kA",
                },
                "Id": "00kA",
                "Quantity": 2,
            },
        ],
    }
    assert small["OpportunityLineItems"] is None


def test_child_subquery_filters_limits_and_skips_deleted(store: MemoryStore) -> None:
    soql = (
        "SELECT Name, (SELECT LastName FROM Contacts WHERE LastName != 'Smith' ORDER BY LastName "
        "LIMIT 1) FROM Account WHERE Id IN ('001A', '001C')"
    )
    acme, initech = run_query(soql, store).records
    assert [c["LastName"] for c in acme["Contacts"]["records"]] == ["Adams"]
    assert acme["Contacts"]["totalSize"] == 1
    assert initech["Contacts"] is None
    everything = run_query(
        "SELECT (SELECT Id FROM Contacts ORDER BY Id) FROM Account WHERE Id = '001A'",
        store,
        include_deleted=True,
    )
    assert [c["Id"] for c in everything.records[0]["Contacts"]["records"]] == [
        "003A",
        "003D",
        "003E",
    ]


def test_custom_child_relationship_with_parent_fields(store: MemoryStore) -> None:
    soql = (
        "SELECT Id, Product2.Name, (SELECT Quantity__c, Recurring_Price__c FROM "
        "Opportunity_Product_Services__r) FROM OpportunityLineItem WHERE OpportunityId = '006A' "
        "ORDER BY Id"
    )
    first, second = run_query(soql, store).records
    assert first["Product2"]["Name"] == "Gold"
    services = first["Opportunity_Product_Services__r"]
    assert services["totalSize"] == 1
    assert services["records"][0]["Recurring_Price__c"] == 150
    assert second["Opportunity_Product_Services__r"] is None


def test_nested_child_subqueries(store: MemoryStore) -> None:
    soql = (
        "SELECT Id, (SELECT Id, (SELECT Quantity__c FROM Opportunity_Product_Services__r) "
        "FROM OpportunityLineItems ORDER BY Id) FROM Opportunity WHERE Id = '006A'"
    )
    items = run_query(soql, store).records[0]["OpportunityLineItems"]["records"]
    assert items[0]["Opportunity_Product_Services__r"]["records"][0]["Quantity__c"] == 2
    assert items[1]["Opportunity_Product_Services__r"] is None


def test_semi_join_and_anti_join(store: MemoryStore) -> None:
    synced = "SELECT AccountId FROM Contact WHERE LogiSense_Sync__c = true"
    assert query_ids(store, f"SELECT Id FROM Account WHERE Id IN ({synced})") == ["001A"]
    assert query_ids(store, f"SELECT Id FROM Account WHERE Id NOT IN ({synced})") == [
        "001B",
        "001C",
        "001D",
    ]
    won = (
        "SELECT Id FROM Contact "
        "WHERE AccountId IN (SELECT AccountId FROM Opportunity WHERE IsWon = true)"
    )
    assert query_ids(store, won) == ["003A", "003E"]
    outside = (
        "SELECT Id FROM Contact WHERE AccountId NOT IN (SELECT Id FROM Account WHERE Name = 'Acme')"
    )
    assert query_ids(store, outside) == ["003B", "003C"]
    combined = (
        "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact) AND Name LIKE 'G%'"
    )
    assert query_ids(store, combined) == ["001B"]


# ---------------------------------------------------------------- the Id fast path


def test_id_predicates_respect_every_other_condition(store: MemoryStore) -> None:
    soql = (
        "SELECT Id FROM Account "
        "WHERE Id IN ('001B', '001A', '001X', '001B', 'nope') AND Name != 'Globex'"
    )
    assert query_ids(store, soql) == ["001A"]
    assert query_ids(store, "SELECT Id FROM Account WHERE Id = '001X'") == []
    assert query_ids(store, "SELECT Id FROM Account WHERE Id = '001X'", include_deleted=True) == [
        "001X"
    ]
    assert query_ids(store, "SELECT Id FROM Account WHERE Id = '001a'") == []
    assert query_ids(store, "SELECT Id FROM Account WHERE Id = '001A' OR Name = 'Globex'") == [
        "001A",
        "001B",
    ]
    assert query_ids(store, "SELECT Id FROM Account WHERE Id IN ('001B','001A') ORDER BY Id") == [
        "001A",
        "001B",
    ]


def test_15_and_18_character_ids_are_equal(store: MemoryStore) -> None:
    long_id, short_id = "001000000000042AAQ", "001000000000042"
    store.add("Account", long_id, Name="Hooli", LogiSense_Sync__c=False)
    store.add("Contact", "003F", AccountId=long_id, LastName="Bighead")
    assert query_ids(store, f"SELECT Id FROM Account WHERE Id = '{short_id}'") == [long_id]
    both = f"SELECT Id FROM Account WHERE Id IN ('{short_id}', '{long_id}')"
    assert query_ids(store, both) == [long_id]
    by_lookup = f"SELECT Id FROM Contact WHERE AccountId = '{short_id}'"
    assert query_ids(store, by_lookup) == ["003F"]
    assert query_ids(store, f"SELECT Id FROM Contact WHERE AccountId IN ('{short_id}')") == ["003F"]


def test_lookup_to_a_deleted_parent_reads_as_empty(store: MemoryStore) -> None:
    store.add("Contact", "003G", AccountId="001X", LastName="Orphaned")
    soql = "SELECT Account.Name FROM Contact WHERE Id = '003G'"
    assert run_query(soql, store).records[0]["Account"] is None
    with_deleted = run_query(soql, store, include_deleted=True).records[0]["Account"]
    assert with_deleted["Name"] == "Acme Removed"


def test_parsed_queries_are_cached_by_text() -> None:
    soql = "SELECT Id FROM Account WHERE Name = 'cached'"
    assert parse(soql) is parse(soql)


def test_200_id_lookup_over_10000_rows_takes_a_few_milliseconds() -> None:
    big = MemoryStore()
    for number in range(10_000):
        big.add("Account", f"001{number:015d}", Name=f"Account {number}", AnnualRevenue=number)
    wanted = [f"001{number:015d}" for number in range(0, 10_000, 50)]
    soql = "SELECT Id, Name FROM Account WHERE Id IN ({})".format(
        ", ".join(f"'{record_id}'" for record_id in wanted)
    )
    assert ids(run_query(soql, big)) == wanted
    runs = 20
    started = time.perf_counter()
    for _ in range(runs):
        run_query(soql, big)
    per_query = (time.perf_counter() - started) / runs
    assert per_query < 0.02, f"{per_query * 1000:.1f} ms per query"


# ---------------------------------------------------------------- errors


def test_unknown_field_is_invalid_field_with_salesforce_message(store: MemoryStore) -> None:
    failure = error(store, "SELECT Foo FROM Account")
    assert failure.error_code == "INVALID_FIELD"
    assert str(failure) == (
        "\nSELECT Foo FROM Account\n       ^\nERROR at Row:1:Column:8\nNo such column 'Foo' on "
        "entity 'Account'. If you are attempting to use a custom field, be sure to append the "
        "'__c' after the custom field name. Please reference your WSDL or the describe call for "
        "the appropriate names."
    )


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM Account WHERE Foo = 1",
        "SELECT Id FROM Account ORDER BY Foo",
        "SELECT Account.Foo FROM Contact",
        "SELECT Nope.Name FROM Contact",
        "SELECT Id, (SELECT Foo FROM Contacts) FROM Account",
        "SELECT Id FROM Account WHERE Id IN (SELECT Foo FROM Contact)",
    ],
)
def test_invalid_fields(store: MemoryStore, soql: str) -> None:
    assert error(store, soql).error_code == "INVALID_FIELD"


def test_bad_relationship_message(store: MemoryStore) -> None:
    failure = error(store, "SELECT Id,\n  Nope.Name FROM Contact")
    assert str(failure).startswith("\n  Nope.Name FROM Contact\n  ^\nERROR at Row:2:Column:3\n")
    assert "Didn't understand relationship 'Nope' in field path." in str(failure)


@pytest.mark.parametrize(
    ("soql", "message"),
    [
        ("SELECT Id FROM Foo", "sObject type 'Foo' is not supported."),
        ("SELECT Id FROM Account WHERE Id IN (SELECT Id FROM Bar)", "sObject type 'Bar'"),
        (
            "SELECT Id, (SELECT Id FROM Nopes) FROM Account",
            "Didn't understand relationship 'Nopes'",
        ),
    ],
)
def test_unknown_objects_are_invalid_type(store: MemoryStore, soql: str, message: str) -> None:
    failure = error(store, soql)
    assert failure.error_code == "INVALID_TYPE"
    assert message in str(failure)


def test_unexpected_token_is_malformed(store: MemoryStore) -> None:
    failure = error(store, "SELECT Id FORM Account")
    assert failure.error_code == "MALFORMED_QUERY"
    assert str(failure) == (
        "\nSELECT Id FORM Account\n          ^\nERROR at Row:1:Column:11\nunexpected token: 'FORM'"
    )


@pytest.mark.parametrize(
    ("soql", "detail"),
    [
        ("SELECT Id FROM Account WHERE", "unexpected token: '<EOF>'"),
        ("SELECT FROM Account", "unexpected token: 'Account'"),
        ('SELECT Id FROM Account WHERE Name = "x"', "unexpected token: '\"'"),
        ("SELECT Id FROM Account WHERE Name = 'x", "unexpected token: '''"),
        ("SELECT Id FROM Account WHERE Name IN ()", "unexpected token: ')'"),
        ("SELECT Name (SELECT Id FROM Contacts) FROM Account", "unexpected token: 'SELECT'"),
        ("SELECT Id FROM Account WHERE Name = LAST_NAME", "unexpected token: 'LAST_NAME'"),
        ("SELECT Id FROM Account LAST_NAME", "unexpected token: 'LAST_NAME'"),
        ("SELECT Id FROM Account LIMIT 2.5", "LIMIT must be a non-negative integer"),
        ("SELECT Id FROM Account WHERE Name = 'a\\q'", "illegal escape sequence '\\q'"),
        ("SELECT Id FROM Account WHERE CreatedDate > 2024-02-30", "invalid date"),
        ("SELECT Id, COUNT() FROM Account", "COUNT() must be the only element"),
        ("SELECT Id, (SELECT COUNT() FROM Contacts) FROM Account", "COUNT() must be the only"),
        ("SELECT Id, Name, id FROM Account", "duplicate field selected: id"),
        ("SELECT Id FROM Account WHERE Id IN (SELECT Id, Name FROM Contact)", "exactly one field"),
    ],
)
def test_malformed_queries(store: MemoryStore, soql: str, detail: str) -> None:
    failure = error(store, soql)
    assert failure.error_code == "MALFORMED_QUERY"
    assert detail in str(failure)


@pytest.mark.parametrize(
    ("soql", "feature"),
    [
        ("SELECT Type FROM Account GROUP BY Type", "GROUP BY"),
        ("SELECT SUM(AnnualRevenue) FROM Account", "aggregate function SUM()"),
        ("SELECT MAX(AnnualRevenue) FROM Account", "aggregate function MAX()"),
        ("SELECT COUNT(Id) FROM Account", "aggregate function COUNT(field)"),
        ("SELECT TYPEOF What WHEN Account THEN Name END FROM Task", "TYPEOF"),
        ("SELECT Id FROM Account WITH SECURITY_ENFORCED", "WITH"),
        ("SELECT Id FROM Account LIMIT 1 FOR UPDATE", "FOR UPDATE"),
        ("SELECT Id FROM Account USING SCOPE mine", "USING SCOPE"),
        ("SELECT Id FROM Account WHERE CreatedDate = THIS_MONTH", "date literal THIS_MONTH"),
        ("SELECT Id FROM Account WHERE CreatedDate > LAST_N_WEEKS:2", "date literal LAST_N_WEEKS"),
        ("SELECT Id FROM Account WHERE CreatedDate < N_DAYS_AGO:3", "date literal N_DAYS_AGO"),
        ("SELECT Id FROM Account WHERE CALENDAR_YEAR(CreatedDate) = 2024", "CALENDAR_YEAR()"),
        ("SELECT toLabel(Type) FROM Account", "function TOLABEL()"),
    ],
)
def test_unsupported_features_say_so(store: MemoryStore, soql: str, feature: str) -> None:
    failure = error(store, soql)
    assert failure.error_code == "MALFORMED_QUERY"
    assert str(failure).startswith("not supported by the simulator: ")
    assert feature in str(failure)
