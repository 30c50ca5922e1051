"""``billsync demo``: the whole system in one process on the embedded defaults."""

from __future__ import annotations

from typing import Annotated

import typer

from billsync.cli.common import guarded, settings_of


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""

    @app.command()
    @guarded
    def demo(
        ctx: typer.Context,
        broker: Annotated[str | None, typer.Option(help="Broker URL (default: in-memory).")] = None,
        database: Annotated[
            str | None, typer.Option(help="Store URL (default: SQLite file).")
        ] = None,
        timeout: Annotated[float, typer.Option(help="Seconds to wait for the scenario.")] = 120.0,
    ) -> None:
        """Run the scripted scenario end to end and print every entity's final state."""
        from billsync.demo.run import run_demo

        code = run_demo(settings_of(ctx), broker=broker, database=database, timeout_s=timeout)
        raise typer.Exit(code)
