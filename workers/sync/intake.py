"""Intake: merge a batch of consumed messages into the store in one transaction.

Changes to one entity coalesce here: however many arrive, the entity gets one snapshot and, if a
mapped field moved, one pending push. After the commit the messages may be acked: from then on
the store, not the broker, holds the work (SPEC §5: manual acks after the database commit).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.store import records as store
from adapters.store import relations
from adapters.store.db import Session, Sessions
from adapters.store.models import SyncRecord
from billsync.messages import ChangeMessage, Message, PushRequest
from statemachine import lifecycle
from statemachine.fieldmap import SCOPE_FIELD, FieldMap
from statemachine.machine import ACTIVE_STATES, PUSHED, Trigger
from statemachine.rules import currency_change_problem
from statemachine.snapshot import DELETED, Snapshot, changes_of

#: Where a record keeps the time of its last push (set by workers.sync.steps).
PUSHED_AT = "pushed_at"

ENTITY_OBJECTS = ("Account", "Contact", "Opportunity")
LINKS_FIELD = "__accounts"


def stamp_of(message: ChangeMessage) -> tuple[int, int, int]:
    """Where a change stands in commit order (see statemachine.snapshot)."""
    return (message.commit_timestamp, message.replay_id, message.sequence)


@dataclass
class IntakeResult:
    """What a batch did: the records now due, and counts for metrics and tests."""

    due: set[int] = field(default_factory=set)
    merged: int = 0
    ignored: int = 0


class Intake:
    """Merges messages into sync records; one instance per worker process (thread-safe)."""

    def __init__(
        self,
        sessions: Sessions,
        field_map: FieldMap,
        *,
        worker_id: str,
        clock: Callable[[], float] = time.time,
        coalesce_s: float = 0.0,
    ) -> None:
        self.sessions = sessions
        self.coalesce_s = coalesce_s
        self.field_map = field_map
        self.worker_id = worker_id
        self.clock = clock

    def apply(self, messages: Sequence[Message]) -> IntakeResult:
        """Merge ``messages`` in one transaction and return the records now due."""
        result = IntakeResult()
        if not messages:
            return result
        now = self.clock()
        with self.sessions.begin() as session:
            relation_changes = [
                m
                for m in messages
                if isinstance(m, ChangeMessage) and m.object == "AccountContactRelation"
            ]
            touched_contacts = self._apply_relations(session, relation_changes)
            grouped: dict[tuple[str, str], list[Message]] = defaultdict(list)
            for message in messages:
                if message.object in ENTITY_OBJECTS:
                    grouped[(message.object, message.record_id)].append(message)
            existing = self._load(session, grouped.keys() | touched_contacts)
            existing.update(self._create(session, grouped, existing, now, result))
            moved: dict[tuple[str, str], bool] = {}
            for key, batch in grouped.items():
                record = existing.get(key)
                if record is None:
                    continue
                changes = sorted((m for m in batch if isinstance(m, ChangeMessage)), key=stamp_of)
                moved[key] = self._merge(session, record, changes, now)
                result.merged += len(batch)
            changed_contacts = [
                existing[key]
                for key, batch in grouped.items()
                if key[0] == "Contact"
                and key in existing
                and any(isinstance(m, ChangeMessage) for m in batch)
            ]
            self._link_direct(session, changed_contacts)
            relinked = [existing[k] for k in touched_contacts - grouped.keys() if k in existing]
            self._refresh_links(session, changed_contacts + relinked)
            for key, batch in grouped.items():
                record = existing.get(key)
                if record is None:
                    continue
                requests = [m for m in batch if isinstance(m, PushRequest)]
                if requests:
                    self._request_push(session, record, max(r.requested_at for r in requests), now)
                elif record.object != "Opportunity":
                    self._settle(session, record, now, moved=moved[key])
            for record in relinked:
                self._settle(session, record, now, moved=True)
            session.flush()
            for record in existing.values():
                if record.next_attempt_at is not None and record.state in ACTIVE_STATES:
                    result.due.add(record.id)
        return result

    def _load(
        self, session: Session, keys: set[tuple[str, str]] | Any
    ) -> dict[tuple[str, str], SyncRecord]:
        found: dict[tuple[str, str], SyncRecord] = {}
        by_object: dict[str, list[str]] = defaultdict(list)
        for object_name, sfid in keys:
            by_object[object_name].append(sfid)
        for object_name, sfids in by_object.items():
            for sfid, record in store.by_sfids(session, object_name, sfids, lock=True).items():
                found[(object_name, sfid)] = record
        return found

    def _create(
        self,
        session: Session,
        grouped: dict[tuple[str, str], list[Message]],
        existing: dict[tuple[str, str], SyncRecord],
        now: float,
        result: IntakeResult,
    ) -> dict[tuple[str, str], SyncRecord]:
        """New records for the entities seen for the first time, inserted together. An
        opportunity nobody asked to push is not kept."""
        wanted: list[store.NewRecord] = []
        for (object_name, sfid), batch in grouped.items():
            if (object_name, sfid) in existing:
                continue
            if object_name == "Opportunity" and not any(isinstance(m, PushRequest) for m in batch):
                result.ignored += len(batch)
                continue
            # Not born while billsync watched (a backfill, a re-read, a partial update): an
            # earlier tool may have made its LogiSense record, so the first write searches by
            # sfdcid and adopts what it finds. Records created in Salesforce under billsync's
            # eyes cost one LogiSense call.
            born = any(isinstance(m, ChangeMessage) and m.change_type == "CREATE" for m in batch)
            wanted.append(store.NewRecord(object_name, sfid, search_first=not born))
        created = store.add_records(session, wanted)
        for record in created.values():
            store.apply(
                session, record, lifecycle.received(record), worker=self.worker_id, at=now, now=now
            )
        return created

    def _merge(
        self, session: Session, record: SyncRecord, changes: list[ChangeMessage], now: float
    ) -> bool:
        snapshot = Snapshot(dict(record.values or {}), dict(record.stamps or {}))
        was_deleted, was_in_scope = snapshot.deleted, bool(record.in_scope)
        moved: set[str] = set()
        for message in changes:
            fields = changes_of(message.change_type, message.fields, message.nulled_fields)
            if message.change_type == "CREATE" or message.change_type == "SNAPSHOT":
                fields.setdefault("Id", message.record_id)
            stamp = stamp_of(message)
            self._pin_currency(record, snapshot, fields, stamp)
            moved |= snapshot.merge(fields, stamp)
        if not moved:
            return False
        record.values = snapshot.values
        record.stamps = snapshot.stamps
        record.version = (record.version or 0) + 1
        in_scope = bool(snapshot.get(SCOPE_FIELD)) and not snapshot.deleted
        if record.object != "Opportunity":
            record.in_scope = in_scope
        if snapshot.deleted != was_deleted:
            text = "deleted in Salesforce" if snapshot.deleted else "undeleted in Salesforce"
            trigger = Trigger.DELETED if snapshot.deleted else Trigger.UNDELETED
            self._apply(session, record, lifecycle.noted(record, trigger, text), now)
        elif record.object != "Opportunity" and in_scope != was_in_scope:
            text = "entered scope" if in_scope else f"left scope ({SCOPE_FIELD} is false)"
            self._apply(session, record, lifecycle.noted(record, Trigger.SCOPE, text), now)
        return True

    def _apply(
        self, session: Session, record: SyncRecord, change: lifecycle.Change, now: float
    ) -> None:
        store.apply(session, record, change, worker=self.worker_id, at=now, now=now)

    def _pin_currency(
        self,
        record: SyncRecord,
        snapshot: Snapshot,
        fields: dict[str, Any],
        stamp: tuple[int, int, int],
    ) -> None:
        """A synced account keeps its currency: a newer, different one is refused, not merged."""
        pinned = (record.pinned or {}).get("CurrencyIsoCode")
        if record.object != "Account" or not pinned or "CurrencyIsoCode" not in fields:
            return
        requested = fields["CurrencyIsoCode"]
        current = snapshot.stamps.get("CurrencyIsoCode")
        if requested == pinned or (current is not None and tuple(current) >= stamp):
            return
        del fields["CurrencyIsoCode"]
        snapshot.stamps["CurrencyIsoCode"] = list(stamp)
        record.rejection = currency_change_problem(pinned, str(requested))

    def _settle(self, session: Session, record: SyncRecord, now: float, *, moved: bool) -> None:
        """Decide whether the merged record needs work, and make it due if so."""
        if not moved and not record.rejection:
            return
        due = now
        pushed_at = (record.detail or {}).get(PUSHED_AT)
        if record.state == PUSHED and pushed_at is not None and now - pushed_at < self.coalesce_s:
            due = pushed_at + self.coalesce_s
        change = lifecycle.changed_in_salesforce(
            record,
            in_scope=bool(record.in_scope),
            needs_push=bool(record.rejection) or self._mapped_change(record),
            scheduled=record.next_attempt_at is not None,
            due_in=due - now,
        )
        if change is not None:
            self._apply(session, record, change, now)

    def _mapped_change(self, record: SyncRecord) -> bool:
        watched = self.field_map.watched(record.object) | {LINKS_FIELD}
        values = record.values or {}
        current = {k: values.get(k) for k in watched if k in values}
        pushed = record.pushed_values or {}
        return any(current.get(k) != pushed.get(k) for k in current.keys() | pushed.keys())

    def _request_push(
        self, session: Session, record: SyncRecord, requested_at: int, now: float
    ) -> None:
        record.push_requested_at = requested_at
        record.in_scope = True
        self._apply(session, record, lifecycle.push_requested(record), now)

    def _link_direct(self, session: Session, contacts: list[SyncRecord]) -> None:
        """Keep each contact's own AccountId as its one active direct link."""
        if not contacts:
            return
        existing = relations.direct_links(session, [c.sfid for c in contacts])
        for record in contacts:
            account = (record.values or {}).get("AccountId")
            stamp = (record.stamps or {}).get("AccountId", [0, 0])[0]
            links = existing.get(record.sfid, [])
            for link in links:
                link.active = link.account_sfid == account and not (record.values or {}).get(
                    DELETED
                )
            if account and not any(link.account_sfid == account for link in links):
                relations.add_direct_link(session, record.sfid, account, stamp)

    def _refresh_links(self, session: Session, contacts: list[SyncRecord]) -> None:
        """Copy each contact's linked accounts into its snapshot (a mapped field)."""
        if not contacts:
            return
        session.flush()
        linked = relations.linked_accounts_of(session, [c.sfid for c in contacts])
        for record in contacts:
            accounts = linked[record.sfid]
            values = dict(record.values or {})
            if values.get(LINKS_FIELD) != accounts:
                values[LINKS_FIELD] = accounts
                record.values = values

    def _apply_relations(
        self, session: Session, messages: list[ChangeMessage]
    ) -> set[tuple[str, str]]:
        """Record AccountContactRelation changes as contact links; return the contacts touched."""
        touched: set[tuple[str, str]] = set()
        for message in sorted(messages, key=stamp_of):
            relation = relations.relation(session, message.record_id)
            snapshot = Snapshot(dict(relation.values or {}), dict(relation.stamps or {}))
            fields = changes_of(message.change_type, message.fields, message.nulled_fields)
            snapshot.merge(fields, stamp_of(message))
            relation.values, relation.stamps = snapshot.values, snapshot.stamps
            relation.account_sfid = relation.account_sfid or snapshot.get("AccountId")
            relation.contact_sfid = relation.contact_sfid or snapshot.get("ContactId")
            if not relation.account_sfid or not relation.contact_sfid:
                continue
            active = snapshot.get("IsActive", True) is not False and not snapshot.deleted
            relations.set_link(
                session,
                relation.contact_sfid,
                relation.account_sfid,
                relation.sfid,
                active=active,
                stamp=message.commit_timestamp,
            )
            touched.add(("Contact", relation.contact_sfid))
        return touched
