"""Catalog sync: LogiSense packages, services, prices and reference data → Salesforce mirrors.

LogiSense is the system of record (SPEC §1); reps quote from the "LogiSense" price book that this
sync keeps current. One run reads LogiSense (catalog and reference data), reads the mirror in
Salesforce by SOQL, and upserts only the records whose fields differ, through
``composite/sobjects`` (200 records a call), so a run with nothing changed writes nothing.
Items gone from LogiSense, or inactive there, are deactivated, never deleted. Every write carries
``Sforce-Call-Options: client=<sf_call_client>`` (the SalesforceClient sets it), so the ingest
skips the change events they cause. See docs/catalog.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from adapters.logisense import LogiSenseClient
from adapters.salesforce.rest import SalesforceClient
from billsync.errors import BillsyncError
from workers.catalog.mirror import default_currency, desired_catalog
from workers.catalog.reads import MirrorReader
from workers.catalog.writes import MirrorWriter

log = logging.getLogger("billsync.catalog")

OBJECTS = (
    "Pricebook2",
    "Product2",
    "Product_Service__c",
    "PricebookEntry",
    "LogiSense_Reference__c",
)
Progress = Callable[[str], None]


@dataclass
class ObjectCounts:
    """What a run did to one Salesforce object."""

    created: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0
    failed: int = 0


@dataclass
class CatalogSummary:
    """The outcome of one catalog sync run, for the CLI table, ``--json`` and the logs."""

    objects: dict[str, ObjectCounts] = field(
        default_factory=lambda: {name: ObjectCounts() for name in OBJECTS}
    )
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    list_currency: str = ""
    salesforce_queries: int = 0
    salesforce_write_calls: int = 0
    duration_s: float = 0.0

    @property
    def written(self) -> int:
        """Records created, updated or deactivated."""
        return sum(c.created + c.updated + c.deactivated for c in self.objects.values())

    @property
    def ok(self) -> bool:
        """No record was refused."""
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {**asdict(self), "written": self.written, "ok": self.ok}


class CatalogSync:
    """One LogiSense → Salesforce catalog run; reusable (the scheduler calls ``run`` again)."""

    def __init__(
        self,
        logisense: LogiSenseClient,
        salesforce: SalesforceClient,
        *,
        pricebook_name: str = "LogiSense",
        list_currency: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.logisense = logisense
        self.salesforce = salesforce
        self.pricebook_name = pricebook_name
        self.list_currency = list_currency
        self.progress = progress
        self.reader = MirrorReader(salesforce, pricebook_name)

    def run(self) -> CatalogSummary:
        """Read both sides, write the difference; a refused record is in ``errors``, not raised.

        Transient and configuration errors (LogiSense or Salesforce unreachable, bad login)
        propagate: nothing can be decided without both sides.
        """
        started = time.monotonic()
        self._say("reading the LogiSense catalog and reference data")
        packages = self.logisense.catalog()
        reference = self.logisense.reference_data()
        summary = CatalogSummary(list_currency=self.list_currency or default_currency(reference))
        desired = desired_catalog(
            packages,
            reference,
            list_currency=summary.list_currency,
            name_pattern=self.logisense.mapping.catalog.product_name,
        )
        self._say("reading the Salesforce mirror")
        mirror = self.reader.read()
        summary.salesforce_queries = mirror.queries
        writer = MirrorWriter(self.salesforce, mirror, summary.objects, summary.errors)
        self._say(f"price book {self.pricebook_name!r}")
        book_id = writer.pricebook(self.pricebook_name)
        self._say(f"products ({len(desired.products)} in LogiSense)")
        product_ids = writer.products(desired)
        self._say(f"product services ({len(desired.services)} in LogiSense)")
        writer.services(desired, product_ids)
        self._say(f"price book entries ({len(desired.entries)} prices, standard and custom)")
        writer.entries(desired, product_ids, book_id)
        self._say(f"reference data ({len(desired.references)} values)")
        writer.references(desired)
        summary.notes.extend(writer.notes)
        summary.salesforce_write_calls = writer.write_calls
        summary.duration_s = round(time.monotonic() - started, 3)
        self._say("done")
        return summary

    def _say(self, step: str) -> None:
        log.debug("catalog sync: %s", step)
        if self.progress is not None:
            self.progress(step)


class CatalogScheduler:
    """Runs the catalog sync inside a worker every ``interval_s`` seconds (first run at start).

    A failed run is logged and tried again at the next interval; the thread never dies of it.
    ``on_synced`` runs after each successful run (the worker drops its cached catalog there).
    """

    def __init__(
        self,
        sync: CatalogSync,
        interval_s: float,
        *,
        on_synced: Callable[[CatalogSummary], None] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive (0 means: no periodic catalog sync)")
        self.sync = sync
        self.interval_s = interval_s
        self.on_synced = on_synced
        self.runs = 0
        self.last: CatalogSummary | None = None
        self.last_error: str | None = None

    def start(self, stop_event: threading.Event) -> threading.Thread:
        """Start the daemon thread; it stops when ``stop_event`` is set."""
        thread = threading.Thread(
            target=self.run, args=(stop_event,), name="catalog-sync", daemon=True
        )
        thread.start()
        return thread

    def run(self, stop_event: threading.Event) -> None:
        """The loop: sync, then wait the interval (or until stopped)."""
        while not stop_event.is_set():
            self.run_once()
            stop_event.wait(self.interval_s)

    def run_once(self) -> CatalogSummary | None:
        """One guarded run; its summary, or None when it failed."""
        try:
            summary = self.sync.run()
        except BillsyncError as exc:
            self.last_error = str(exc)
            log.warning("catalog sync failed, next try in %.0f s: %s", self.interval_s, exc)
            return None
        except Exception:  # the thread must outlive a defect; the log carries the traceback
            self.last_error = "unexpected error (see the log)"
            log.exception("catalog sync failed unexpectedly")
            return None
        self.runs += 1
        self.last, self.last_error = summary, None
        log.info(
            "catalog sync: %d records written, %d errors, %.2f s",
            summary.written,
            len(summary.errors),
            summary.duration_s,
        )
        if self.on_synced is not None:
            self.on_synced(summary)
        return summary
