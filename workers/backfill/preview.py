"""``billsync backfill --dry-run``: what a backfill would do, with the reasons, writing nothing.

It reads Salesforce exactly as a backfill does, then judges each record as the worker would:
the rules of SPEC §3 (with LogiSense's reference data), the store's record of what was last
pushed, and LogiSense's accounts and contacts by ``sfdcid``. Nothing is written anywhere: no
message is published, the store is opened read-only and not even migrated (a store that does not
exist yet is simply empty), and LogiSense is only read.

Outcomes: ``create`` (new in LogiSense), ``update`` (a mapped field differs from what LogiSense
holds, or an account or contact made by an earlier tool would be adopted), ``unchanged``,
``fail`` (a rule fails: the reasons say what to fix in Salesforce), and ``skip`` (won
opportunities: pushed only on request).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from adapters.logisense import LogiSenseClient
from adapters.store import record_reads
from adapters.store.db import Sessions
from adapters.store.models import SyncRecord
from billsync.sfid import canonical_or_none
from statemachine.fieldmap import FieldMap
from statemachine.rules import account_problems, contact_problems
from workers.backfill.source import BackfillSource
from workers.ingest.events import READ_ONLY_STAMPS, flatten_fields

OUTCOMES = ("create", "update", "unchanged", "fail", "skip")


@dataclass(frozen=True)
class Verdict:
    """One record's outcome and why."""

    object: str
    sfid: str
    name: str
    outcome: str
    reason: str = ""


@dataclass
class Preview:
    """Counts by object and outcome, and every verdict that carries a reason."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    notes: list[Verdict] = field(default_factory=list)

    def add(self, verdict: Verdict) -> None:
        """Count one verdict (and keep it when it says why)."""
        self.counts[(verdict.object, verdict.outcome)] += 1
        if verdict.reason:
            self.notes.append(verdict)

    def totals(self) -> dict[str, int]:
        """Counts by outcome over every object."""
        out = dict.fromkeys(OUTCOMES, 0)
        for (_object, outcome), n in self.counts.items():
            out[outcome] += n
        return out


class BackfillPreview:
    """Judges what a backfill would do (see the module docstring)."""

    def __init__(
        self,
        source: BackfillSource,
        logisense: LogiSenseClient,
        field_map: FieldMap,
        sessions: Sessions | None,
    ) -> None:
        self.source = source
        self.logisense = logisense
        self.field_map = field_map
        self.sessions = sessions
        self._existing: dict[str, dict[str, dict[str, Any]]] = {}

    def run(self, objects: Iterable[str]) -> Preview:
        """Read every in-scope record of ``objects`` and judge it."""
        preview = Preview()
        reference = self.logisense.reference_data()
        for object_name in objects:
            total = self.source.count(object_name)
            position = self.source.start(object_name, total)
            for page in self.source.pages(position):
                records = [_flat(r) for r in page.records]
                stored = self._stored(object_name, [str(r["Id"]) for r in records])
                for values in records:
                    preview.add(self._judge(object_name, values, stored, reference))
        return preview

    def _judge(
        self,
        object_name: str,
        values: dict[str, Any],
        stored: dict[str, SyncRecord],
        reference: Any,
    ) -> Verdict:
        sfid = canonical_or_none(values.get("Id")) or str(values.get("Id"))
        name = str(
            values.get("Name")
            or " ".join(str(values[k]) for k in ("FirstName", "LastName") if values.get(k))
        )
        if object_name == "Opportunity":
            return Verdict(object_name, sfid, name, "skip", "")
        if object_name == "AccountContactRelation":
            return Verdict(object_name, sfid, name, "update" if sfid not in stored else "unchanged")
        problems = (
            account_problems(values, reference)
            if object_name == "Account"
            else contact_problems(values)
        )
        if problems:
            return Verdict(object_name, sfid, name, "fail", " ".join(problems))
        record = stored.get(sfid)
        watched = self.field_map.watched(object_name)
        if record is not None and record.pushed_values is not None:
            pushed = record.pushed_values
            differs = sorted(k for k in watched if k in values and values.get(k) != pushed.get(k))
            if not differs:
                return Verdict(object_name, sfid, name, "unchanged")
            return Verdict(object_name, sfid, name, "update", "changed: " + ", ".join(differs))
        existing = self._logisense(object_name).get(sfid)
        if existing is not None:
            identity = existing.get("identity") or existing.get("id")
            return Verdict(
                object_name,
                sfid,
                name,
                "update",
                f"adopts LogiSense {object_name.lower()} {identity}, which already carries "
                "this sfdcid",
            )
        return Verdict(object_name, sfid, name, "create")

    def _stored(self, object_name: str, ids: list[str]) -> dict[str, SyncRecord]:
        if self.sessions is None or object_name not in ("Account", "Contact") or not ids:
            return {}
        wanted = [canonical_or_none(i) or i for i in ids]
        with self.sessions() as session:
            return record_reads.detached(session, object_name, wanted)

    def _logisense(self, object_name: str) -> dict[str, dict[str, Any]]:
        """LogiSense's accounts or contacts by sfdcid (read once, only if needed)."""
        if object_name not in self._existing:
            rows = (
                self.logisense.iter_accounts()
                if object_name == "Account"
                else self.logisense.iter_contacts()
            )
            by_id: dict[str, dict[str, Any]] = {}
            for row in rows:
                full = canonical_or_none(row.get("sfdcid"))
                if full is not None:
                    by_id[full] = row
            self._existing[object_name] = by_id
        return self._existing[object_name]


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    values = flatten_fields({k: v for k, v in record.items() if k not in READ_ONLY_STAMPS})
    return {
        k: (canonical_or_none(v) or v) if k.endswith(("Id", "__c")) else v
        for k, v in values.items()
    }
