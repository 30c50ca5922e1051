"""Re-reads by SOQL when the event stream cannot be trusted: gaps, overflows, lost positions.

Every re-read becomes SNAPSHOT change messages stamped with the record's ``SystemModstamp``, so
they merge order-independently with the stream (SPEC §2): a snapshot never overrides a newer
change, and a duplicate costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from adapters.salesforce.rest import SalesforceClient, require_field, require_object
from billsync.messages import ChangeMessage, now_ms
from statemachine.fieldmap import FieldMap
from workers.ingest.events import READ_ONLY_STAMPS, deleted_message, snapshot_message


class Rereader:
    """Turns SOQL reads of synced objects into SNAPSHOT (and DELETE) messages."""

    def __init__(self, salesforce: SalesforceClient, field_map: FieldMap) -> None:
        self.salesforce = salesforce
        self.field_map = field_map

    def fields(self, object_name: str) -> list[str]:
        """The mapped fields of ``object_name`` plus the timestamps that stamp a snapshot."""
        names = ["Id", *self.field_map.salesforce_fields(object_name), *READ_ONLY_STAMPS]
        return list(dict.fromkeys(names))

    def records(
        self,
        object_name: str,
        record_ids: Sequence[str],
        *,
        id_prefix: str,
        commit_timestamp: int,
    ) -> Iterator[ChangeMessage]:
        """Snapshots of the given records (200 ids a query); a record not found is a DELETE."""
        found = self.salesforce.records_by_ids(
            object_name, record_ids, self.fields(object_name), paced=True
        )
        short = {k[:15]: v for k, v in found.items()}
        for record_id in dict.fromkeys(record_ids):
            record = found.get(record_id) or short.get(record_id[:15])
            message_id = f"{id_prefix}:{record_id}"
            if record is None:
                yield deleted_message(
                    object_name,
                    record_id,
                    message_id=message_id,
                    commit_timestamp=commit_timestamp,
                )
                continue
            message = snapshot_message(
                object_name,
                record,
                message_id=message_id,
                source="gap",
                fallback_ms=commit_timestamp,
            )
            if message is not None:
                yield message

    def whole_object(self, object_name: str, *, id_prefix: str) -> Iterator[ChangeMessage]:
        """Snapshots of every record of ``object_name`` (after an overflow event)."""
        select = ", ".join(require_field(f) for f in self.fields(object_name))
        soql = f"SELECT {select} FROM {require_object(object_name)}"
        records = self.salesforce.iter_query(soql, paced=True)
        yield from self._snapshots(object_name, records, id_prefix, "gap")

    def changed_since(
        self, object_name: str, since_ms: int, *, id_prefix: str
    ) -> Iterator[ChangeMessage]:
        """Snapshots of the records changed after ``since_ms`` (lost stream position)."""
        records = self.salesforce.changed_since(
            object_name, since_ms, self.fields(object_name), paced=True
        )
        yield from self._snapshots(object_name, records, id_prefix, "reconcile")

    @staticmethod
    def _snapshots(
        object_name: str, records: Iterator[dict[str, object]], id_prefix: str, source: str
    ) -> Iterator[ChangeMessage]:
        fallback = now_ms()
        for record in records:
            message = snapshot_message(
                object_name,
                dict(record),
                message_id=f"{id_prefix}:{record.get('Id')}",
                source=source,
                fallback_ms=fallback,
            )
            if message is not None:
                yield message
