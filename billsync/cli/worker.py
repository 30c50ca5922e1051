"""``billsync worker``: a sync worker process."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer

from billsync.cli.common import guarded, say, settings_of


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""

    @app.command()
    @guarded
    def worker(
        ctx: typer.Context,
        concurrency: Annotated[
            int | None, typer.Option("--concurrency", "-c", help="Entities synced at once.")
        ] = None,
    ) -> None:
        """Consume changes and sync entities until SIGTERM or Ctrl-C."""
        from billsync.bootstrap import worker_service

        settings = settings_of(ctx)
        if concurrency is not None:
            settings = settings.model_copy(update={"worker_concurrency": concurrency})
        service = worker_service(settings)
        stop = threading.Event()

        def _stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        service.start()
        say(f"worker {service.ctx.worker_id} running, concurrency {settings.worker_concurrency}")
        stop.wait()
        say("stopping: finishing the entities in hand")
        service.stop()
