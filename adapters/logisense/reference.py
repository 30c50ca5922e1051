"""LogiSense reference data: the values a synced account must name (SPEC §3), read only.

Workers turn the names a rep picked in Salesforce (status, bill group, AR term) and the account's
ISO currency into LogiSense identities; the catalog sync mirrors the raw items into Salesforce so
that reps can only pick values that exist. Both needs are served by one snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .records import RecordResource
from .session import LogiSenseSession

Items = tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class ReferenceData:
    """One snapshot of the four reference tables: lookups by name (code for currencies) and raw.

    Names are matched exactly as LogiSense spells them; if two records share a name, the one with
    the higher identity wins (the lookup must give one answer).
    """

    currencies: Mapping[str, int]
    account_statuses: Mapping[str, int]
    bill_groups: Mapping[str, int]
    ar_terms: Mapping[str, int]
    currency_items: Items = field(default=(), compare=False, repr=False)
    account_status_items: Items = field(default=(), compare=False, repr=False)
    bill_group_items: Items = field(default=(), compare=False, repr=False)
    ar_term_items: Items = field(default=(), compare=False, repr=False)

    def currency_code(self, currency_id: int) -> str | None:
        """The ISO code of a currency identity (prices and accounts carry only the id)."""
        for code, identity in self.currencies.items():
            if identity == currency_id:
                return code
        return None


def _by(items: Iterable[dict[str, Any]], key: str) -> dict[str, int]:
    ordered = sorted(items, key=lambda item: int(item.get("identity") or 0))
    return {str(item[key]): int(item["identity"]) for item in ordered if item.get(key)}


def load_reference_data(session: LogiSenseSession) -> ReferenceData:
    """Read all four tables (one paged search each) into a ``ReferenceData``."""
    names = session.names

    def read(path: str, noun: str) -> Items:
        return tuple(RecordResource(session, path, noun).iter_all())

    currencies = read(names.currency, "currency")
    statuses = read(names.account_status, "account status type")
    groups = read(names.bill_group, "bill group")
    terms = read(names.ar_terms, "accounts-receivable term")
    return ReferenceData(
        currencies=_by(currencies, "code"),
        account_statuses=_by(statuses, "name"),
        bill_groups=_by(groups, "name"),
        ar_terms=_by(terms, "name"),
        currency_items=currencies,
        account_status_items=statuses,
        bill_group_items=groups,
        ar_term_items=terms,
    )
