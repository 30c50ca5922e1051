"""``billsync ingest``, ``billsync push opportunity <id>`` and ``billsync serve-push``.

The push endpoint runs either on its own (``serve-push``) or inside the ingest process
(``ingest --serve-push``), so that one process can serve both where that is simpler to deploy.
"""

from __future__ import annotations

import getpass
import signal
import threading
from typing import Annotated, Any

import typer

from billsync.cli.common import (
    NOT_FOUND,
    USAGE,
    console,
    emit_json,
    fail,
    guarded,
    say,
    settings_of,
)

HostOption = Annotated[
    str | None,
    typer.Option(
        "--host",
        help="Address for the push endpoint (BILLSYNC_HTTP_HOST; put TLS in front of it).",
    ),
]
PortOption = Annotated[
    int | None, typer.Option("--port", help="Port for the push endpoint (BILLSYNC_HTTP_PORT).")
]


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    push_app = typer.Typer(help="Request pushes to LogiSense.", no_args_is_help=True)
    app.add_typer(push_app, name="push")

    @app.command()
    @guarded
    def ingest(
        ctx: typer.Context,
        serve_push: Annotated[
            bool, typer.Option("--serve-push", help="Also serve the HTTP push endpoint.")
        ] = False,
        host: HostOption = None,
        port: PortOption = None,
    ) -> None:
        """Stream Salesforce changes into the broker until SIGTERM or Ctrl-C."""
        from billsync import clients
        from billsync.bootstrap import ingest_metrics, open_store, push_server, stream_ingest
        from billsync.config import DEFAULT_AMQP_URL
        from workers.ingest.stream import backfill_hint

        settings = settings_of(ctx)
        settings.require("sf_instance_url")
        salesforce = clients.salesforce_client(settings)
        url = settings.broker_url_or(DEFAULT_AMQP_URL)
        sessions = open_store(settings, pool_size=2)
        service = stream_ingest(settings, sessions=sessions, salesforce=salesforce, broker_url=url)
        hint = backfill_hint(sessions)
        if hint:
            say(hint)
        stop = _stop_on_signals()
        server = sender = None
        if serve_push:
            server, sender = push_server(settings, salesforce, host=host, port=port)
            console.print(f"push endpoint at {server.start()}/push/opportunity/<id>")

        def announce() -> None:
            if service.ready.wait(timeout=None) and not stop.is_set():
                console.print(f"ingest listening on {len(service.channels)} channels")

        threading.Thread(target=announce, daemon=True).start()
        unobserve = ingest_metrics(settings, service, sessions)
        try:
            service.run(stop)
        finally:
            unobserve()
            if server is not None:
                server.stop()
            if sender is not None:
                sender.close()
        console.print(service.metrics.summary(), highlight=False)

    @app.command("serve-push")
    @guarded
    def serve_push_command(
        ctx: typer.Context, host: HostOption = None, port: PortOption = None
    ) -> None:
        """Serve POST /push/opportunity/<id> (Bearer BILLSYNC_PUSH_TOKEN) until SIGTERM."""
        from billsync import clients
        from billsync.bootstrap import push_server

        settings = settings_of(ctx)
        salesforce = clients.salesforce_client(settings)
        server, sender = push_server(settings, salesforce, host=host, port=port)
        stop = _stop_on_signals()
        console.print(f"push endpoint at {server.start()}/push/opportunity/<id>")
        try:
            stop.wait()
        finally:
            server.stop()
            sender.close()

    @push_app.command("opportunity")
    @guarded
    def push_opportunity(
        ctx: typer.Context,
        record_id: Annotated[str, typer.Argument(help="The opportunity's Salesforce id.")],
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """Request a push of a won opportunity as an Account Price Plan."""
        from billsync import clients
        from billsync.config import DEFAULT_AMQP_URL
        from billsync.messages import is_salesforce_id
        from workers.ingest.push import BrokerSender, PushDesk, UnknownOpportunity

        settings = settings_of(ctx)
        if not is_salesforce_id(record_id):
            fail(f"{record_id[:40]!r} is not a Salesforce id (15 or 18 letters and digits)", USAGE)
        salesforce = clients.salesforce_client(settings)
        url = settings.broker_url_or(DEFAULT_AMQP_URL)
        sender = BrokerSender(url, clients.topology(settings), tls=clients.broker_tls(settings))
        try:
            request = PushDesk(salesforce, sender.send).request(
                record_id, source="cli", requested_by=_user()
            )
        except UnknownOpportunity as exc:
            fail(str(exc), NOT_FOUND)
        finally:
            sender.close()
        if as_json:
            emit_json({"request_id": request.id, "record_id": request.record_id})
        else:
            console.print(
                f"push of opportunity {request.record_id} requested (request {request.id})",
                highlight=False,
            )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
