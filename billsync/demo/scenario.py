"""The demo's scripted scenario: what a sales team does in Salesforce in one morning, played
through the Salesforce REST API, and what each entity should end as.

Nothing here talks to billsync: the rep changes Salesforce, and billsync (ingest, broker, worker)
carries the changes to LogiSense on its own, as it would for a real org.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from billsync.demo.rep import Line, Rep, Service

NOT_REQUESTED = "(no push requested)"


@dataclass
class Expectations:
    """The state each entity should end in, with a name and a note for the summary."""

    expected: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    objects: dict[str, str] = field(default_factory=dict)

    def add(self, object_name: str, sfid: str, name: str, state: str, note: str = "") -> str:
        """Record what ``sfid`` should end as."""
        self.expected[sfid], self.names[sfid], self.objects[sfid] = state, name, object_name
        if note:
            self.notes[sfid] = note
        return sfid


BILLING = {
    "LogiSense_Account_Status__c": "Active",
    "LogiSense_Bill_Group__c": "Monthly 1st",
    "LogiSense_AR_Term__c": "Net 30",
}


class MorningScenario:
    """Accounts (a 3-level hierarchy, invoicers, bad data), contacts (one shared), updates, and
    opportunities (valid, early, invalid, won without a request)."""

    def __init__(self, rep: Rep, say: Callable[[str], None]) -> None:
        self.rep = rep
        self.say = say
        self.want = Expectations()
        self.rng = random.Random(7)

    def account(
        self, name: str, state: str = "pushed", note: str = "", *, sync: bool = True, **fields: Any
    ) -> str:
        """Create an account, then fill in billing and tick the sync box, as a rep does."""
        values = {
            "Name": name,
            "CurrencyIsoCode": "USD",
            **{k: v for k, v in fields.items() if k in ("CurrencyIsoCode", "ParentId")},
        }
        sfid = self.rep.create("Account", values)
        billing: dict[str, Any] = {
            **BILLING,
            "Subscription_Invoice_Recipient__c": sfid,
            "Usage_Invoice_Recipient__c": sfid,
            "LogiSense_Sync__c": sync,
        }
        billing.update({k: v for k, v in fields.items() if k not in values})
        self.rep.update("Account", sfid, billing)
        return self.want.add("Account", sfid, name, state, note)

    def accounts(self) -> dict[str, str]:
        """About fifty accounts; returns a few by role for later steps."""
        self.say("sales ops sets up accounts")
        root = self.account("Globex Holdings", note="top of a 3-level hierarchy")
        offices = []
        for region in range(1, 4):
            parent = self.account(f"Globex Region {region}", ParentId=root)
            offices += [
                self.account(f"Globex Office {region}.{n}", ParentId=parent) for n in range(1, 4)
            ]
        payer = self.account("Initech Finance", note="pays for Initech Labs")
        labs = self.account(
            "Initech Labs",
            note="invoices go to Initech Finance",
            Subscription_Invoice_Recipient__c=payer,
            Usage_Invoice_Recipient__c=payer,
        )
        customers = [
            self.account(f"Customer {n}", CurrencyIsoCode=self.rng.choice(["USD", "USD", "EUR"]))
            for n in range(1, 21)
        ]
        self.account(
            "Globex Euro Branch",
            "failed",
            "EUR child of a USD parent",
            ParentId=root,
            CurrencyIsoCode="EUR",
        )
        self.account(
            "Mystery Status Co", "failed", "unknown status", LogiSense_Account_Status__c="Dormant"
        )
        self.account(
            "Odd Cycle Ltd",
            "failed",
            "unknown bill group",
            LogiSense_Bill_Group__c="Every Blue Moon",
        )
        self.account("Termless LLC", "failed", "AR term missing", LogiSense_AR_Term__c=None)
        self.account(
            "Nobody Pays Corp",
            "failed",
            "usage invoice recipient missing",
            Usage_Invoice_Recipient__c=None,
        )
        prospect = self.account("Prospect Inc", "pending", "not marked to sync", sync=False)
        switcher = self.account(
            "Currency Switcher SA", "failed", "currency changed after sync: refused"
        )
        late = self.account(
            "Late Corp", "pushed", "marked to sync after its deal was pushed", sync=False
        )
        return {
            "root": root,
            "payer": payer,
            "labs": labs,
            "prospect": prospect,
            "switcher": switcher,
            "late": late,
            "customer": customers[0],
            "customer2": customers[1],
            "office": offices[0],
        }

    def contacts(self, roles: dict[str, str]) -> None:
        """Contacts marked to sync (one shared by three accounts) and some that are not."""
        self.say("reps add contacts")
        for n, (role, sync) in enumerate(
            [
                ("root", True),
                ("payer", True),
                ("labs", True),
                ("customer", True),
                ("customer2", False),
                ("office", True),
                ("prospect", True),
            ],
            start=1,
        ):
            sfid = self.rep.create(
                "Contact",
                {
                    "FirstName": ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Ida"][n - 1],
                    "LastName": f"Example{n}",
                    "Email": f"person{n}@example.com",
                    "Phone": f"+1 212 555 01{n:02d}",
                    "MailingStreet": f"{n} Broadway",
                    "MailingCity": "New York",
                    "MailingPostalCode": "10004",
                    "MailingCountryCode": "US",
                    "MailingStateCode": "NY",
                    "AccountId": roles[role],
                    "LogiSense_Sync__c": sync,
                },
            )
            if role == "prospect":
                self.want.add(
                    "Contact", sfid, f"Example{n}", "validated", "its account is not synced: waits"
                )
            elif sync:
                self.want.add(
                    "Contact",
                    sfid,
                    f"Example{n}",
                    "pushed",
                    "shared with Initech Labs and Customer 1" if n == 2 else "",
                )
            if n == 2:
                for other in ("labs", "customer"):
                    self.rep.create(
                        "AccountContactRelation", {"AccountId": roles[other], "ContactId": sfid}
                    )

    def updates(self, roles: dict[str, str]) -> None:
        """Renames, a burst of unmapped edits, a refused currency change."""
        self.say("reps edit accounts")
        for role in ("customer", "customer2", "office"):
            self.rep.update(
                "Account", roles[role], {"Name": f"{self.want.names[roles[role]]} (renamed)"}
            )
            self.want.names[roles[role]] += " (renamed)"
        for n in range(15):
            self.rep.update("Account", roles["payer"], {"Description": f"call notes {n}"})
        self.rep.update("Account", roles["switcher"], {"CurrencyIsoCode": "GBP"})

    def opportunities(self, roles: dict[str, str]) -> None:
        """Won deals pushed by the button (a platform event), one early, one wrong, one not
        requested."""
        self.say("reps close deals")
        internet = Line(1, [Service(1, 70.0, quantity=2.0), Service(3, 0.0, one_time=99.0)])
        good = self.rep.opportunity(roles["labs"], [internet], name="Initech Labs fiber")
        self.want.add(
            "Opportunity", good, "Initech Labs fiber", "pushed", "won, pushed by the button"
        )
        signed = self.rep.opportunity(
            roles["payer"], [internet], stage="Signed", name="Initech Finance fiber"
        )
        self.want.add(
            "Opportunity",
            signed,
            "Initech Finance fiber",
            "pushed",
            "stage 'Signed' is a won stage too",
        )
        early = self.rep.opportunity(roles["late"], [internet], name="Late Corp fiber")
        self.want.add(
            "Opportunity",
            early,
            "Late Corp fiber",
            "pushed",
            "pushed before its account was synced: waited for it",
        )
        wrong = Line(1, [Service(1, 70.0, quantity=2.0)], unit_price=150.0)
        bad = self.rep.opportunity(roles["root"], [wrong], name="Globex mispriced")
        self.want.add(
            "Opportunity",
            bad,
            "Globex mispriced",
            "failed",
            "sales price does not match its services",
        )
        quiet = self.rep.opportunity(roles["customer"], [internet], name="Customer 1 fiber")
        self.want.add(
            "Opportunity",
            quiet,
            "Customer 1 fiber",
            NOT_REQUESTED,
            "won, but nobody pressed the button: nothing pushed",
        )
        for opp in (good, signed, early, bad):
            self.rep.create("LogiSense_Sync_Request__e", {"Record_Id__c": opp})

    def late_sync(self, roles: dict[str, str]) -> None:
        """The late account gets its sync box ticked after its deal's push was requested."""
        self.say("Late Corp is marked to sync")
        self.rep.update("Account", roles["late"], {"LogiSense_Sync__c": True})
