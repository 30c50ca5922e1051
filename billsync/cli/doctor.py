"""``billsync doctor``: check a deployment end to end, one line per check (SPEC §8).

Exit 0 only when every check passes (``warn`` and ``skip`` pass); otherwise 1. Each failed line
says what to do.
"""

from __future__ import annotations

from typing import Annotated

import typer

from billsync.cli.common import FAILED, OK, console, emit_json, settings_of, text
from billsync.doctor.report import CheckResult
from billsync.doctor.run import run_all

#: Status -> (mark, style). The console parses no markup (details hold org data), so the marks
#: are styled ``Text`` rather than markup tags, which would be printed as they are.
MARKS = {"ok": ("ok  ", "green"), "warn": ("warn", "yellow"), "skip": ("skip", "dim")}


def print_result(result: CheckResult) -> None:
    """One line per check; a failed or warned check adds its fix on the next line."""
    from rich.text import Text

    mark, style = MARKS.get(result.status, ("FAIL", "red"))
    line = Text.assemble(text(mark, style), " ", text(f"{result.name}: {result.detail}"))
    console.print(line, highlight=False, soft_wrap=True)
    if result.fix and result.status in ("fail", "warn"):
        fix = Text.assemble("     ", text("fix:", "bold"), " ", text(result.fix))
        console.print(fix, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""

    @app.command()
    def doctor(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """Check logins, Salesforce metadata, permissions and CDC, LogiSense set-up, API limits,
        the broker, the store and the clock."""
        results = []
        for result in run_all(settings_of(ctx)):
            results.append(result)
            if not as_json:
                print_result(result)
        failed = [r for r in results if not r.passed]
        if as_json:
            emit_json({"passed": not failed, "checks": [r.as_dict() for r in results]})
        else:
            console.print(
                f"{len(results) - len(failed)} of {len(results)} checks passed"
                + (f"; failing: {', '.join(r.name for r in failed)}" if failed else ""),
                highlight=False,
            )
        raise typer.Exit(FAILED if failed else OK)
