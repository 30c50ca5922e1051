"""The rules of SPEC §3 as pure functions: each returns the problems it finds, in words a person
who fixes the record in Salesforce understands. An empty list means the rule passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

SUM_TOLERANCE = Decimal("0.005")


class ReferenceNames(Protocol):
    """LogiSense reference data by name (currencies by ISO code)."""

    @property
    def currencies(self) -> Mapping[str, int]: ...
    @property
    def account_statuses(self) -> Mapping[str, int]: ...
    @property
    def bill_groups(self) -> Mapping[str, int]: ...
    @property
    def ar_terms(self) -> Mapping[str, int]: ...


_REQUIRED_REFERENCES = (
    ("LogiSense_Account_Status__c", "Account status", "account_statuses"),
    ("LogiSense_Bill_Group__c", "Bill group", "bill_groups"),
    ("LogiSense_AR_Term__c", "Accounts receivable term", "ar_terms"),
)
_INVOICERS = (
    ("Subscription_Invoice_Recipient__c", "Subscription invoice recipient"),
    ("Usage_Invoice_Recipient__c", "Usage invoice recipient"),
)


def _known(names: Mapping[str, int]) -> str:
    return ", ".join(sorted(names)) or "none"


def account_problems(values: Mapping[str, Any], reference: ReferenceNames) -> list[str]:
    """Rules an account must pass on its own: currency, reference values, invoice recipients."""
    problems: list[str] = []
    currency = values.get("CurrencyIsoCode")
    if not currency:
        problems.append("Currency (CurrencyIsoCode) is required: set the account's currency.")
    elif currency not in reference.currencies:
        problems.append(
            f"Currency {currency!r} does not exist in LogiSense "
            f"(known: {_known(reference.currencies)})."
        )
    for field_name, label, attribute in _REQUIRED_REFERENCES:
        value = values.get(field_name)
        names: Mapping[str, int] = getattr(reference, attribute)
        if not value:
            problems.append(f"{label} ({field_name}) is required: pick one of {_known(names)}.")
        elif value not in names:
            problems.append(
                f"{label} {value!r} ({field_name}) does not exist in LogiSense "
                f"(known: {_known(names)})."
            )
    for field_name, label in _INVOICERS:
        if not values.get(field_name):
            problems.append(
                f"{label} ({field_name}) is required: set it to this account "
                "or to the account that receives its invoices."
            )
    return problems


def parent_currency_problem(
    values: Mapping[str, Any], parent_values: Mapping[str, Any]
) -> str | None:
    """Parent and child accounts must share a currency."""
    mine, theirs = values.get("CurrencyIsoCode"), parent_values.get("CurrencyIsoCode")
    if mine and theirs and mine != theirs:
        return (
            f"Currency {mine!r} differs from parent account {parent_values.get('Id')} "
            f"({theirs!r}): parent and child accounts must have the same currency."
        )
    return None


def currency_change_problem(pinned: str, requested: str) -> str:
    """The reason a synced account's currency change is refused."""
    return (
        f"Currency cannot change once the account is synced: Salesforce now says {requested!r}, "
        f"LogiSense keeps {pinned!r}. Set CurrencyIsoCode back to {pinned!r}, "
        "or create a new account for the other currency."
    )


def contact_problems(values: Mapping[str, Any]) -> list[str]:
    """Rules a contact must pass: LogiSense needs a last name."""
    if not values.get("LastName"):
        return ["Last name (LastName) is required by LogiSense."]
    return []


@dataclass(frozen=True)
class ServiceLine:
    """One Opportunity Product Service as read from Salesforce."""

    line_item_id: str
    service_sfid: str
    logisense_service_id: int | None
    quantity: Decimal
    recurring_price: Decimal
    one_time_price: Decimal
    overage_price: Decimal
    state_prices: tuple[tuple[str, Decimal], ...]


@dataclass(frozen=True)
class LineItem:
    """One OpportunityLineItem with its sales price and the package it sells."""

    sfid: str
    unit_price: Decimal
    logisense_package_id: int | None


def opportunity_problems(
    opportunity: Mapping[str, Any],
    *,
    pricebook_name: str | None,
    expected_pricebook: str,
    account_currency: str | None,
    line_items: Sequence[LineItem],
    services: Sequence[ServiceLine],
    known_services: Mapping[int, int],
) -> list[str]:
    """Rules for an opportunity push; ``known_services`` maps LogiSense service id -> package id."""
    problems: list[str] = []
    if not opportunity.get("IsWon"):
        problems.append(
            f"Opportunity is not won (stage {opportunity.get('StageName')!r}): "
            "only won opportunities can be pushed."
        )
    if pricebook_name != expected_pricebook:
        problems.append(
            f"Opportunity uses price book {pricebook_name!r}, not {expected_pricebook!r}: "
            "only opportunities quoted from the LogiSense price book can be pushed."
        )
    currency = opportunity.get("CurrencyIsoCode")
    if account_currency and currency and currency != account_currency:
        problems.append(
            f"Opportunity currency {currency!r} differs from its account's {account_currency!r}: "
            "LogiSense prices a plan in the account's currency only."
        )
    if not line_items:
        problems.append("Opportunity has no products: add at least one from the price book.")
    problems.extend(_service_problems(line_items, services, known_services))
    return problems


def _service_problems(
    line_items: Sequence[LineItem],
    services: Sequence[ServiceLine],
    known_services: Mapping[int, int],
) -> list[str]:
    problems: list[str] = []
    by_item: dict[str, list[ServiceLine]] = {item.sfid: [] for item in line_items}
    for service in services:
        if service.line_item_id not in by_item:  # the link is a text field: it can be wrong
            problems.append(
                f"Service {service.service_sfid} names product {service.line_item_id!r}, which "
                "is not on this opportunity: set its Opportunity_Product_Id__c to one of the "
                "opportunity's products."
            )
            continue
        by_item[service.line_item_id].append(service)
        if service.logisense_service_id not in known_services:
            problems.append(
                f"Service {service.service_sfid} on product {service.line_item_id} is not in the "
                "LogiSense catalog: run `billsync catalog sync` and pick a current service."
            )
    for item in line_items:
        lines = by_item.get(item.sfid, [])
        if not lines:
            problems.append(f"Product {item.sfid} has no services: price at least one service.")
            continue
        total = sum((s.quantity * s.recurring_price + s.one_time_price for s in lines), Decimal(0))
        if abs(total - item.unit_price) > SUM_TOLERANCE:
            problems.append(
                f"Product {item.sfid}: sales price {item.unit_price} does not equal the sum of its "
                f"service prices {total} (quantity x recurring + one-time); fix the services."
            )
    return problems
