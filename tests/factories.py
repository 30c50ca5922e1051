"""Salesforce-shaped change messages for tests."""

from __future__ import annotations

import itertools
from typing import Any

from billsync.messages import ChangeMessage, change

_clock = itertools.count(1_700_000_000_000, 10)


def account_id(n: int) -> str:
    """A valid 18-character Account id."""
    return f"001{n:012d}AAA"


def contact_id(n: int) -> str:
    """A valid 18-character Contact id."""
    return f"003{n:012d}AAA"


def stamp() -> int:
    """A fresh, increasing commit timestamp."""
    return next(_clock)


def account(
    n: int,
    *,
    parent: int | None = None,
    invoicer: int | None = None,
    change_type: str = "CREATE",
    ts: int | None = None,
    **fields: Any,
) -> ChangeMessage:
    """A valid, in-scope account (override any field with keyword arguments)."""
    sfid = account_id(n)
    values: dict[str, Any] = {
        "Name": f"Account {n}",
        "CurrencyIsoCode": "USD",
        "LogiSense_Sync__c": True,
        "LogiSense_Account_Status__c": "Active",
        "LogiSense_Bill_Group__c": "Monthly 1st",
        "LogiSense_AR_Term__c": "Net 30",
        "Subscription_Invoice_Recipient__c": account_id(invoicer) if invoicer else sfid,
        "Usage_Invoice_Recipient__c": account_id(invoicer) if invoicer else sfid,
    }
    if parent is not None:
        values["ParentId"] = account_id(parent)
    values.update(fields)
    nulled = [k for k, v in values.items() if v is None]
    return change(
        "Account",
        sfid,
        values,
        change_type=change_type,
        commit_timestamp=ts if ts is not None else stamp(),
        nulled_fields=nulled,
    )


def update(object_name: str, sfid: str, ts: int | None = None, **fields: Any) -> ChangeMessage:
    """An UPDATE carrying only ``fields``."""
    nulled = [k for k, v in fields.items() if v is None]
    return change(
        object_name,
        sfid,
        fields,
        change_type="UPDATE",
        commit_timestamp=ts if ts is not None else stamp(),
        nulled_fields=nulled,
    )


def contact(
    n: int, account_n: int, *, sync: bool = True, ts: int | None = None, **fields: Any
) -> ChangeMessage:
    """A contact of account ``account_n``."""
    values: dict[str, Any] = {
        "FirstName": "Pat",
        "LastName": f"Contact {n}",
        "AccountId": account_id(account_n),
        "LogiSense_Sync__c": sync,
        "Email": f"pat{n}@example.com",
    }
    values.update(fields)
    return change(
        "Contact",
        contact_id(n),
        values,
        change_type="CREATE",
        commit_timestamp=ts if ts is not None else stamp(),
    )


def relation(n: int, contact_n: int, account_n: int, *, active: bool = True) -> ChangeMessage:
    """An AccountContactRelation linking a contact to another account."""
    return change(
        "AccountContactRelation",
        f"07k{n:012d}AAA",
        {
            "AccountId": account_id(account_n),
            "ContactId": contact_id(contact_n),
            "IsActive": active,
            "IsDirect": False,
        },
        change_type="CREATE",
        commit_timestamp=stamp(),
    )
