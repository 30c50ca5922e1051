"""What the Salesforce catalog mirror holds now: a handful of SOQL reads, one per object.

The catalog sync compares this with what LogiSense says (``catalog_mirror``) and writes only the
difference, so a run with nothing changed makes no write at all (issue 5, acceptance 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.salesforce.rest import SalesforceClient
from billsync.errors import PermanentError
from workers.catalog.mirror import (
    PACKAGE_SERVICE_ID,
    PRICE_FIELDS,
    PRODUCT_FIELDS,
    PRODUCT_KEY,
    REFERENCE_KEY,
    SERVICE_KEY,
    STATE_PRICES,
)

ACTIVE_FLAG = "IsActive__c"


def soql_string(value: str) -> str:
    """A SOQL string literal (quotes and backslashes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class MirrorState:
    """The current Salesforce mirror, keyed the way the desired one is."""

    standard_pricebook_id: str | None = None
    pricebook: dict[str, Any] | None = None
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    entries: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    references: dict[str, dict[str, Any]] = field(default_factory=dict)
    active_flags: dict[str, bool] = field(default_factory=dict)
    queries: int = 0


class MirrorReader:
    """Reads the mirror; remembers whether the custom objects carry an ``IsActive__c`` flag.

    ``Product_Service__c`` and ``LogiSense_Reference__c`` have no standard active flag; an org
    that adds ``IsActive__c`` gets deactivation there too. Whether it exists is learnt once per
    reader from the first query (an unknown field is refused), not on every run.
    """

    def __init__(self, salesforce: SalesforceClient, pricebook_name: str) -> None:
        self.salesforce = salesforce
        self.pricebook_name = pricebook_name
        self._flags: dict[str, bool] = {}

    def read(self) -> MirrorState:
        """Every mirrored record billsync owns, in five or six queries."""
        state = MirrorState()
        self._pricebooks(state)
        for row in self._query(state, "Product2", list(PRODUCT_FIELDS), PRODUCT_KEY):
            if row.get(PRODUCT_KEY):
                state.products[str(row[PRODUCT_KEY])] = row
        service_fields = ["Name", "Product__c", PACKAGE_SERVICE_ID, *PRICE_FIELDS, STATE_PRICES]
        for row in self._flagged(state, "Product_Service__c", service_fields, SERVICE_KEY):
            if row.get(SERVICE_KEY):
                state.services[str(row[SERVICE_KEY])] = row
        references = ["Name", "Type__c"]
        for row in self._flagged(state, "LogiSense_Reference__c", references, REFERENCE_KEY):
            if row.get(REFERENCE_KEY):
                state.references[str(row[REFERENCE_KEY])] = row
        self._entries(state)
        return state

    def _pricebooks(self, state: MirrorState) -> None:
        soql = (
            "SELECT Id, Name, IsActive, IsStandard FROM Pricebook2 "
            f"WHERE IsStandard = true OR Name = {soql_string(self.pricebook_name)}"
        )
        state.queries += 1
        for row in self.salesforce.query_all(soql):
            if row.get("IsStandard"):
                state.standard_pricebook_id = row["Id"]
            elif row.get("Name") == self.pricebook_name and state.pricebook is None:
                state.pricebook = row

    def _entries(self, state: MirrorState) -> None:
        books = [b for b in (state.standard_pricebook_id, (state.pricebook or {}).get("Id")) if b]
        if not books:
            return
        in_list = ", ".join(soql_string(b) for b in books)
        soql = (
            "SELECT Id, Pricebook2Id, Product2Id, CurrencyIsoCode, UnitPrice, IsActive "
            f"FROM PricebookEntry WHERE Pricebook2Id IN ({in_list}) "
            f"AND Product2.{PRODUCT_KEY} != null"
        )
        state.queries += 1
        for row in self.salesforce.query_all(soql):
            key = (row["Pricebook2Id"], row["Product2Id"], row["CurrencyIsoCode"])
            state.entries[key] = row

    def _query(
        self, state: MirrorState, sobject: str, fields: list[str], key: str
    ) -> list[dict[str, Any]]:
        """Only billsync's records: those with the external id ``key`` set."""
        state.queries += 1
        select = ", ".join(["Id", key, *fields])
        return self.salesforce.query_all(f"SELECT {select} FROM {sobject} WHERE {key} != null")

    def _flagged(
        self, state: MirrorState, sobject: str, fields: list[str], key: str
    ) -> list[dict[str, Any]]:
        if self._flags.get(sobject, True):
            try:
                rows = self._query(state, sobject, [*fields, ACTIVE_FLAG], key)
                self._flags[sobject] = True
                state.active_flags[sobject] = True
                return rows
            except PermanentError:
                if sobject in self._flags:
                    raise
                self._flags[sobject] = False
        state.active_flags[sobject] = False
        return self._query(state, sobject, fields, key)
