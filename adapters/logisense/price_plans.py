"""Account Price Plans, and how billsync finds an opportunity's plan again.

A documented ``Account/PricePlan`` carries no ``sfdcid`` and no currency (prices are in the
account's currency). billsync writes a marker text into one documented field (``description``
by default: "Salesforce opportunity 006...") and finds the plan again by its account and that
exact text; the store's id map is tried first, so the search only runs before a first create.
"""

from __future__ import annotations

from typing import Any

from .accounts import exact_one
from .mapping import LogiSenseMapping
from .records import RecordResource
from .session import LogiSenseSession


class PricePlanRecords:
    """Find (by account and marker), create, change and read account price plans."""

    def __init__(self, session: LogiSenseSession, mapping: LogiSenseMapping) -> None:
        self.mapping = mapping
        self.resource = RecordResource(session, mapping.resources.price_plan, "price plan")

    def key(self, sfid: str) -> str:
        """The marker text of opportunity ``sfid``'s plan."""
        return self.mapping.price_plan.key(sfid)

    def find(self, account_id: int, sfid: str) -> dict[str, Any] | None:
        """The one plan of ``account_id`` marked with opportunity ``sfid`` (exact text)."""
        field = self.mapping.price_plan.key_field
        marker = self.key(sfid)
        plans = self.resource.search([("accountId", "eq", account_id)], top=10000)
        return exact_one([p for p in plans if p.get(field) == marker], "price plan", sfid)
