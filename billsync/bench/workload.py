"""The changes the benchmark and the reliability suite feed billsync: Salesforce accounts that
pass every rule of SPEC §3, numbered so that runs are reproducible."""

from __future__ import annotations

from typing import Any

from billsync.messages import ChangeMessage, change, now_ms

#: Reference names the LogiSense simulator is seeded with.
VALID_ACCOUNT: dict[str, Any] = {
    "CurrencyIsoCode": "USD",
    "LogiSense_Sync__c": True,
    "LogiSense_Account_Status__c": "Active",
    "LogiSense_Bill_Group__c": "Monthly 1st",
    "LogiSense_AR_Term__c": "Net 30",
}


def account_id(number: int) -> str:
    """The 18-character Salesforce id of synthetic account ``number``."""
    return f"001{number:012d}AAA"


def account_name(number: int, revision: int = 0) -> str:
    """The Name of account ``number`` after ``revision`` updates."""
    return f"Account {number}" if revision == 0 else f"Account {number} r{revision}"


def new_account(
    number: int,
    *,
    parent: int | None = None,
    commit_ms: int | None = None,
    **fields: Any,
) -> ChangeMessage:
    """A CREATE of a valid, in-scope account (its own invoice recipient)."""
    sfid = account_id(number)
    values: dict[str, Any] = {
        "Name": account_name(number),
        **VALID_ACCOUNT,
        "Subscription_Invoice_Recipient__c": sfid,
        "Usage_Invoice_Recipient__c": sfid,
    }
    if parent is not None:
        values["ParentId"] = account_id(parent)
    values.update(fields)
    nulled = [k for k, v in values.items() if v is None]
    return change(
        "Account",
        sfid,
        values,
        change_type="CREATE",
        commit_timestamp=commit_ms if commit_ms is not None else now_ms(),
        nulled_fields=nulled,
    )


def rename(number: int, revision: int, *, commit_ms: int | None = None) -> ChangeMessage:
    """An UPDATE of one mapped field (the Name); the revision orders updates of one millisecond."""
    return change(
        "Account",
        account_id(number),
        {"Name": account_name(number, revision)},
        commit_timestamp=commit_ms if commit_ms is not None else now_ms(),
        sequence=revision,
    )
