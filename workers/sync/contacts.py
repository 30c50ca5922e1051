"""Contact sync: one LogiSense contact per Salesforce contact, linked to every synced account it
relates to (its own AccountId and every AccountContactRelation), pushed with or after its account.

The contact is of the mapping's billing contact type, with its e-mail, phone, ``sfdcid`` and
mailing address as contact points of that type; the address's country and state are LogiSense
ids looked up by ISO code (docs §12). When every relation to an account ends in Salesforce, the
contact is unlinked from it where LogiSense allows (``workers.sync.contact_links``,
docs/day-one.md).
"""

from __future__ import annotations

from typing import Any

from adapters.store import records as store
from statemachine.rules import contact_problems
from workers.sync.contact_links import linked_account_ids
from workers.sync.steps import Plan, RecordSync, Remote, Wait, dependency_why


class ContactSync(RecordSync):
    """Moves one Contact from pending to pushed."""

    sobject = "Contact"

    def remote(self) -> Remote:
        """Contacts in LogiSense, found by their ``sfdcid`` contact point."""
        ls = self.ctx.logisense
        return Remote(ls.find_contact_by_sfdcid, ls.create_contact, ls.update_contact)

    def settle(self, plan: Plan, written: tuple[bool, int]) -> None:
        """Record the write's outcome."""
        with self.owned(plan.record_id) as (session, record):
            said = self.recorded(session, record, plan, written)
            self.account_synced(session, record, plan.extra["synced"])
            self.pushed(session, record, plan, said)

    def plan(self, record_id: int) -> Plan | None:
        """Read, validate, decide the write (see workers.sync.steps)."""
        # read (maybe from LogiSense) before the store transaction opens, never inside it
        reference = self.ctx.references.reference()
        with self.owned(record_id) as (session, record):
            values = dict(record.values or {})
            problems = contact_problems(values)
            typed, more = self._typed(record.sfid, values, reference)
            problems += more
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
            payload = typed
            linked = linked_account_ids(
                session,
                record.sfid,
                {int(a.ls_id) for a in synced if a.ls_id is not None},
                set(written.get("accountIds") or []),
            )
            # The contact keeps the LogiSense account it was created under while it still
            # relates to it; once that relation ended, Salesforce's own account takes its place.
            before = written.get("accountIds") or []
            own = accounts[primary].ls_id if primary in accounts else None
            primary_ls = next(
                (c for c in (*before[:1], own) if c is not None and int(c) in set(linked)), None
            )
            payload["accountIds"] = primary_first(primary_ls, linked)
            return self.planned(record, values, payload, synced=synced_reason)

    def _typed(
        self, sfid: str, values: dict[str, Any], reference: Any
    ) -> tuple[dict[str, Any], list[str]]:
        """The contact's LogiSense view (type, names, contact points), and what is wrong."""
        field_map = self.ctx.field_map
        type_name = self.ctx.logisense.mapping.contact.billing_contact_type
        if field_map.contact_type_field and values.get(field_map.contact_type_field):
            type_name = str(values[field_map.contact_type_field])
        problems: list[str] = []
        type_id = reference.contact_types.get(type_name)
        if type_id is None:
            problems.append(
                f"LogiSense has no contact type {type_name!r} (known: "
                f"{', '.join(sorted(reference.contact_types)) or 'none'}); add it or set "
                "[contact] billing_contact_type in the mapping file (or pick a known type)."
            )
        payload: dict[str, Any] = {
            ls_name: values.get(sf_name)
            for sf_name, ls_name in field_map.contact_plain.items()
            if sf_name != "Id"
        }
        payload["contactTypeId"] = type_id
        points: dict[str, Any] = {
            role: values.get(sf_name) or None for sf_name, role in field_map.contact_points.items()
        }
        points["sfdcid"] = sfid
        address, wrong = contact_address(values, field_map.contact_address, reference)
        problems += wrong
        points["address"] = address
        payload["points"] = {k: v for k, v in points.items() if v is not None}
        return payload, problems

    def adopted(
        self, payload: dict[str, Any], existing: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A contact found in LogiSense keeps the accounts it is linked to there (and its own
        account first)."""
        known = existing.get("accountIds") or []
        merged = primary_first(known[0] if known else None, set(payload["accountIds"]) | set(known))
        return {**payload, "accountIds": merged}, {**existing, "accountIds": known}


def contact_address(
    values: dict[str, Any], fields: dict[str, str], reference: Any
) -> tuple[dict[str, Any] | None, list[str]]:
    """The mailing address as an address contact point (ids by ISO code), or None if empty."""
    parts = {part: values.get(sf_name) or None for sf_name, part in fields.items()}
    if not any(parts.values()):
        return None, []
    country, region = parts.get("country"), parts.get("state")
    if not country:
        return None, [
            "The mailing address has no country code (MailingCountryCode): LogiSense addresses "
            "need a country; enable State and Country picklists in Salesforce and pick one."
        ]
    problems: list[str] = []
    country_id = reference.countries.get(country)
    if country_id is None:
        problems.append(f"Country {country!r} is not set up in LogiSense; add it there first.")
    state_id = reference.states.get((country, region)) if region else None
    if region and state_id is None:
        problems.append(
            f"State {region!r} of country {country!r} is not set up in LogiSense (its state code "
            "must equal the Salesforce state code)."
        )
    address = {
        "street": parts.get("street"),
        "street2": parts.get("street2"),
        "city": parts.get("city"),
        "postal_code": parts.get("postal_code"),
        "country": country_id,
        "state": state_id,
    }
    return address, problems


def primary_first(primary: Any, ids: Any) -> list[int]:
    """Account ids with the contact's own account first (LogiSense's ``accountId``), then the
    accounts it is linked to, ascending; each once."""
    every = {int(i) for i in ids}
    if primary is None or int(primary) not in every:
        return sorted(every)
    return [int(primary), *sorted(every - {int(primary)})]
