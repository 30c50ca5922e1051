"""The ``billsync`` command line: one entry point for operators (SPEC §8).

Each command lives in its own module under ``billsync.cli`` with a ``register(app)`` function;
``COMMAND_MODULES`` lists them, one a line. Command modules import only typer and
``billsync.cli.common`` at the top and everything heavy inside the command, so that ``--help``
and shell completion answer at once.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated

import typer

from billsync.cli import common

#: Modules whose ``register(app)`` adds commands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "worker",
    "ingest",
    "backfill",
    "entities",
    "merges",
    "dlq",
    "queues",
    "drift",
    "doctor",
    "catalog",
    "demo",
    "sim",
    "bench",
)

#: Commands that run until stopped: they keep library warnings in their logs. Every other
#: command silences the libraries and reports a failure on one line of its own.
LONG_RUNNING = frozenset({"worker", "ingest", "serve-push", "demo", "sim", "bench"})

app = typer.Typer(
    help="billsync: Salesforce to LogiSense Billing sync over RabbitMQ.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    # Plain help: rendering it with rich (markdown included) doubles the start-up time.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("billsync")
        except PackageNotFoundError:
            number = "unknown"
        common.say(f"billsync {number}")
        raise typer.Exit(common.OK)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML file with settings (see docs/configuration.md)."),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Read the settings once and set up logging for every command."""
    from billsync import logs
    from billsync.config import load_settings
    from billsync.errors import ConfigError

    try:
        settings = load_settings(None if config is None else str(config))
    except ConfigError as exc:
        common.fail(str(exc), common.USAGE)
    logs.configure(level=settings.log_level, fmt=settings.log_format, secrets=settings.secrets())
    if ctx.invoked_subcommand not in LONG_RUNNING:
        logs.quiet_libraries()
    ctx.obj = settings


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"billsync.cli.{name}").register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    app()
