"""``billsync doctor``: check a deployment end to end, one line per check (SPEC §8).

Exit 0 only when every check passes (``warn`` and ``skip`` pass); otherwise 1. Each failed line
says what to do. A check's detail and fix hold data (names, URLs, the services' own messages), so
they are printed as text with styles, never parsed as markup. The checks are imported inside the
command, so that ``--help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from billsync.cli.common import FAILED, OK, emit_json, guarded, say, settings_of
from billsync.cli.filters import JsonOption, none_if_empty

if TYPE_CHECKING:
    from billsync.doctor.report import CheckResult

#: The mark and its style for each status (any other status is a failure).
MARKS = {"ok": ("ok  ", "green"), "warn": ("warn", "yellow"), "skip": ("skip", "dim")}
FAIL_MARK = ("FAIL", "red")


def print_result(result: CheckResult) -> None:
    """One line per check; a failed or warned check adds its fix on the next line."""
    say(MARKS.get(result.status, FAIL_MARK), " ", result.name, ": ", result.detail)
    if result.fix and result.status in ("fail", "warn"):
        say("     ", ("fix:", "bold"), " ", result.fix)


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""

    @app.command()
    @guarded
    def doctor(ctx: typer.Context, as_json: JsonOption = False) -> None:
        """Check logins, Salesforce metadata, permissions and CDC, LogiSense set-up, API limits,
        the broker, the store and the clock."""
        from billsync.doctor.run import run_all

        results = []
        for result in run_all(settings_of(ctx)):
            results.append(result)
            if not as_json:
                print_result(result)
        failed = [r for r in results if not r.passed]
        if as_json:
            emit_json(
                {
                    "passed": not failed,
                    "checks": [{**r.as_dict(), "fix": none_if_empty(r.fix)} for r in results],
                }
            )
        else:
            say(
                f"{len(results) - len(failed)} of {len(results)} checks passed",
                "; failing: " if failed else "",
                ", ".join(r.name for r in failed),
            )
        raise typer.Exit(FAILED if failed else OK)
