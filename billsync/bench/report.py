"""Figures beside their SPEC §9 targets: as a rich table for people and as JSON for tools."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from rich.table import Table
from rich.text import Text


@dataclass
class Figure:
    """One measured row: ``met`` is None when the row has no pass/fail target (a reference)."""

    key: str
    label: str
    value: float | None
    unit: str
    target: str
    met: bool | None
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def shown(self) -> str:
        """The value as printed."""
        if self.error is not None:
            return "error"
        if self.value is None:
            return "n/a"
        if abs(self.value) >= 100:
            return f"{self.value:,.0f} {self.unit}".strip()
        return f"{self.value:,.3g} {self.unit}".strip()


def verdict(met: bool | None) -> Text:
    """How a row's outcome prints: styled text, not markup (the CLI's console parses none)."""
    shown, style = {True: ("met", "green"), False: ("NOT met", "red"), None: ("ref", "dim")}[met]
    return Text(shown, style=style)


def table(figures: list[Figure]) -> Table:
    """The SPEC §9 table."""
    result = Table(title="billsync bench: SPEC §9 targets", title_justify="left")
    for column in ("what", "measured", "target", "outcome"):
        result.add_column(column)
    for figure in figures:
        outcome = verdict(figure.met) if figure.error is None else Text(figure.error, style="red")
        result.add_row(Text(figure.label), Text(figure.shown()), Text(figure.target), outcome)
    return result


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    return {
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in psutil.getloadavg()],
    }


def as_json(figures: list[Figure], *, settings: dict[str, Any]) -> dict[str, Any]:
    """The JSON document ``--json`` writes."""
    return {
        "machine": machine(),
        "settings": settings,
        "figures": [asdict(f) for f in figures],
        "all_met": all(f.met is not False and f.error is None for f in figures),
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write the JSON document to ``path``."""
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
