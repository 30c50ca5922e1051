"""``billsync queues``: every billsync queue, its depth, consumers, rates and dead letters."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from adapters.broker.inspect import queue_figures
from adapters.broker.topology import Topology
from billsync.api_usage import ApiUsageLine, read_api_usage
from billsync.bootstrap import open_store
from billsync.cli.common import console, emit_json, guarded, settings_of, table
from billsync.config import DEFAULT_AMQP_URL
from workers.deadletters import count_dead_letters


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}/s"


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""

    @app.command()
    @guarded
    def queues(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """Ready, unacked, consumers and rates of every queue, and the dead letters kept."""
        settings = settings_of(ctx)
        url = settings.broker_url_or(DEFAULT_AMQP_URL)
        figures = queue_figures(url, Topology.from_settings(settings), settings.management_url)
        kept = count_dead_letters(open_store(settings, pool_size=2))
        api = read_api_usage(settings)
        if as_json:
            usage = asdict(api) if isinstance(api, ApiUsageLine) else api
            emit_json(
                {
                    "queues": [asdict(f) for f in figures],
                    "dead_letters_kept": kept,
                    "salesforce_api": usage,
                }
            )
            return
        rows = [
            (
                f.name,
                f.ready,
                "-" if f.unacked is None else f.unacked,
                f.consumers,
                _rate(f.publish_rate),
                _rate(f.deliver_rate),
                _rate(f.ack_rate),
                f.source,
            )
            for f in figures
        ]
        console.print(
            table(
                "queues",
                ["queue", "ready", "unacked", "consumers", "publish", "deliver", "ack", "source"],
                rows,
            )
        )
        console.print(f"dead letters kept in the store: {kept} (billsync dlq list)")
        if api is not None:
            line = api.text() if isinstance(api, ApiUsageLine) else api
            console.print(line, highlight=False, soft_wrap=True)
