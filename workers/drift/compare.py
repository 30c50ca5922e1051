"""Drift comparison rules: what LogiSense should hold for a synced entity, and where it differs.

Salesforce wins, so the expected LogiSense values are derived from the Salesforce values through
the field map: plain fields copied, reference names (currency, status, bill group, AR terms)
resolved through LogiSense's reference data, account lookups through the store's LogiSense ids,
a contact's accounts through its active links. ``""`` reads like null and ``5.0`` like ``5``, as
the two systems render them. The store's own snapshot is compared with Salesforce too, when
Salesforce was read, to show changes the store missed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from adapters.store.models import SyncRecord
from statemachine.fieldmap import FieldMap
from workers.sync.contacts import contact_address

if TYPE_CHECKING:
    from adapters.logisense import ReferenceData

#: Reference lookups by the "how resolved" kind of the field map.
REFERENCE_KINDS = ("currency", "account_status", "bill_group", "ar_term")
SELF_REFERENCE_KINDS = ("invoicer",)

#: LogiSense field -> (Salesforce field, the value LogiSense should hold).
Expected = dict[str, tuple[str | None, Any]]


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


class FieldComparison:
    """The comparison rules of one drift run, bound to the field map; reads nothing itself."""

    def __init__(self, field_map: FieldMap, *, salesforce_read: bool) -> None:
        self.field_map = field_map
        self.salesforce_read = salesforce_read

    def store_behind(self, record: SyncRecord, values: dict[str, Any]) -> list[Difference]:
        """Watched fields whose Salesforce value the store's snapshot lacks (when Salesforce was
        read: the snapshot is otherwise the only Salesforce view)."""
        if not self.salesforce_read:
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

    def compare(
        self,
        record: SyncRecord,
        values: dict[str, Any],
        remote: dict[int, dict[str, Any]],
        reference: ReferenceData,
        linked: dict[str, Any],
    ) -> list[Difference]:
        """Where the LogiSense record differs from what Salesforce says it should hold; a gone
        LogiSense record is one ``missing`` difference."""
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
            expected = self.account_expected(record, values, reference, linked["accounts"])
        else:
            expected = self.contact_expected(record, values, written, linked)
            address, wrong = contact_address(values, self.field_map.contact_address, reference)
            if not wrong:  # an address billsync cannot resolve is a rule failure, not drift
                expected["points.address"] = ("MailingAddress", address)
        found = []
        for ls_name, (sf_name, want) in sorted(expected.items()):
            have = _field(actual, ls_name)
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

    def account_expected(
        self,
        record: SyncRecord,
        values: dict[str, Any],
        reference: ReferenceData,
        accounts: dict[str, SyncRecord],
    ) -> Expected:
        """LogiSense field -> (Salesforce field, the value LogiSense should hold)."""
        expected: Expected = {"sfdcid": ("Id", record.sfid)}
        for sf_name, ls_name in self.field_map.account_plain.items():
            if sf_name != "Id":
                expected[ls_name] = (sf_name, values.get(sf_name))
        for sf_name, column in self.field_map.account_extensions.items():
            expected[f"extensions.{column}"] = (sf_name, values.get(sf_name))
        for sf_name, (ls_name, kind) in self.field_map.account_resolved.items():
            value = values.get(sf_name)
            names = reference.by_kind(kind)
            if names is not None:
                resolved = names.get(value) if value else None
                if value and resolved is None:
                    continue  # unknown reference name: a rule failure, not drift
                expected[ls_name] = (sf_name, resolved)
            elif not value or value == record.sfid:
                own = record.ls_id if kind in SELF_REFERENCE_KINDS else None
                expected[ls_name] = (sf_name, own)
            elif (target := accounts.get(value)) is not None and target.ls_id is not None:
                expected[ls_name] = (sf_name, target.ls_id)
        return expected

    def contact_expected(
        self,
        record: SyncRecord,
        values: dict[str, Any],
        written: dict[str, Any],
        linked: dict[str, Any],
    ) -> Expected:
        """A contact's expected fields; ``accountIds`` are the accounts it is actively linked to
        (in scope, with a LogiSense id) plus those billsync last wrote."""
        expected: Expected = {"points.sfdcid": ("Id", record.sfid)}
        for sf_name, ls_name in self.field_map.contact_plain.items():
            if sf_name != "Id":
                expected[ls_name] = (sf_name, values.get(sf_name))
        for sf_name, role in self.field_map.contact_points.items():
            expected[f"points.{role}"] = (sf_name, values.get(sf_name) or None)
        accounts = linked["accounts"]
        ids = {
            int(a.ls_id)
            for sfid in linked["links"].get(record.sfid, ())
            if (a := accounts.get(sfid)) is not None and a.in_scope and a.ls_id is not None
        }
        ids |= {int(i) for i in written.get("accountIds") or []}
        expected["accountIds"] = (None, sorted(ids))
        return expected


def _field(record: dict[str, Any], name: str) -> Any:
    """A field of billsync's view of a record; ``points.email`` reads a nested value."""
    value: Any = record
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


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
