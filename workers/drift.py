"""Drift: what LogiSense holds now against what Salesforce says, for every synced entity (SPEC §1).

A change made by hand in LogiSense is never copied back to Salesforce; Salesforce wins, and this
module lets the operator see where the two disagree and put Salesforce's values back. Three views
are compared per Account and Contact that billsync pushed: the Salesforce values (read again in
batches when Salesforce is configured, else the store's snapshot), the payload billsync last wrote
(``detail["written"]``), and the LogiSense record as it is now. LogiSense records carrying an
``sfdcid`` that the store does not know are reported too; records without one are never touched.

The repair (``repair``) re-queues each drifted entity: it forgets the drifted fields from the
written payload (so the worker's diff sends them again) and moves the entity ``pushed -> pending``
in one transaction, after enqueueing a ``SNAPSHOT`` change with the Salesforce values when
Salesforce was read.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.store import records as store
from adapters.store.models import ContactLink, SyncRecord
from billsync import messages
from statemachine.fieldmap import SCOPE_FIELD, FieldMap
from statemachine.machine import FAILED, PUSHED

if TYPE_CHECKING:
    from adapters.logisense import LogiSenseClient, ReferenceData
    from adapters.salesforce.rest import SalesforceClient

DRIFT_OBJECTS = ("Account", "Contact")
DEFAULT_BATCH_SIZE = 200
DRIFT_WORKER = "drift"
#: Reference lookups by the "how resolved" kind of the field map.
REFERENCE_KINDS = ("currency", "account_status", "bill_group", "ar_term")
SELF_REFERENCE_KINDS = ("invoicer",)

Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class Difference:
    """One disagreement, in the operator's words.

    ``kind``: ``field`` (LogiSense differs from Salesforce), ``store-behind`` (the store's snapshot
    missed a Salesforce change), ``missing`` (the LogiSense record billsync created is gone) or
    ``unknown`` (a LogiSense record with an ``sfdcid`` the store has never seen).
    """

    kind: str
    object: str
    sfid: str | None
    logisense_id: int | None
    field: str
    salesforce: Any = None
    expected: Any = None
    written: Any = None
    logisense: Any = None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return asdict(self)


@dataclass
class DriftReport:
    """Everything one drift run found, and what a repair needs to act on it."""

    source: str
    checked: int = 0
    differences: list[Difference] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    logisense_only: int = 0
    #: Salesforce values (and the time they were read, ms) of each drifted entity.
    salesforce_values: dict[tuple[str, str], tuple[dict[str, Any], int]] = field(
        default_factory=dict
    )

    def drifted(self) -> dict[tuple[str, str], list[Difference]]:
        """Differences of entities billsync can repair, by (object, Salesforce id)."""
        found: dict[tuple[str, str], list[Difference]] = defaultdict(list)
        for difference in self.differences:
            if difference.kind in ("field", "store-behind") and difference.sfid:
                found[(difference.object, difference.sfid)].append(difference)
        return dict(found)

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "source": self.source,
            "checked": self.checked,
            "drift": bool(self.differences),
            "differences": [d.as_json() for d in self.differences],
            "skipped": dict(self.skipped),
            "logisense_only_accounts": self.logisense_only,
        }


class DriftChecker:
    """Compares Salesforce (or the store's snapshot), the store and LogiSense; reads only."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        logisense: LogiSenseClient,
        field_map: FieldMap,
        *,
        salesforce: SalesforceClient | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None,
    ) -> None:
        self.sessions = sessions
        self.logisense = logisense
        self.salesforce = salesforce
        self.field_map = field_map
        self.batch_size = batch_size
        self.progress = progress or (lambda stage, done, total: None)

    def run(self) -> DriftReport:
        """Check every pushed Account and Contact that has a LogiSense id."""
        report = DriftReport(source="salesforce" if self.salesforce else "store")
        reference = self.logisense.reference_data()
        for object_name in DRIFT_OBJECTS:
            remote = self._read_logisense(object_name)
            self._check_object(object_name, remote, reference, report)
            self._report_unknown(object_name, remote, report)
        return report

    def _read_logisense(self, object_name: str) -> dict[int, dict[str, Any]]:
        iterate = (
            self.logisense.iter_accounts
            if object_name == "Account"
            else self.logisense.iter_contacts
        )
        found: dict[int, dict[str, Any]] = {}
        for record in iterate():
            found[int(record["identity"])] = record
            if len(found) % 500 == 0:
                self.progress(f"reading LogiSense {object_name}s", len(found), None)
        self.progress(f"reading LogiSense {object_name}s", len(found), len(found))
        return found

    def _check_object(
        self,
        object_name: str,
        remote: dict[int, dict[str, Any]],
        reference: ReferenceData,
        report: DriftReport,
    ) -> None:
        total = self._count(object_name)
        done = 0
        for batch in self._batches(object_name):
            with self.sessions() as session:
                self._check_batch(session, object_name, batch, remote, reference, report)
            done += len(batch)
            self.progress(f"comparing {object_name}s", done, total)

    def _count(self, object_name: str) -> int:
        with self.sessions() as session:
            query = select(func.count()).where(
                SyncRecord.object == object_name, SyncRecord.ls_id.is_not(None)
            )
            return int(session.scalar(query) or 0)

    def _batches(self, object_name: str) -> Iterator[list[SyncRecord]]:
        last = 0
        while True:
            with self.sessions() as session:
                batch = list(
                    session.scalars(
                        select(SyncRecord)
                        .where(
                            SyncRecord.object == object_name,
                            SyncRecord.ls_id.is_not(None),
                            SyncRecord.id > last,
                        )
                        .order_by(SyncRecord.id)
                        .limit(self.batch_size)
                    )
                )
            if not batch:
                return
            last = batch[-1].id
            yield batch

    def _check_batch(
        self,
        session: Session,
        object_name: str,
        batch: list[SyncRecord],
        remote: dict[int, dict[str, Any]],
        reference: ReferenceData,
        report: DriftReport,
    ) -> None:
        eligible = []
        for record in batch:
            if record.state != PUSHED:
                report.skipped[f"state {record.state}"] += 1
            elif not record.in_scope:
                report.skipped["out of scope"] += 1
            else:
                eligible.append(record)
        read_ms = messages.now_ms()
        truth = self._salesforce_values(object_name, eligible)
        linked = self._linked(session, object_name, eligible, truth)
        for record in eligible:
            values = truth.get(record.sfid)
            if values is None:
                report.skipped["not found in Salesforce"] += 1
                continue
            report.checked += 1
            found = self._store_behind(record, values)
            if values.get(SCOPE_FIELD):
                found += self._compare(record, values, remote, reference, linked)
            if found:
                report.differences.extend(found)
                report.salesforce_values[(object_name, record.sfid)] = (values, read_ms)

    def _salesforce_values(
        self, object_name: str, records: list[SyncRecord]
    ) -> dict[str, dict[str, Any]]:
        if self.salesforce is None:
            return {r.sfid: dict(r.values or {}) for r in records}
        if not records:
            return {}
        fields = self.field_map.salesforce_fields(object_name)
        read = self.salesforce.records_by_ids(object_name, [r.sfid for r in records], fields)
        by_prefix = {sfid[:15]: values for sfid, values in read.items()}
        return {
            r.sfid: values
            for r in records
            if (values := read.get(r.sfid) or by_prefix.get(r.sfid[:15])) is not None
        }

    def _linked(
        self,
        session: Session,
        object_name: str,
        records: list[SyncRecord],
        truth: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        """Account records the batch refers to, and (for contacts) their account links."""
        if object_name == "Account":
            fields = [sf for sf, (_, kind) in self.field_map.account_resolved.items()]
            wanted = {
                value
                for r in records
                for f in fields
                if isinstance(value := truth.get(r.sfid, {}).get(f), str)
                and messages.is_salesforce_id(value)
            }
            return {"accounts": store.by_sfids(session, "Account", wanted), "links": {}}
        links: dict[str, set[str]] = defaultdict(set)
        rows = session.execute(
            select(ContactLink.contact_sfid, ContactLink.account_sfid).where(
                ContactLink.contact_sfid.in_([r.sfid for r in records]),
                ContactLink.active.is_(True),
            )
        )
        for contact, account in rows:
            links[contact].add(account)
        accounts = store.by_sfids(session, "Account", {a for s in links.values() for a in s})
        return {"accounts": accounts, "links": links}

    def _store_behind(self, record: SyncRecord, values: dict[str, Any]) -> list[Difference]:
        if self.salesforce is None:
            return []
        stored = record.values or {}
        return [
            Difference(
                kind="store-behind",
                object=record.object,
                sfid=record.sfid,
                logisense_id=record.ls_id,
                field=name,
                salesforce=values.get(name),
                expected=values.get(name),
                written=stored.get(name),
                note="the store missed this Salesforce change",
            )
            for name in sorted(self.field_map.watched(record.object) - {"Id"})
            if name in values and _norm(values.get(name)) != _norm(stored.get(name))
        ]

    def _compare(
        self,
        record: SyncRecord,
        values: dict[str, Any],
        remote: dict[int, dict[str, Any]],
        reference: ReferenceData,
        linked: dict[str, Any],
    ) -> list[Difference]:
        assert record.ls_id is not None
        actual = remote.get(int(record.ls_id))
        if actual is None:
            noun = record.object.lower()
            return [
                Difference(
                    kind="missing",
                    object=record.object,
                    sfid=record.sfid,
                    logisense_id=record.ls_id,
                    field="",
                    note=f"LogiSense has no {noun} {record.ls_id}; not repaired automatically",
                )
            ]
        written = (record.detail or {}).get("written") or {}
        if record.object == "Account":
            expected = self._account_expected(record, values, reference, linked["accounts"])
        else:
            expected = self._contact_expected(record, values, written, linked)
        found = []
        for ls_name, (sf_name, want) in sorted(expected.items()):
            have = actual.get(ls_name)
            if ls_name == "accountIds":
                if not set(want) - set(have or []):
                    continue
            elif _norm(want) == _norm(have):
                continue
            found.append(
                Difference(
                    kind="field",
                    object=record.object,
                    sfid=record.sfid,
                    logisense_id=record.ls_id,
                    field=ls_name,
                    salesforce=values.get(sf_name) if sf_name else want,
                    expected=want,
                    written=written.get(ls_name),
                    logisense=have,
                    note=_name_note(actual, ls_name, sf_name),
                )
            )
        return found

    def _account_expected(
        self,
        record: SyncRecord,
        values: dict[str, Any],
        reference: ReferenceData,
        accounts: dict[str, SyncRecord],
    ) -> dict[str, tuple[str | None, Any]]:
        """LogiSense field -> (Salesforce field, the value LogiSense should hold)."""
        expected: dict[str, tuple[str | None, Any]] = {"sfdcid": ("Id", record.sfid)}
        for sf_name, ls_name in self.field_map.account_plain.items():
            if sf_name != "Id":
                expected[ls_name] = (sf_name, values.get(sf_name))
        lookups = {
            "currency": reference.currencies,
            "account_status": reference.account_statuses,
            "bill_group": reference.bill_groups,
            "ar_term": reference.ar_terms,
        }
        for sf_name, (ls_name, kind) in self.field_map.account_resolved.items():
            value = values.get(sf_name)
            if kind in lookups:
                resolved = lookups[kind].get(value) if value else None
                if value and resolved is None:
                    continue  # unknown reference name: a rule failure, not drift
                expected[ls_name] = (sf_name, resolved)
            elif not value or value == record.sfid:
                own = record.ls_id if kind in SELF_REFERENCE_KINDS else None
                expected[ls_name] = (sf_name, own)
            elif (target := accounts.get(value)) is not None and target.ls_id is not None:
                expected[ls_name] = (sf_name, target.ls_id)
        return expected

    def _contact_expected(
        self,
        record: SyncRecord,
        values: dict[str, Any],
        written: dict[str, Any],
        linked: dict[str, Any],
    ) -> dict[str, tuple[str | None, Any]]:
        expected: dict[str, tuple[str | None, Any]] = {"sfdcid": ("Id", record.sfid)}
        for sf_name, ls_name in self.field_map.contact_plain.items():
            if sf_name != "Id":
                expected[ls_name] = (sf_name, values.get(sf_name))
        accounts = linked["accounts"]
        ids = {
            int(a.ls_id)
            for sfid in linked["links"].get(record.sfid, ())
            if (a := accounts.get(sfid)) is not None and a.in_scope and a.ls_id is not None
        }
        ids |= {int(i) for i in written.get("accountIds") or []}
        expected["accountIds"] = (None, sorted(ids))
        return expected

    def _report_unknown(
        self, object_name: str, remote: dict[int, dict[str, Any]], report: DriftReport
    ) -> None:
        with self.sessions() as session:
            known = set(
                session.scalars(select(SyncRecord.sfid).where(SyncRecord.object == object_name))
            )
        known_prefixes = {k[:15] for k in known}
        sfdcid_field = self.logisense.session.names.sfdcid_field
        for identity, record in sorted(remote.items()):
            sfdcid = record.get(sfdcid_field)
            if not sfdcid:
                if object_name == "Account":
                    report.logisense_only += 1
                continue
            if sfdcid in known or str(sfdcid)[:15] in known_prefixes:
                continue
            report.differences.append(
                Difference(
                    kind="unknown",
                    object=object_name,
                    sfid=str(sfdcid),
                    logisense_id=identity,
                    field="sfdcid",
                    logisense=sfdcid,
                    note="an sfdcid billsync never synced",
                )
            )


def repair(
    report: DriftReport,
    sessions: sessionmaker[Session],
    *,
    publish: Callable[[list[messages.ChangeMessage]], int] | None = None,
) -> list[str]:
    """Re-queue every drifted entity so that a worker writes Salesforce's values again.

    When Salesforce was read, a ``SNAPSHOT`` change carrying its values is published first
    (stamped with the time of the read, so a change committed after the read still wins).
    Returns the Salesforce ids re-queued.
    """
    drifted = report.drifted()
    if publish is not None and report.source == "salesforce":
        snapshots = [
            snapshot_message(object_name, sfid, *report.salesforce_values[(object_name, sfid)])
            for object_name, sfid in drifted
            if (object_name, sfid) in report.salesforce_values
        ]
        if snapshots:
            publish(snapshots)
    requeued = []
    for (object_name, sfid), differences in drifted.items():
        fields = [d.field for d in differences if d.kind == "field"]
        reason = "drift repair: LogiSense differs in " + (", ".join(fields) or "nothing")
        if all(d.kind == "store-behind" for d in differences):
            reason = "drift repair: the store missed a Salesforce change"
        if mark_for_repush(sessions, object_name, sfid, fields, reason=reason):
            requeued.append(sfid)
    return requeued


def snapshot_message(
    object_name: str, sfid: str, values: dict[str, Any], read_ms: int
) -> messages.ChangeMessage:
    """A ``SNAPSHOT`` change with Salesforce's values as read at ``read_ms``."""
    fields = {
        k: v
        for k, v in values.items()
        if k != "Id" and not k.startswith("_") and (v is None or isinstance(v, str | int | float))
    }
    return messages.change(
        object_name,
        sfid,
        fields,
        change_type="SNAPSHOT",
        commit_timestamp=read_ms,
        source="reconcile",
    )


def mark_for_repush(
    sessions: sessionmaker[Session],
    object_name: str,
    sfid: str,
    ls_fields: Iterable[str],
    *,
    reason: str,
    clock: Callable[[], float] = time.time,
) -> bool:
    """In one transaction: forget ``ls_fields`` from the written payload and, for a pushed entity,
    move it ``pushed -> pending`` now. False when the entity is failed or gone (nothing done)."""
    with sessions.begin() as session:
        record = store.by_sfids(session, object_name, [sfid]).get(sfid)
        if record is None or record.state == FAILED:
            return False
        now = clock()
        detail = dict(record.detail or {})
        written = dict(detail.get("written") or {})
        for name in ls_fields:
            written.pop(name, None)
        detail["written"] = written
        record.detail = detail
        if record.state == PUSHED:
            store.fire(session, record, "change", reason=reason, worker=DRIFT_WORKER, at=now)
            record.attempts = 0
            record.next_attempt_at = now
        else:
            store.note(session, record, "drift", reason, worker=DRIFT_WORKER, at=now)
        return True


def _norm(value: Any) -> Any:
    """Compare "" like None, and 5.0 like 5, as LogiSense and Salesforce render them."""
    if value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _name_note(actual: dict[str, Any], ls_name: str, sf_name: str | None) -> str:
    """For an id field, the name LogiSense shows beside it (``billGroupId``: ``billGroupName``)."""
    if ls_name.endswith("Id") and f"{ls_name[:-2]}Name" in actual:
        return f"LogiSense shows {actual[f'{ls_name[:-2]}Name']!r}"
    return f"Salesforce field {sf_name}" if sf_name and sf_name != "Id" else ""
