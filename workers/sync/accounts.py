"""Account sync: validate, wait for parent and invoice recipients, write the LogiSense account,
then wait for the account's contacts to be pushed (SPEC §2, §3)."""

from __future__ import annotations

from typing import Any

from adapters.store import records as store
from adapters.store.db import Session
from adapters.store.models import SyncRecord
from statemachine import lifecycle
from statemachine.machine import ACTIVE_STATES, PUSHED
from statemachine.rules import account_problems, parent_currency_problem
from workers.sync.steps import Plan, RecordSync, Remote, Wait, dependency_why

LINKED_FIELDS = (
    ("ParentId", "parent account"),
    ("Subscription_Invoice_Recipient__c", "subscription invoice recipient"),
    ("Usage_Invoice_Recipient__c", "usage invoice recipient"),
)


class AccountSync(RecordSync):
    """Moves one Account from pending to pushed."""

    sobject = "Account"

    def remote(self) -> Remote:
        """Accounts in LogiSense, found by their ``sfdcid`` extension."""
        ls = self.ctx.logisense
        return Remote(ls.find_account_by_sfdcid, ls.create_account, ls.update_account)

    def plan(self, record_id: int) -> Plan | None:
        """Read, validate, decide the write (see workers.sync.steps)."""
        reference = self.ctx.references.reference()
        with self.owned(record_id) as (session, record):
            values = dict(record.values or {})
            if record.rejection:
                reason, record.rejection = record.rejection, None
                self.reject(session, record, [reason])
                return None
            linked = store.by_sfids(
                session,
                "Account",
                {str(v) for f, _ in LINKED_FIELDS if (v := values.get(f))} - {record.sfid},
            )
            problems = account_problems(values, reference)
            problems += _account_type_problems(values, reference)
            parent = linked.get(values.get("ParentId") or "")
            if parent is not None:
                mismatch = parent_currency_problem(values, parent.values or {})
                if mismatch:
                    problems.append(mismatch)
            if problems:
                self.reject(session, record, problems)
                return None
            waits = [
                Wait(sfid, kind, dependency_why(linked.get(sfid)))
                for field_name, kind in LINKED_FIELDS
                if (sfid := values.get(field_name))
                and sfid != record.sfid
                and (linked.get(sfid) is None or linked[sfid].ls_id is None)
            ]
            if waits:
                self.validated(session, record)
                self.wait(session, record, waits)
                return None
            # Nothing is written here: the transitions this plan leads to are recorded with the
            # outcome of the write, in the settle transaction.
            payload = self._payload(record, values, reference, linked)
            return self.planned(record, values, payload)

    def adopted(
        self, payload: dict[str, Any], existing: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """An account found in LogiSense, compared on only the custom fields billsync writes.

        Other custom fields (a billing user's own) are not billsync's; comparing them would turn
        every adoption into a write.
        """
        mine = payload.get("extensions") or {}
        theirs = existing.get("extensions") or {}
        return payload, {**existing, "extensions": {k: theirs.get(k) for k in mine}}

    def settle(self, plan: Plan, written: tuple[bool, int]) -> None:
        """Record the write's outcome; pushed once the account's contacts are too."""
        with self.owned(plan.record_id) as (session, record):
            now = self.ctx.clock()
            record.pinned = {"CurrencyIsoCode": plan.values.get("CurrencyIsoCode")}
            self.account_synced(session, record, self.recorded(session, record, plan, written))
            self.wake(session, record.sfid)
            waits = self._contacts_pending(session, record, now)
            if waits:
                self.wait(session, record, waits)
                return
            self.pushed(
                session, record, plan, "account and its contacts are in LogiSense", woken=True
            )

    def _payload(
        self,
        record: SyncRecord,
        values: dict[str, Any],
        reference: Any,
        linked: dict[str, SyncRecord],
    ) -> dict[str, Any]:
        field_map = self.ctx.field_map
        payload: dict[str, Any] = {
            ls_name: values.get(sf_name)
            for sf_name, ls_name in field_map.account_plain.items()
            if sf_name != "Id"
        }
        # Custom fields are LogiSense "extensions"; the official app keys accounts on `sfdcid`.
        extensions = {col: values.get(sf) for sf, col in field_map.account_extensions.items()}
        extensions[self.ctx.logisense.mapping.account.sfdcid_extension] = record.sfid
        payload["extensions"] = extensions
        for sf_name, (ls_name, kind) in field_map.account_resolved.items():
            value = values.get(sf_name)
            names = reference.by_kind(kind)
            if names is not None:
                payload[ls_name] = names.get(value) if value else None
            elif not value or value == record.sfid:
                payload[ls_name] = None
            else:
                payload[ls_name] = linked[value].ls_id
        return payload

    def _contacts_pending(self, session: Session, record: SyncRecord, now: float) -> list[Wait]:
        """Contacts marked to sync that are not pushed with a link to this account yet."""
        contacts = self.contacts_of(session, record.sfid)
        waits: list[Wait] = []
        for contact in contacts.values():
            if not contact.in_scope:
                continue
            written = (contact.detail or {}).get("written") or {}
            linked = record.ls_id in (written.get("accountIds") or [])
            if contact.state == PUSHED and linked:
                continue
            if contact.state == PUSHED:
                self.changed(session, contact, f"account {record.sfid} is now in LogiSense")
            if contact.state in ACTIVE_STATES and contact.lease_owner is None:
                change = lifecycle.due_now(contact, f"account {record.sfid} is in LogiSense")
                store.apply(session, contact, change, worker=self.ctx.worker_id, at=now, now=now)
            waits.append(
                Wait(
                    contact.sfid,
                    "contact",
                    dependency_why(contact) if contact.state == "failed" else "not pushed yet",
                )
            )
        return waits


def _account_type_problems(values: dict[str, Any], reference: Any) -> list[str]:
    """The account's Type must name a LogiSense account type (docs §12: they must match)."""
    kind = values.get("Type")
    if not kind or kind in reference.account_types:
        return []
    known = ", ".join(sorted(reference.account_types)) or "none"
    return [
        f"Account Type {kind!r} does not exist in LogiSense (known: {known}); add it there "
        "or pick one of these in Salesforce."
    ]
