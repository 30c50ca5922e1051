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
from workers.sync.intake import LINKS_FIELD
from workers.sync.steps import ObjectSync, Plan, Wait, create_once, dependency_why, diff

LINKED_FIELDS = (
    ("ParentId", "parent account"),
    ("Subscription_Invoice_Recipient__c", "subscription invoice recipient"),
    ("Usage_Invoice_Recipient__c", "usage invoice recipient"),
)


class AccountSync(ObjectSync):
    """Moves one Account from pending to pushed."""

    batchable = True

    def plan(self, record_id: int) -> Plan | None:
        """Read, validate, decide the write (see workers.sync.steps)."""
        return self._plan(record_id)

    def write(self, plan: Plan) -> tuple[bool, int]:
        """The LogiSense calls: (created, LogiSense id)."""
        return self._write(plan)

    def settle(self, plan: Plan, written: tuple[bool, int]) -> None:
        """Record the write's outcome."""
        created, ls_id = written
        self._settle(plan, ls_id, created)

    def _plan(self, record_id: int) -> Plan | None:
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
            return Plan(
                record_id=record.id,
                version=record.version,
                values=values,
                payload=payload,
                ls_id=record.ls_id,
                extra={
                    "written": (record.detail or {}).get("written"),
                    "sfid": record.sfid,
                    "first_create": self.first_create(record),
                },
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
        lookups = {
            "account_type": reference.account_types,
            "currency": reference.currencies,
            "account_status": reference.account_statuses,
            "bill_group": reference.bill_groups,
            "ar_term": reference.ar_terms,
        }
        for sf_name, (ls_name, kind) in field_map.account_resolved.items():
            value = values.get(sf_name)
            if kind in lookups:
                payload[ls_name] = lookups[kind].get(value) if value else None
            elif not value or value == record.sfid:
                payload[ls_name] = None
            else:
                payload[ls_name] = linked[value].ls_id
        return payload

    def _write(self, plan: Plan) -> tuple[bool, int]:
        logisense = self.ctx.logisense
        written = plan.extra.get("written")
        if plan.ls_id is not None:
            changes = diff(plan.payload, written)
            if changes:
                logisense.update_account(plan.ls_id, changes)
            return False, plan.ls_id
        first = plan.extra.get("first_create")
        existing = None if first else logisense.find_account_by_sfdcid(plan.extra["sfid"])
        if existing is None:
            created = create_once(logisense.create_account, _without_nulls(plan.payload))
            return True, int(created["identity"])
        identity = int(existing["identity"])
        changes = diff(plan.payload, _comparable(plan.payload, existing))
        if changes:
            logisense.update_account(identity, changes)
        return False, identity

    def _settle(self, plan: Plan, ls_id: int, created: bool) -> None:
        with self.owned(plan.record_id) as (session, record):
            now = self.ctx.clock()
            record.ls_id = ls_id
            record.pinned = {"CurrencyIsoCode": plan.values.get("CurrencyIsoCode")}
            record.detail = {**(record.detail or {}), "written": plan.payload}
            verb = "created" if created else "current"
            self.validated(session, record)
            self.clear_waits(session, record)
            self.account_synced(session, record, f"LogiSense account {ls_id} {verb}")
            self.wake(session, record.sfid)
            waits = self._contacts_pending(session, record, now)
            if waits:
                record.pushed_values = _projection(self, plan.values)
                self.wait(session, record, waits)
                return
            record.pushed_values = _projection(self, plan.values)
            self.pushed(
                session, record, plan, "account and its contacts are in LogiSense", woken=True
            )

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


def _projection(sync: ObjectSync, values: dict[str, Any]) -> dict[str, Any]:
    watched = sync.ctx.field_map.watched("Account") | {LINKS_FIELD}
    return {k: values.get(k) for k in watched if k in values}


def _without_nulls(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if v is not None}


def _comparable(payload: dict[str, Any], existing: dict[str, Any]) -> dict[str, Any]:
    """An account found in LogiSense, with only the custom fields billsync writes.

    Other custom fields (a billing user's own) are not billsync's; comparing them would turn
    every adoption into a write.
    """
    mine = payload.get("extensions") or {}
    theirs = existing.get("extensions") or {}
    return {**existing, "extensions": {k: theirs.get(k) for k in mine}}


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
