"""``billsync sim salesforce|logisense``: the local simulators of both APIs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

sim_app = typer.Typer(help="Run a simulator of Salesforce or LogiSense.", no_args_is_help=True)

HostOption = Annotated[
    str,
    typer.Option(help="Address to listen on (0.0.0.0 for every interface, e.g. in a container)."),
]


@sim_app.command()
def salesforce(
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 0,
    host: HostOption = "127.0.0.1",
    ca_file: Annotated[str, typer.Option("--ca-file", help="Where to write the CA.")] = "sf-ca.pem",
    client_id: Annotated[str, typer.Option("--client-id")] = "billsync",
    client_secret: Annotated[str, typer.Option("--client-secret")] = "billsync-secret",
    tls_name: Annotated[
        list[str] | None,
        typer.Option(
            "--tls-name",
            help="A host name clients use to reach the simulator (repeatable): added to the "
            "certificate; the first one is the base URL's host (the tokens' instance_url).",
        ),
    ] = None,
    username: Annotated[
        str, typer.Option(help="The integration user (password and JWT bearer grants).")
    ] = "integration@example.com",
    password: Annotated[str, typer.Option(help="The integration user's password.")] = "pw",
    security_token: Annotated[
        str, typer.Option("--security-token", help="Appended to the password in a login.")
    ] = "tok",
    jwt_cert: Annotated[
        str | None,
        typer.Option(
            "--jwt-cert",
            help="The Connected App's PEM certificate: enables the JWT bearer grant, whose "
            "assertions must be signed with the matching private key.",
        ),
    ] = None,
) -> None:
    """The Salesforce simulator over TLS: REST, OAuth, CDC and CometD."""
    with _needs_sim_extra():
        from simulators.salesforce.server import main

    raise typer.Exit(
        main(
            port,
            ca_file,
            client_id,
            client_secret,
            host,
            tls_name or (),
            username=username,
            password=password,
            security_token=security_token,
            jwt_cert=jwt_cert,
        )
    )


@sim_app.command()
def logisense(
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 0,
    host: HostOption = "127.0.0.1",
    username: Annotated[str, typer.Option()] = "billsync",
    password: Annotated[str, typer.Option()] = "billsync-password",
    client_id: Annotated[str, typer.Option("--client-id")] = "billsync",
    mapping: Annotated[
        str | None,
        typer.Option(
            "--mapping",
            help="A LogiSense mapping file (TOML): serve its resource paths and field names, "
            "to try a deployment's own choices locally.",
        ),
    ] = None,
    unique_sfdcid: Annotated[
        bool,
        typer.Option(
            "--unique-sfdcid/--no-unique-sfdcid",
            help="Refuse a second record with the same sfdcid (LogiSense itself does not).",
        ),
    ] = False,
) -> None:
    """The LogiSense Billing simulator."""
    from adapters.logisense.mapping import load_mapping
    from billsync.cli.common import translated_errors

    with _needs_sim_extra():
        from simulators.logisense.simulator import main

    with translated_errors():
        chosen = load_mapping(mapping)
    raise typer.Exit(
        main(
            port,
            username,
            password,
            client_id,
            host=host,
            mapping=chosen,
            unique_sfdcid=unique_sfdcid,
        )
    )


@contextmanager
def _needs_sim_extra() -> Iterator[None]:
    """The production image leaves the simulators' dependencies out: say so on one line."""
    try:
        yield
    except ModuleNotFoundError as exc:
        from billsync.cli.common import USAGE, fail

        fail(f"the simulators need {exc.name}: pip install 'billsync[sim]'", USAGE)


def register(app: typer.Typer) -> None:
    """Add the ``sim`` group to ``app``."""
    app.add_typer(sim_app, name="sim")
