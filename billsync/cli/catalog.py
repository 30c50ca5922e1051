"""``billsync catalog sync``: LogiSense catalog and reference data → Salesforce (SPEC §1, §8)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from billsync.cli.common import (
    FAILED,
    console,
    emit_json,
    errors,
    fail,
    guarded,
    line,
    say,
    settings_of,
    table,
)

if TYPE_CHECKING:
    from adapters.logisense import LogiSenseClient
    from adapters.salesforce.rest import SalesforceClient
    from workers.catalog.sync import CatalogSummary, Progress


def _summary_table(summary: CatalogSummary) -> None:
    rows = [
        (name, c.created, c.updated, c.deactivated, c.unchanged, c.failed)
        for name, c in summary.objects.items()
    ]
    console.print(
        table(
            f"catalog sync: {summary.written} records written in {summary.duration_s:.2f} s "
            f"(list prices in {summary.list_currency})",
            ["object", "created", "updated", "deactivated", "unchanged", "failed"],
            rows,
        )
    )
    for note in summary.notes:
        say("note: ", note)
    for problem in summary.errors:
        errors.print(line(("refused:", "red"), " ", problem), soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``catalog`` command group to ``app``."""
    catalog_app = typer.Typer(
        help="The LogiSense catalog mirror in Salesforce.", no_args_is_help=True
    )
    app.add_typer(catalog_app, name="catalog")

    @catalog_app.command("sync")
    @guarded
    def sync(
        ctx: typer.Context,
        currency: Annotated[
            str | None,
            typer.Option("--currency", help="Currency of the list prices on Product Services."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """Mirror LogiSense packages, services, prices and reference data into Salesforce."""
        from billsync import clients

        settings = settings_of(ctx)
        salesforce = clients.salesforce_client(settings)
        with clients.logisense_client(settings) as logisense:
            if as_json:
                summary = _run(logisense, salesforce, settings.sf_pricebook_name, currency, None)
            else:
                with errors.status("catalog sync") as status:
                    summary = _run(
                        logisense,
                        salesforce,
                        settings.sf_pricebook_name,
                        currency,
                        lambda step: status.update(f"catalog sync: {step}"),
                    )
        if as_json:
            emit_json(summary.as_json())
        else:
            _summary_table(summary)
        if not summary.ok:
            fail(f"{len(summary.errors)} records were refused by Salesforce", FAILED)


def _run(
    logisense: LogiSenseClient,
    salesforce: SalesforceClient,
    pricebook: str,
    currency: str | None,
    progress: Progress | None,
) -> CatalogSummary:
    from workers.catalog.sync import CatalogSync

    return CatalogSync(
        logisense,
        salesforce,
        pricebook_name=pricebook,
        list_currency=currency,
        progress=progress,
    ).run()
