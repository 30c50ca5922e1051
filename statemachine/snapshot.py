"""Order-independent merging of Salesforce changes into an entity's snapshot (SPEC §2).

Each field keeps the value with the newest (commit timestamp, replay id, sequence number).
Merging is idempotent and commutative, so duplicated, reordered or redelivered changes converge on
the same snapshot as in-order delivery. Record-level flags (deleted) are fields too (``__deleted``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DELETED = "__deleted"

Stamp = tuple[int, int, int]


@dataclass
class Snapshot:
    """Field values and the (commit timestamp, replay id, sequence) that set each one."""

    values: dict[str, Any] = field(default_factory=dict)
    stamps: dict[str, list[int]] = field(default_factory=dict)

    def merge(self, changes: dict[str, Any], stamp: Stamp) -> set[str]:
        """Apply ``changes`` made at ``stamp``; return the names of the fields whose value moved."""
        moved: set[str] = set()
        for name, value in changes.items():
            current = self.stamps.get(name)
            if current is not None and tuple(current) >= stamp:
                continue
            self.stamps[name] = list(stamp)
            if self.values.get(name, _MISSING) != value:
                moved.add(name)
            self.values[name] = value
        return moved

    def get(self, name: str, default: Any = None) -> Any:
        """A field's value, or ``default``."""
        return self.values.get(name, default)

    @property
    def deleted(self) -> bool:
        """Whether the newest word from Salesforce is that the record is deleted."""
        return bool(self.values.get(DELETED, False))


_MISSING = object()


def changes_of(
    change_type: str, fields: dict[str, Any], nulled: list[str] | tuple[str, ...]
) -> dict[str, Any]:
    """The field changes a CDC-style message stands for, including deletion flags."""
    result = dict(fields)
    for name in nulled:
        result[name] = None
    if change_type == "DELETE":
        result[DELETED] = True
    elif change_type in ("UNDELETE", "CREATE", "SNAPSHOT"):
        result[DELETED] = False
    return result
