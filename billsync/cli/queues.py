"""``billsync queues``: every billsync queue, its depth, consumers, rates and dead letters."""

from __future__ import annotations

from dataclasses import asdict

import typer

from billsync.cli.common import console, emit_json, errors, guarded, line, say, settings_of, table
from billsync.cli.filters import JsonOption


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}/s"


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""

    @app.command()
    @guarded
    def queues(
        ctx: typer.Context,
        as_json: JsonOption = False,
    ) -> None:
        """Ready, unacked, consumers and rates of every queue, and the dead letters kept."""
        from adapters.broker.inspect import queue_figures
        from adapters.store.connect import StoreMissing
        from billsync import clients
        from billsync.api_usage import ApiUsageLine, read_api_usage
        from billsync.bootstrap import open_store
        from billsync.config import DEFAULT_AMQP_URL
        from billsync.errors import TransientError
        from workers.ops.deadletters import count_dead_letters

        settings = settings_of(ctx)
        url = settings.broker_url_or(DEFAULT_AMQP_URL)
        figures = queue_figures(url, clients.topology(settings), settings.management_url)
        try:
            kept: int | None = count_dead_letters(open_store(settings, pool_size=2, create=False))
        except StoreMissing:  # no store yet: nothing kept in it (and none is created)
            kept = 0
        except TransientError as exc:  # the broker's view stands without the store's count
            kept = None
            errors.print(line(("warning:", "yellow"), f" dead letters kept unknown: {exc}"))
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
        if kept is not None:
            say(f"dead letters kept in the store: {kept} (billsync dlq list)")
        if api is not None:
            say(api.text() if isinstance(api, ApiUsageLine) else api)
