"""``billsync bench``: the SPEC §9 figures, measured in one run, beside their targets."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated

import typer

from billsync.cli.common import FAILED, USAGE, console, fail, guarded, say


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""

    @app.command()
    @guarded
    def bench(
        quick: Annotated[
            bool, typer.Option("--quick", help="Smaller runs: about a minute.")
        ] = False,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="Also write the figures as JSON here.")
        ] = None,
        broker: Annotated[
            str, typer.Option("--broker", help="RabbitMQ URL (scratch queues, deleted after).")
        ] = "amqp://guest:guest@127.0.0.1:5672//",
        database: Annotated[
            str,
            typer.Option(
                "--database",
                help="PostgreSQL server URL: a scratch database is created there and dropped.",
            ),
        ] = "postgresql://postgres@127.0.0.1:5432/test",
        memory_entities: Annotated[
            int | None,
            typer.Option(
                "--memory-entities",
                help="Distinct entities for the memory row (SPEC: 100,000; default 8,000).",
            ),
        ] = None,
        strict: Annotated[
            bool, typer.Option("--strict", help="Exit 1 when a target is not met.")
        ] = False,
    ) -> None:
        """Measure throughput, latency, coalescing, memory and the broker's own ceiling."""
        try:
            from billsync.bench import report
            from billsync.bench.runner import run_bench
            from billsync.bench.scenarios import FULL, QUICK
        except ModuleNotFoundError as exc:
            fail(f"billsync bench needs {exc.name}: pip install 'billsync[bench]'", USAGE)

        sizes = QUICK if quick else FULL
        if memory_entities is not None:
            sizes = dataclasses.replace(sizes, rss_accounts=memory_entities)
        started = time.monotonic()

        def progress(text: str) -> None:
            say((f"{time.monotonic() - started:6.1f}s", "dim"), " ", text)

        figures = run_bench(broker, database, sizes, progress)
        console.print(report.table(figures))
        if json_path is not None:
            document = report.as_json(
                figures,
                settings={
                    "quick": quick,
                    "sizes": sizes.__dict__,
                    "seconds": time.monotonic() - started,
                },
            )
            report.write_json(json_path, document)
            say(f"figures written to {json_path}")
        if strict and not all(f.met is not False for f in figures):
            raise typer.Exit(FAILED)
