"""Records that existed before billsync: in-scope accounts written straight into the org, with no
change event (``POST /__sim/seed/accounts``), for benchmarks and demos of the backfill."""

from __future__ import annotations

from typing import Any

from simulators.salesforce.store import OrgStore

IN_SCOPE = {
    "CurrencyIsoCode": "USD",
    "LogiSense_Sync__c": True,
    "LogiSense_Account_Status__c": "Active",
    "LogiSense_Bill_Group__c": "Monthly 1st",
    "LogiSense_AR_Term__c": "Net 30",
}
BATCH = 1_000


def seed_accounts(store: OrgStore, body: dict[str, Any]) -> dict[str, Any]:
    """Insert ``count`` in-scope accounts (each its own invoice recipient) without events.

    ``prefix`` names them (``<prefix> <n>``); ``fields`` overrides the in-scope defaults.
    """
    count = int(body.get("count", 0))
    prefix = str(body.get("prefix", "Existing"))
    fields = {**IN_SCOPE, **dict(body.get("fields") or {})}
    made = 0
    while made < count:
        with store.transaction(emit=False) as tx:
            for n in range(made, min(count, made + BATCH)):
                record_id = tx.insert("Account", {"Name": f"{prefix} {n}", **fields})
                tx.update(
                    "Account",
                    record_id,
                    {
                        "Subscription_Invoice_Recipient__c": record_id,
                        "Usage_Invoice_Recipient__c": record_id,
                    },
                )
        made = min(count, made + BATCH)
    return {"seeded": made}
