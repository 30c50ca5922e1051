"""What the per-object syncs share: leased transactions, transitions, waits and outcomes.

A sync runs in three short phases so that no database transaction stays open during a call to an
outside system: *plan* (read the record and its dependencies, validate, record transitions and
waits), *write* (the LogiSense calls, no transaction), *settle* (record the outcome, the next
transitions, wake whoever waited for this entity). A lease taken by the engine keeps other workers
away meanwhile; if it was lost, the settle phase changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from adapters.store import leases
from adapters.store import records as store
from adapters.store.db import Session
from adapters.store.models import SyncRecord
from billsync.errors import RemoteRejected, TransientError
from statemachine import lifecycle
from statemachine.machine import ACCOUNT_SYNCED, VALIDATED
from workers.sync.context import SyncContext
from workers.sync.intake import LINKS_FIELD, PUSHED_AT
from workers.sync.outcomes import log_outcome, log_released


class LeaseLost(Exception):
    """Another worker took the entity over (our lease expired); stop quietly."""


@dataclass
class BatchScope:
    """One transaction shared by the entities of a batch: their records, loaded (and locked)
    together, by id."""

    session: Session
    records: dict[int, SyncRecord]
    #: Entities whose waiters are woken once, at the end of the batch.
    wake: list[str] = field(default_factory=list)
    #: Contacts of the batch's accounts, read once (account id -> contact id -> record).
    contacts: dict[str, dict[str, SyncRecord]] | None = None


_BATCH = threading.local()


@contextmanager
def batch_transaction(scope: BatchScope) -> Iterator[BatchScope]:
    """Make ``owned`` use the batch's transaction and records on this thread."""
    _BATCH.scope = scope
    try:
        yield scope
    finally:
        _BATCH.scope = None


@dataclass
class Wait:
    """This entity needs ``target`` first; ``why`` is shown by ``billsync status``."""

    target: str
    kind: str
    why: str


@dataclass
class Plan:
    """What the write phase must do, decided in the plan phase."""

    record_id: int
    version: int
    values: dict[str, Any]
    payload: dict[str, Any] = field(default_factory=dict)
    ls_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ObjectSync:
    """Base of AccountSync, ContactSync and OpportunitySync: every lifecycle event goes through
    ``statemachine.lifecycle`` and is written by the store."""

    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self._local = threading.local()

    def run(self, record_id: int, lease_version: int | None = None) -> bool:
        """``advance`` the entity under the lease ``lease_version`` (the fencing token its claim
        returned); True when it ended by giving its lease back (the normal end of every path),
        so the engine need not release it again."""
        self._local.released = False
        self._local.lease_version = lease_version
        self.advance(record_id)
        return bool(self._local.released)

    #: Whether ``plan``/``write``/``settle`` may run for many entities of a batch together.
    batchable: ClassVar[bool] = False

    def advance(self, record_id: int) -> None:
        """Move the entity as far as it can go now: plan, write, settle."""
        plan = self.plan(record_id)
        if plan is not None:
            self.settle(plan, self.write(plan))

    def plan(self, record_id: int) -> Plan | None:
        """Read and validate; record a rejection or a wait at once (None), or say what to
        write."""
        raise NotImplementedError

    def write(self, plan: Plan) -> Any:
        """The calls to LogiSense (no transaction is open)."""
        raise NotImplementedError

    def settle(self, plan: Plan, written: Any) -> None:
        """Record the outcome of ``write`` with every transition it completes."""
        raise NotImplementedError

    @contextmanager
    def owned(self, record_id: int) -> Iterator[tuple[Session, SyncRecord]]:
        """A transaction on the record, if this worker still holds the lease it took; inside a
        batch (``batch_transaction``), the batch's transaction."""
        batch = getattr(_BATCH, "scope", None)
        if batch is not None:
            record = batch.records.get(record_id)
            if record is None or record.lease_owner != self.ctx.worker_id:
                raise LeaseLost(record_id)
            yield batch.session, record
            return
        with self.ctx.sessions.begin() as session:
            record = leases.load_owned(
                session,
                record_id,
                self.ctx.worker_id,
                getattr(self._local, "lease_version", None),
            )
            if record is None:
                raise LeaseLost(record_id)
            yield session, record
        self._local.released = record.lease_owner is None

    def planned(
        self, record: SyncRecord, values: dict[str, Any], payload: dict[str, Any], **extra: Any
    ) -> Plan:
        """The write to do for ``record``: ``payload`` from ``values``; ``extra`` holds the
        record's Salesforce id (``sfid``) and whatever else the write needs."""
        return Plan(
            record_id=record.id,
            version=record.version,
            values=values,
            payload=payload,
            ls_id=record.ls_id,
            extra={"sfid": record.sfid, **extra},
        )

    def apply(self, session: Session, record: SyncRecord, change: lifecycle.Change) -> None:
        """Write a lifecycle change and log the entity's outcome."""
        now = self.ctx.clock()
        woken = store.apply(session, record, change, worker=self.ctx.worker_id, at=now, now=now)
        log_outcome(record, change)
        log_released(woken, record.sfid)

    def moves(
        self, session: Session, record: SyncRecord, rows: Sequence[lifecycle.HistoryRow]
    ) -> None:
        """Record moves that need nothing else (validate, sync_account)."""
        store.record_moves(session, record, rows, worker=self.ctx.worker_id, at=self.ctx.clock())

    def reject(
        self,
        session: Session,
        record: SyncRecord,
        problems: Sequence[str],
        *,
        count_attempt: bool = False,
    ) -> None:
        """A rule failed or LogiSense refused for good: failed now, no retry."""
        reason = " ".join(problems)
        if record.waiting_for is None:
            # Waits can exist without a text (a contact's own); clear them all the same.
            store.set_waits(session, record, [], now=self.ctx.clock())
        self.apply(session, record, lifecycle.rejected(record, reason, count_attempt=count_attempt))

    def wake(self, session: Session, sfid: str) -> None:
        """Make whoever waits for ``sfid`` due now (inside a batch: once, at its end)."""
        batch = getattr(_BATCH, "scope", None)
        if batch is not None:
            batch.wake.append(sfid)
            return
        log_released(store.wake_waiters(session, sfid, now=self.ctx.clock()), sfid)

    def contacts_of(self, session: Session, account_sfid: str) -> dict[str, SyncRecord]:
        """The contacts an active link relates to the account (a batch reads them once)."""
        batch = getattr(_BATCH, "scope", None)
        if batch is not None and batch.contacts is not None and account_sfid in batch.contacts:
            return batch.contacts[account_sfid]
        return store.contacts_of(session, account_sfid)

    def first_create(self, record: SyncRecord) -> bool:
        """Whether the write will be this entity's first LogiSense create; if so, records
        "create attempted" now, in the plan transaction, before the create is sent.

        No create ever attempted means none can have happened, so the write skips the search by
        ``sfdcid`` (one call per new entity instead of two). Every later attempt searches first:
        a create whose answer was lost is found, never repeated. A record that existed before
        billsync saw it (first seen through a backfill, a re-read or a partial update: the intake
        sets ``create_attempted_at`` to 0) searches first too, since an earlier tool may have made
        it in LogiSense: it is adopted, not copied.
        """
        if record.ls_id is not None or record.create_attempted_at is not None:
            return False
        record.create_attempted_at = self.ctx.clock()
        return True

    def changed(self, session: Session, record: SyncRecord, reason: str) -> None:
        """A pushed or failed entity has something new to carry (not leased by this worker)."""
        self.apply(session, record, lifecycle.changed(record, reason))

    def validated(self, session: Session, record: SyncRecord) -> None:
        """pending -> validated (rules passed); other states stay."""
        self.moves(session, record, lifecycle.validated(record))

    def wait(self, session: Session, record: SyncRecord, waits: Sequence[Wait]) -> None:
        """Park the entity until each ``target`` is ready; they wake it."""
        store.set_waits(session, record, [(w.target, w.kind) for w in waits], now=self.ctx.clock())
        text = "; ".join(f"waits for {w.kind} {w.target}: {w.why}" for w in waits)
        self.apply(session, record, lifecycle.waiting(record, text))

    def clear_waits(self, session: Session, record: SyncRecord) -> None:
        """Nothing to wait for any more."""
        if record.waiting_for:
            store.set_waits(session, record, [], now=self.ctx.clock())
            record.waiting_for = None

    def account_synced(self, session: Session, record: SyncRecord, reason: str) -> None:
        """validated -> account-synced."""
        if record.state == VALIDATED:
            self.moves(session, record, lifecycle.account_synced(record, reason))

    def pushed(
        self, session: Session, record: SyncRecord, plan: Plan, reason: str, *, woken: bool = False
    ) -> None:
        """account-synced -> pushed; goes round again if a mapped change came in meanwhile."""
        was = record.state
        change = lifecycle.pushed(
            record,
            reason,
            newer_change=record.version != plan.version,
            in_scope=bool(record.in_scope),
            coalesce_s=self.ctx.coalesce_s,
        )
        now = self.ctx.clock()
        record.pushed_version = plan.version
        record.detail = {**(record.detail or {}), PUSHED_AT: now}
        if not woken:
            self.wake(session, record.sfid)
        self.apply(session, record, change)
        if was == ACCOUNT_SYNCED:
            for observe in self.ctx.push_observers:
                observe(record)


@dataclass(frozen=True)
class Remote:
    """The LogiSense calls for one kind of record that carries its Salesforce id (``sfdcid``)."""

    find: Callable[[str], dict[str, Any] | None]
    create: Callable[[dict[str, Any]], dict[str, Any]]
    update: Callable[[int, dict[str, Any]], None]


class RecordSync(ObjectSync):
    """Base of AccountSync and ContactSync: one LogiSense record per Salesforce record, found by
    its ``sfdcid``; created once, then only its changed fields written. A subclass plans (rules,
    waits, payload) and says what happens once the record is written."""

    batchable = True
    #: The Salesforce object synced ("Account", "Contact").
    sobject: ClassVar[str]

    def remote(self) -> Remote:
        """The LogiSense calls for this kind of record."""
        raise NotImplementedError

    def planned(
        self, record: SyncRecord, values: dict[str, Any], payload: dict[str, Any], **extra: Any
    ) -> Plan:
        """The write to do for ``record`` (recording now whether it is the first create)."""
        written = (record.detail or {}).get("written")
        first = self.first_create(record)
        return super().planned(
            record, values, payload, written=written, first_create=first, **extra
        )

    def write(self, plan: Plan) -> tuple[bool, int]:
        """Update what billsync wrote last, or adopt the record found by ``sfdcid``, or create
        it: (created, LogiSense id)."""
        remote = self.remote()
        if plan.ls_id is not None:
            changes = diff(plan.payload, plan.extra.get("written"))
            if changes:
                remote.update(plan.ls_id, changes)
            return False, plan.ls_id
        first = plan.extra.get("first_create")
        existing = None if first else remote.find(plan.extra["sfid"])
        if existing is None:
            created = create_once(
                remote.create, {k: v for k, v in plan.payload.items() if v is not None}
            )
            return True, int(created["identity"])
        identity = int(existing["identity"])
        payload, have = self.adopted(plan.payload, existing)
        changes = diff(payload, have)
        if changes:
            remote.update(identity, changes)
        plan.payload = payload
        return False, identity

    def adopted(
        self, payload: dict[str, Any], existing: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """For a record found in LogiSense: what to write, and what to compare it with."""
        return payload, existing

    def recorded(
        self, session: Session, record: SyncRecord, plan: Plan, written: tuple[bool, int]
    ) -> str:
        """Record the write on the entity (its LogiSense id, what was written, the watched values
        it carried), validated and waiting for nothing; says what LogiSense holds now."""
        created, ls_id = written
        record.ls_id = ls_id
        record.detail = {**(record.detail or {}), "written": plan.payload}
        watched = self.ctx.field_map.watched(self.sobject) | {LINKS_FIELD}
        record.pushed_values = {k: plan.values.get(k) for k in watched if k in plan.values}
        self.validated(session, record)
        self.clear_waits(session, record)
        verb = "created" if created else "current"
        return f"LogiSense {self.sobject.lower()} {ls_id} {verb}"


def dependency_why(record: SyncRecord | None) -> str:
    """Why a dependency is not ready yet, in words for the operator."""
    if record is None:
        return "not seen from Salesforce yet"
    if not record.in_scope:
        return "not in scope (LogiSense_Sync__c is false, or deleted)"
    if record.state == "failed":
        return f"failed: {record.last_error or 'see its status'}"
    return f"not in LogiSense yet (state {record.state})"


def create_once(
    create: Callable[[dict[str, Any]], dict[str, Any]], payload: dict[str, Any]
) -> dict[str, Any]:
    """Create a record; if LogiSense says one with this sfdcid exists already (409: another
    attempt got there first), retry, and the retry finds it by sfdcid instead of creating."""
    try:
        return create(payload)
    except RemoteRejected as exc:
        if exc.status == 409:
            raise TransientError(
                f"LogiSense already holds {payload.get('sfdcid')}; looking it up again"
            ) from None
        raise


def diff(payload: dict[str, Any], written: dict[str, Any] | None) -> dict[str, Any]:
    """The fields of ``payload`` whose value differs from what was last written."""
    before = written or {}
    return {k: v for k, v in payload.items() if before.get(k, _UNSET) != v}


_UNSET = object()
