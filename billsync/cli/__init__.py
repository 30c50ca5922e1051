"""The ``billsync`` command line: one entry point for operators (SPEC §8)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from billsync import logs
from billsync.cli import common
from billsync.config import CONFIG_FILE_VARIABLE, load_settings
from billsync.errors import ConfigError

app = typer.Typer(
    help="billsync: Salesforce to LogiSense Billing sync over RabbitMQ.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML file with settings (see docs).")
    ] = None,
) -> None:
    """Read the settings once and set up logging for every command."""
    if config is not None:
        os.environ[CONFIG_FILE_VARIABLE] = str(config)
    try:
        settings = load_settings()
    except ConfigError as exc:
        common.fail(str(exc), common.USAGE)
    logs.configure(level=settings.log_level, fmt=settings.log_format, secrets=settings.secrets())
    ctx.obj = settings


def _register() -> None:
    from billsync.cli import (
        backfill,
        bench,
        catalog,
        demo,
        dlq,
        doctor,
        drift,
        entities,
        ingest,
        merges,
        queues,
        sim,
        worker,
    )

    for module in (
        worker,
        entities,
        dlq,
        queues,
        sim,
        demo,
        catalog,
        bench,
        drift,
        ingest,
        backfill,
        merges,
        doctor,
    ):
        module.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    app()
