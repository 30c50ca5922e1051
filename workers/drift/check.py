"""Drift: what LogiSense holds now against what Salesforce says, for every synced entity (SPEC §1).

A change made by hand in LogiSense is never copied back to Salesforce; Salesforce wins, and this
module lets the operator see where the two disagree and put Salesforce's values back. Three views
are compared per Account and Contact that billsync pushed: the Salesforce values (read again in
batches when Salesforce is configured, else the store's snapshot), the payload billsync last wrote
(``detail["written"]``), and the LogiSense record as it is now. LogiSense records carrying an
``sfdcid`` that the store does not know are reported too; records without one are never touched.

This module reads the three views and gathers the report; the rules deciding what LogiSense
should hold are in :mod:`workers.drift.compare`, and the repair (``repair``: re-queue each
drifted entity, after a ``SNAPSHOT`` of the Salesforce values when Salesforce was read) is in
:mod:`workers.drift.repair`. Both are re-exported here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adapters.store import record_reads, relations
from adapters.store import records as store
from adapters.store.db import Session, Sessions
from adapters.store.models import SyncRecord
from billsync import messages
from statemachine.fieldmap import SCOPE_FIELD, FieldMap
from statemachine.machine import PUSHED
from workers.drift.compare import (
    REFERENCE_KINDS,
    SELF_REFERENCE_KINDS,
    Difference,
    FieldComparison,
)
from workers.drift.repair import DRIFT_WORKER, mark_for_repush, repair, snapshot_message

if TYPE_CHECKING:
    from adapters.logisense import LogiSenseClient, ReferenceData
    from adapters.salesforce.rest import SalesforceClient

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DRIFT_OBJECTS",
    "DRIFT_WORKER",
    "REFERENCE_KINDS",
    "SELF_REFERENCE_KINDS",
    "Difference",
    "DriftChecker",
    "DriftReport",
    "Progress",
    "mark_for_repush",
    "repair",
    "snapshot_message",
]

DRIFT_OBJECTS = ("Account", "Contact")
DEFAULT_BATCH_SIZE = 200

Progress = Callable[[str, int, int | None], None]


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
        sessions: Sessions,
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
        self.rules = FieldComparison(field_map, salesforce_read=salesforce is not None)

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
            return record_reads.count_synced(session, object_name)

    def _batches(self, object_name: str) -> Iterator[list[SyncRecord]]:
        last = 0
        while True:
            with self.sessions() as session:
                batch = record_reads.synced_after(session, object_name, last, self.batch_size)
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
            found = self.rules.store_behind(record, values)
            if values.get(SCOPE_FIELD):
                found += self.rules.compare(record, values, remote, reference, linked)
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
        read = self.salesforce.records_by_ids(
            object_name, [r.sfid for r in records], fields, paced=True
        )
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
        for contact, account in relations.active_links(session, [r.sfid for r in records]):
            links[contact].add(account)
        accounts = store.by_sfids(session, "Account", {a for s in links.values() for a in s})
        return {"accounts": accounts, "links": links}

    def _report_unknown(
        self, object_name: str, remote: dict[int, dict[str, Any]], report: DriftReport
    ) -> None:
        with self.sessions() as session:
            known = record_reads.all_sfids(session, object_name)
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
