"""``billsync backfill``: load the in-scope records that existed before billsync, through the same
path as changes.

Every record read becomes a SNAPSHOT change message stamped with its ``SystemModstamp``, published
to the broker with publisher confirms; the workers merge it exactly as they merge a change event
(newest commit wins per field), so a backfill running beside the live stream can neither undo a
newer change nor be undone by an older one, and a record read twice costs nothing. Creates are
never repeated in LogiSense: before creating, the worker finds an account or contact that already
carries the record's ``sfdcid`` (one made by an earlier tool, or by an attempt that died) and
adopts it.

Resuming: after each page is confirmed by the broker, the position after it is stored
(``adapters.store.backfill``). A backfill killed at any point starts again at its last stored
position; a backfill that finished starts a new full pass.

Opportunities are not published: SPEC §3 pushes an opportunity only when it is requested. A
backfill of ``Opportunity`` counts the won ones; a later push request for any of them finds it,
because the worker reads an opportunity it has never seen when a push request names it
(``workers.sync.completion``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from adapters.broker.publisher import ConfirmedPublisher, open_publisher
from adapters.broker.topology import Topology
from adapters.store.backfill import BackfillCursors
from billsync.messages import encode, now_ms
from workers.backfill.source import BackfillSource
from workers.ingest.events import snapshot_message

log = logging.getLogger("billsync.backfill")

#: Objects whose records are read but not published (see the module docstring).
COUNTED_ONLY = frozenset({"Opportunity"})
PUBLISH_WINDOW = 1024
FLUSH_TIMEOUT_S = 60.0

Progress = Callable[[str, int, int], None]


@dataclass
class ObjectReport:
    """What the backfill did for one object."""

    object: str
    total: int = 0
    read: int = 0
    published: int = 0
    unusable: int = 0
    resumed: bool = False
    mode: str = "rest"


@dataclass
class BackfillReport:
    """Every object's report, in load order."""

    objects: list[ObjectReport] = field(default_factory=list)


class Backfill:
    """Reads with a ``BackfillSource``, publishes snapshots, stores positions."""

    def __init__(
        self,
        source: BackfillSource,
        cursors: BackfillCursors,
        broker_url: str,
        topology: Topology,
        *,
        on_progress: Progress | None = None,
    ) -> None:
        self.source = source
        self.cursors = cursors
        self.broker_url = broker_url
        self.topology = topology
        self.on_progress = on_progress or (lambda _o, _d, _t: None)

    def run(self, objects: Iterable[str]) -> BackfillReport:
        """Backfill each object in turn; returns what was read and published."""
        report = BackfillReport()
        publisher = open_publisher(self.broker_url, self.topology, window=PUBLISH_WINDOW)
        try:
            for object_name in objects:
                report.objects.append(self._object(object_name, publisher))
        finally:
            publisher.close()
        return report

    def _object(self, object_name: str, publisher: ConfirmedPublisher) -> ObjectReport:
        stored = self.cursors.load(object_name)
        resumed = stored is not None and not stored.done
        if stored is not None and not stored.done:
            position = stored
            log.info("resuming the backfill of %s after %d records", object_name, stored.published)
        else:
            position = self.source.start(object_name, self.source.count(object_name))
        report = ObjectReport(object_name, position.total, resumed=resumed, mode=position.mode)
        self.on_progress(object_name, position.published, position.total)
        for page in self.source.pages(position):
            report.read += len(page.records)
            if object_name not in COUNTED_ONLY:
                sent = self._publish(object_name, page.records, publisher)
                report.published += sent
                report.unusable += len(page.records) - sent
                publisher.flush(timeout=FLUSH_TIMEOUT_S)
            self.cursors.save(page.position)
            self.on_progress(object_name, page.position.published, position.total)
        return report

    def _publish(
        self, object_name: str, records: list[dict[str, object]], publisher: ConfirmedPublisher
    ) -> int:
        fallback = now_ms()
        routing_key = self.topology.routing_key
        sent = 0
        for record in records:
            message = snapshot_message(
                object_name,
                dict(record),
                message_id=f"backfill:{record.get('Id')}:{fallback}",
                source="reconcile",
                fallback_ms=fallback,
            )
            if message is None:
                continue
            publisher.publish(encode(message), routing_key=routing_key)
            sent += 1
        return sent


def restart_from_scratch(cursors: BackfillCursors, objects: Iterable[str]) -> None:
    """Forget stored positions (``--restart``), so the next run reads everything again."""
    for object_name in objects:
        cursors.forget(object_name)
