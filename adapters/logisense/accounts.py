"""Accounts as billsync sees them: documented fields, custom fields, and the parent row.

LogiSense keeps an account's custom fields (``sfdcid`` is one) as "extensions" and its place in
the hierarchy in a resource of its own, ``Account/Parent``. Workers deal in one flat view:
the account's fields, ``extensions`` as a plain dict and ``parentAccountId``. This module turns
that view into the calls LogiSense needs, and back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from billsync.errors import PermanentError

from .mapping import LogiSenseMapping
from .records import RecordResource
from .session import LogiSenseSession

PARENT = "parentAccountId"
EXTENSIONS = "extensions"
#: billsync's name for the usage invoicer; the wire name is the mapping's (the v10 page is cut off).
USAGE_INVOICER = "usageInvoicerAccountId"
_UNSET: Any = object()


def exact_one(items: list[dict[str, Any]], noun: str, sfdcid: str) -> dict[str, Any] | None:
    """The only record in ``items``, None when empty; several is a permanent error.

    ``sfdcid`` is a text field in LogiSense, not a key: two records may carry it. billsync then
    refuses to pick one (writing into the wrong customer's billing account is worse than
    stopping), and names the records so that an operator can decide.
    """
    if len(items) > 1:
        ids = ", ".join(str(i.get("identity")) for i in items)
        raise PermanentError(
            f"LogiSense holds {len(items)} {noun}s with sfdcid {sfdcid!r} (identities {ids}); "
            "billsync will not guess which one belongs to this record: clear the sfdcid of the "
            "wrong ones in LogiSense, then retry"
        )
    return items[0] if items else None


class AccountRecords:
    """Find, create, change and read accounts (with their parent row) in billsync's view."""

    def __init__(self, session: LogiSenseSession, mapping: LogiSenseMapping) -> None:
        self.mapping = mapping
        self.resource = RecordResource(session, mapping.resources.account, "account")
        self.parents = RecordResource(session, mapping.resources.account_parent, "account parent")

    def find_by_sfdcid(self, sfdcid: str) -> dict[str, Any] | None:
        """The one account whose ``sfdcid`` extension equals ``sfdcid`` exactly (case counts)."""
        if not isinstance(sfdcid, str) or not sfdcid:
            raise PermanentError(
                f"a Salesforce id to look up must be a non-empty string: {sfdcid!r}"
            )
        search_name = self.mapping.account.sfdcid_search_name
        if search_name:
            items = self.resource.search([(search_name, "eq", sfdcid)])
        else:
            items = list(self.resource.iter_all())
        key = self.mapping.account.sfdcid_extension
        exact = [i for i in items if self.mapping.extensions_of(i).get(key) == sfdcid]
        found = exact_one(exact, "account", sfdcid)
        return None if found is None else self.view(found, self._parent_of(found["identity"]))

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Create the account, then its parent row; the view of what LogiSense stored."""
        parent = fields.get(PARENT)
        created = self.resource.create(self.wire(fields))
        identity = int(created["identity"])
        if parent is not None:
            self.set_parent(identity, parent)
        return self.view(created, parent)

    def update(self, identity: int, changes: dict[str, Any]) -> dict[str, Any] | None:
        """PATCH the changed account fields; a changed parent goes to ``Account/Parent``."""
        changes = dict(changes)
        parent = changes.pop(PARENT, _UNSET)
        instance = self.resource.update(identity, self.wire(changes)) if changes else None
        if parent is not _UNSET:
            self.set_parent(identity, parent)
        return instance

    def set_parent(self, identity: int, parent: int | None) -> None:
        """Make ``parent`` the account's parent (None removes the link, not an account)."""
        rows = self.parents.search([("accountId", "eq", identity)])
        if parent is None:
            for row in rows:
                self.parents.delete(int(row["identity"]))
        elif not rows:
            self.parents.create({"accountId": identity, PARENT: parent})
        elif rows[0].get(PARENT) != parent:
            self.parents.update(int(rows[0]["identity"]), {PARENT: parent})

    def get(self, identity: int) -> dict[str, Any] | None:
        """The account's view, or None."""
        record = self.resource.get(identity)
        return None if record is None else self.view(record, self._parent_of(identity))

    def iter_all(self) -> Iterator[dict[str, Any]]:
        """Every account's view (one pass over the parent rows, one over the accounts)."""
        parents = {
            int(r["accountId"]): r.get(PARENT)
            for r in self.parents.iter_all()
            if r.get("accountId")
        }
        for record in self.resource.iter_all():
            yield self.view(record, parents.get(int(record["identity"])))

    def wire(self, fields: dict[str, Any]) -> dict[str, Any]:
        """billsync's view -> the Account body (extensions in the instance's shape)."""
        body = {k: v for k, v in fields.items() if k not in (PARENT, EXTENSIONS, "sfdcid")}
        if USAGE_INVOICER in body:
            body[self.mapping.account.usage_invoicer_field] = body.pop(USAGE_INVOICER)
        if EXTENSIONS in fields:
            body[self.mapping.account.extensions_field] = self.mapping.extensions_value(
                dict(fields[EXTENSIONS] or {})
            )
        return body

    def view(self, record: dict[str, Any], parent: Any) -> dict[str, Any]:
        """An Account body -> billsync's view (``extensions`` a dict, ``parentAccountId``)."""
        out = {k: v for k, v in record.items() if k != self.mapping.account.extensions_field}
        usage = self.mapping.account.usage_invoicer_field
        if usage in out:
            out[USAGE_INVOICER] = out.pop(usage)
        out[EXTENSIONS] = self.mapping.extensions_of(record)
        out["sfdcid"] = out[EXTENSIONS].get(self.mapping.account.sfdcid_extension)
        out[PARENT] = parent
        return out

    def _parent_of(self, identity: int) -> int | None:
        rows = self.parents.search([("accountId", "eq", identity)])
        return rows[0].get(PARENT) if rows else None
