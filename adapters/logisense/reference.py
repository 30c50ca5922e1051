"""LogiSense reference data: the values synced records must name (SPEC §3), read only.

Workers turn the names a rep picked in Salesforce (status, bill group, AR term, account type) and
ISO codes (currency, country, state) into LogiSense identities; the catalog sync mirrors the raw
items into Salesforce so that reps can only pick values that exist. Both needs are served by one
snapshot, read through the ``/Paged`` routes.
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
    """One snapshot of the reference tables: lookups by name (ISO code where there is one), raw.

    Names are matched exactly as LogiSense spells them; if two records share a name, the one with
    the higher identity wins (the lookup must give one answer). ``states`` is keyed by
    ``(country ISO code, state code)``: the official app's rule (docs §12) is that LogiSense state
    codes equal Salesforce state codes.
    """

    currencies: Mapping[str, int]
    account_statuses: Mapping[str, int]
    bill_groups: Mapping[str, int]
    ar_terms: Mapping[str, int]
    account_types: Mapping[str, int] = field(default_factory=dict)
    contact_types: Mapping[str, int] = field(default_factory=dict)
    countries: Mapping[str, int] = field(default_factory=dict)
    states: Mapping[tuple[str, str], int] = field(default_factory=dict)
    currency_items: Items = field(default=(), compare=False, repr=False)
    account_status_items: Items = field(default=(), compare=False, repr=False)
    bill_group_items: Items = field(default=(), compare=False, repr=False)
    ar_term_items: Items = field(default=(), compare=False, repr=False)
    account_type_items: Items = field(default=(), compare=False, repr=False)
    contact_type_items: Items = field(default=(), compare=False, repr=False)
    contact_point_type_items: Items = field(default=(), compare=False, repr=False)
    country_items: Items = field(default=(), compare=False, repr=False)
    state_items: Items = field(default=(), compare=False, repr=False)

    def by_kind(self, kind: str) -> Mapping[str, int] | None:
        """The lookup for a resolved account field's kind (``account_type``, ``currency``,
        ``account_status``, ``bill_group``, ``ar_term``); None for a kind that names an account."""
        lookups = {
            "account_type": self.account_types,
            "currency": self.currencies,
            "account_status": self.account_statuses,
            "bill_group": self.bill_groups,
            "ar_term": self.ar_terms,
        }
        return lookups.get(kind)

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
    """Read every reference table (``GET /Paged`` each) into a ``ReferenceData``."""
    names = session.names.resources

    def read(path: str, noun: str) -> Items:
        return tuple(RecordResource(session, path, noun).paged())

    currencies = read(names.currency, "currency")
    statuses = read(names.account_status, "account status type")
    groups = read(names.bill_group, "bill group")
    terms = read(names.ar_terms, "accounts-receivable term")
    account_types = read(names.account_type, "account type")
    contact_types = read(names.contact_type, "contact type")
    point_types = read(names.contact_point_type, "contact point type")
    countries = read(names.country, "country")
    states = read(names.state, "state")
    country_codes = {int(c["identity"]): str(c.get("countryCode")) for c in countries}
    return ReferenceData(
        currencies=_by(currencies, "code"),
        account_statuses=_by(statuses, "name"),
        bill_groups=_by(groups, "name"),
        ar_terms=_by(terms, "name"),
        account_types=_by(account_types, "name"),
        contact_types=_by(contact_types, "name"),
        countries=_by(countries, "countryCode"),
        states={
            (country_codes.get(int(s.get("countryId") or 0), ""), str(s["code"])): int(
                s["identity"]
            )
            for s in sorted(states, key=lambda s: int(s.get("identity") or 0))
            if s.get("code")
        },
        currency_items=currencies,
        account_status_items=statuses,
        bill_group_items=groups,
        ar_term_items=terms,
        account_type_items=account_types,
        contact_type_items=contact_types,
        contact_point_type_items=point_types,
        country_items=countries,
        state_items=states,
    )
