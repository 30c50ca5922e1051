"""Contact sync: one LogiSense contact per Salesforce contact, linked to every synced account it
relates to (its own AccountId and every AccountContactRelation), pushed with or after its account.

Links are only ever added: a relation that ends in Salesforce does not unlink the LogiSense
contact, because billsync never removes billing data (docs/decisions.md).
"""

from __future__ import annotations

from typing import Any

from adapters.store import records as store
from statemachine.rules import contact_problems
from workers.intake import LINKS_FIELD
from workers.steps import ObjectSync, Plan, Wait, create_once, dependency_why, diff


class ContactSync(ObjectSync):
    """Moves one Contact from pending to pushed."""

    batchable = True

    def plan(self, record_id: int) -> Plan | None:
        """Read, validate, decide the write (see workers.steps)."""
        return self._plan(record_id)

    def write(self, plan: Plan) -> tuple[bool, int]:
        """The LogiSense calls: (created, LogiSense id)."""
        return self._write(plan)

    def settle(self, plan: Plan, written: tuple[bool, int]) -> None:
        """Record the write's outcome."""
        created, ls_id = written
        with self.owned(plan.record_id) as (session, record):
            record.ls_id = ls_id
            record.detail = {**(record.detail or {}), "written": plan.payload}
            watched = self.ctx.field_map.watched("Contact") | {LINKS_FIELD}
            record.pushed_values = {k: plan.values.get(k) for k in watched if k in plan.values}
            verb = "created" if created else "current"
            self.validated(session, record)
            self.clear_waits(session, record)
            self.account_synced(session, record, plan.extra["synced"])
            self.pushed(session, record, plan, f"LogiSense contact {ls_id} {verb}")

    def _plan(self, record_id: int) -> Plan | None:
        with self.owned(record_id) as (session, record):
            values = dict(record.values or {})
            problems = contact_problems(values)
            if problems:
                self.reject(session, record, problems)
                return None
            accounts = store.by_sfids(
                session, "Account", store.linked_accounts(session, record.sfid)
            )
            primary = values.get("AccountId")
            in_scope = [a for a in accounts.values() if a.in_scope]
            synced = [a for a in in_scope if a.ls_id is not None]
            waits: list[Wait] = []
            if (
                primary
                and primary in {a.sfid for a in in_scope}
                and accounts[primary].ls_id is None
            ):
                waits.append(Wait(primary, "account", dependency_why(accounts[primary])))
            elif not synced:
                target = primary or next(iter(sorted(accounts)), None)
                if target is None:
                    record.waiting_for = "relates to no account"
                    waits.append(Wait(record.sfid, "account", "relates to no account"))
                else:
                    waits.append(Wait(target, "account", dependency_why(accounts.get(target))))
            if waits:
                self.validated(session, record)
                self.wait(session, record, waits)
                return None
            synced_reason = "its account is in LogiSense: " + ", ".join(
                str(a.ls_id) for a in synced
            )
            written = (record.detail or {}).get("written") or {}
            payload = self._payload(record.sfid, values)
            payload["accountIds"] = sorted(
                {int(a.ls_id) for a in synced if a.ls_id is not None}
                | set(written.get("accountIds") or [])
            )
            return Plan(
                record_id=record.id,
                version=record.version,
                values=values,
                payload=payload,
                ls_id=record.ls_id,
                extra={
                    "written": written,
                    "synced": synced_reason,
                    "first_create": self.first_create(record),
                },
            )

    def _payload(self, sfid: str, values: dict[str, Any]) -> dict[str, Any]:
        payload = {
            ls_name: values.get(sf_name)
            for sf_name, ls_name in self.ctx.field_map.contact_plain.items()
            if sf_name != "Id"
        }
        payload["sfdcid"] = sfid
        return payload

    def _write(self, plan: Plan) -> tuple[bool, int]:
        logisense = self.ctx.logisense
        if plan.ls_id is not None:
            changes = diff(plan.payload, plan.extra.get("written"))
            if changes:
                logisense.update_contact(plan.ls_id, changes)
            return False, plan.ls_id
        first = plan.extra.get("first_create")
        existing = None if first else logisense.find_contact_by_sfdcid(plan.payload["sfdcid"])
        if existing is None:
            created = create_once(
                logisense.create_contact, {k: v for k, v in plan.payload.items() if v is not None}
            )
            return True, int(created["identity"])
        identity = int(existing["identity"])
        payload = dict(plan.payload)
        payload["accountIds"] = sorted(
            set(payload["accountIds"]) | set(existing.get("accountIds") or [])
        )
        changes = diff(payload, existing)
        if changes:
            logisense.update_contact(identity, changes)
        plan.payload = payload
        return False, identity
