"""Where fault tests leave their outcome rows for ``scripts/reliability``'s table: JSON lines
appended to the file named by ``BILLSYNC_RELIABILITY_REPORT`` (nothing when it is unset)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.reliability.checker import Outcome

REPORT_VARIABLE = "BILLSYNC_RELIABILITY_REPORT"


def record(outcome: Outcome) -> None:
    """Append ``outcome``'s row to the report file, if one was asked for."""
    path = os.environ.get(REPORT_VARIABLE)
    if not path:
        return
    with Path(path).open("a") as report:
        report.write(json.dumps({**outcome.row(), "clean": outcome.clean}) + "\n")
