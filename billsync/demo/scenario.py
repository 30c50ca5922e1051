"""The demo's scripted scenario, as data: what a sales team does in Salesforce in one morning,
and what each entity should end as."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from billsync.messages import ChangeMessage, change

BASE_TS = 1_767_225_600_000


@dataclass
class Scenario:
    """The messages to send in waves, and the state each entity should end in."""

    waves: list[list[ChangeMessage]] = field(default_factory=list)
    expected: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def _id(prefix: str, n: int) -> str:
    return f"{prefix}{n:012d}DMO"


class _Clock:
    def __init__(self) -> None:
        self.ts = BASE_TS

    def __call__(self) -> int:
        self.ts += 7
        return self.ts


def _account(clock: _Clock, n: int, name: str, **fields: Any) -> ChangeMessage:
    sfid = _id("001", n)
    values: dict[str, Any] = {
        "Name": name,
        "CurrencyIsoCode": "USD",
        "LogiSense_Sync__c": True,
        "LogiSense_Account_Status__c": "Active",
        "LogiSense_Bill_Group__c": "Monthly 1st",
        "LogiSense_AR_Term__c": "Net 30",
        "Subscription_Invoice_Recipient__c": sfid,
        "Usage_Invoice_Recipient__c": sfid,
        "Industry": "Telecommunications",
    }
    values.update(fields)
    nulled = [k for k, v in values.items() if v is None]
    return change(
        "Account",
        sfid,
        values,
        change_type="CREATE",
        commit_timestamp=clock(),
        nulled_fields=nulled,
        source="api",
    )


def build(seed: int = 7) -> Scenario:
    """About fifty accounts: a three-level hierarchy, invoicers, shared contacts, bad data."""
    clock, s = _Clock(), Scenario()
    creates: list[ChangeMessage] = []

    def add(n: int, name: str, expect: str, note: str = "", **fields: Any) -> str:
        creates.append(_account(clock, n, name, **fields))
        sfid = _id("001", n)
        s.expected[sfid], s.names[sfid] = expect, name
        if note:
            s.notes[sfid] = note
        return sfid

    root = add(1, "Globex Holdings", "pushed", "top of a 3-level hierarchy")
    for child in range(2, 5):
        parent = add(child, f"Globex Region {child - 1}", "pushed", ParentId=root)
        for grandchild in range(3):
            n = child * 10 + grandchild
            add(n, f"Globex Office {n}", "pushed", ParentId=parent)
    payer = add(60, "Initech Finance", "pushed", "pays for Initech Labs")
    add(
        61,
        "Initech Labs",
        "pushed",
        "invoices go to Initech Finance",
        Subscription_Invoice_Recipient__c=payer,
        Usage_Invoice_Recipient__c=payer,
    )
    for n in range(70, 92):
        add(n, f"Customer {n}", "pushed", CurrencyIsoCode=random.Random(n).choice(["USD", "EUR"]))
    add(100, "No Currency Inc", "failed", "currency missing", CurrencyIsoCode=None)
    add(
        101,
        "Globex Euro Branch",
        "failed",
        "EUR child of a USD parent",
        ParentId=root,
        CurrencyIsoCode="EUR",
    )
    add(102, "Mystery Status Co", "failed", "unknown status", LogiSense_Account_Status__c="Dormant")
    add(
        103,
        "Odd Cycle Ltd",
        "failed",
        "unknown bill group",
        LogiSense_Bill_Group__c="Every Blue Moon",
    )
    add(104, "Termless LLC", "failed", "AR term missing", LogiSense_AR_Term__c=None)
    add(
        105,
        "Nobody Pays Corp",
        "failed",
        "usage invoice recipient missing",
        Usage_Invoice_Recipient__c=None,
    )
    prospect = add(
        110,
        "Prospect (not synced)",
        "pending",
        "LogiSense_Sync__c is false",
        LogiSense_Sync__c=False,
    )
    switcher = add(120, "Currency Switcher SA", "failed", "currency changed after sync (refused)")

    contacts: list[ChangeMessage] = []
    for n, (account_n, sync) in enumerate(
        [
            (1, True),
            (2, True),
            (21, True),
            (60, True),
            (61, True),
            (70, True),
            (71, True),
            (72, False),
            (73, True),
            (74, False),
            (110, True),
            (80, True),
        ],
        start=1,
    ):
        sfid = _id("003", n)
        contacts.append(
            change(
                "Contact",
                sfid,
                {
                    "FirstName": ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"][n % 6],
                    "LastName": f"Contact{n}",
                    "Email": f"contact{n}@example.com",
                    "AccountId": _id("001", account_n),
                    "LogiSense_Sync__c": sync,
                },
                change_type="CREATE",
                commit_timestamp=clock(),
            )
        )
        if sync:
            s.expected[sfid] = "pushed" if account_n != 110 else "validated"
            s.names[sfid] = f"Contact{n}"
        if account_n == 110 and sync:
            s.notes[sfid] = "its account is not synced: waits"
    shared = _id("003", 1)
    s.notes[shared] = "shared with Initech Finance and Customer 70"
    relations = [
        change(
            "AccountContactRelation",
            _id("07k", n),
            {
                "AccountId": _id("001", a),
                "ContactId": shared,
                "IsActive": True,
                "IsDirect": False,
            },
            change_type="CREATE",
            commit_timestamp=clock(),
        )
        for n, a in ((1, 60), (2, 70))
    ]
    rng = random.Random(seed)
    first = creates + contacts + relations
    rng.shuffle(first)
    s.waves.append(first)
    updates = [
        change(
            "Account", _id("001", n), {"Name": f"Customer {n} (renamed)"}, commit_timestamp=clock()
        )
        for n in range(70, 80)
    ]
    updates += [
        change(
            "Account", _id("001", 75), {"Description": f"call notes {i}"}, commit_timestamp=clock()
        )
        for i in range(30)
    ]
    updates.append(
        change("Account", switcher, {"CurrencyIsoCode": "GBP"}, commit_timestamp=clock())
    )
    updates.append(change("Contact", _id("003", 6), {"Title": "CTO"}, commit_timestamp=clock()))
    s.waves.append(updates)
    for n in range(70, 80):
        s.names[_id("001", n)] = f"Customer {n} (renamed)"
    del prospect
    return s
