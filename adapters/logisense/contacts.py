"""Contacts as billsync sees them: typed, with contact points, attached to their accounts.

LogiSense documents a contact's type, title and names, and says that e-mail, phone, address and
the official app's ``sfdcid`` are contact points defined per contact type. It does not document
the REST shape of a contact point, how a contact attaches to an account, or how one contact is
shared by several accounts; the mapping names billsync's choice for each
(docs/adapters-logisense.md): a contact belongs to its primary account (``account_field``),
carries its contact points as child objects (``points_field``), and is linked to each further
account by one connector row (``account_contact``), so a shared contact is one LogiSense
contact, never a copy per account.

billsync's view of a contact: ``contactTypeId``, ``title``, ``firstName``, ``lastName``,
``isUsedForTax``, ``points`` (``{"email", "phone", "sfdcid": text, "address": {...}}``) and
``accountIds`` (the primary account first).
"""

from __future__ import annotations

import threading
from typing import Any

from billsync.errors import PermanentError

from .accounts import exact_one
from .mapping import LogiSenseMapping
from .records import RecordResource
from .session import LogiSenseSession

OWN_FIELDS = ("contactTypeId", "title", "firstName", "lastName", "isUsedForTax")
ROLES = ("email", "phone", "sfdcid", "address")


class ContactRecords:
    """Find, create, change and read contacts, with their points and account links."""

    def __init__(self, session: LogiSenseSession, mapping: LogiSenseMapping) -> None:
        self.mapping = mapping
        self.resource = RecordResource(session, mapping.resources.contact, "contact")
        self.links = RecordResource(session, mapping.resources.account_contact, "contact link")
        self.point_types = RecordResource(
            session, mapping.resources.contact_point_type, "contact point type"
        )
        self._types: dict[int, dict[str, int]] | None = None
        self._lock = threading.Lock()

    # -- contact point types ------------------------------------------------------------------

    def point_type_ids(self, contact_type_id: int, *, fresh: bool = False) -> dict[str, int]:
        """``{"email": 7, ...}``: the contact point types of a contact type, by billsync role.

        Read once per process; ``fresh`` reads them again (a type added in LogiSense since).
        """
        with self._lock:
            if self._types is None or fresh:
                table: dict[int, dict[str, int]] = {}
                for item in self.point_types.iter_all():
                    table.setdefault(int(item.get("contactTypeId") or 0), {})[
                        str(item.get("name"))
                    ] = int(item["identity"])
                self._types = table
        by_name = self._types.get(contact_type_id, {})
        names = self.mapping.contact.points
        return {
            role: by_name[getattr(names, role)] for role in ROLES if getattr(names, role) in by_name
        }

    # -- reads --------------------------------------------------------------------------------

    def find_by_sfdcid(self, sfdcid: str) -> dict[str, Any] | None:
        """The one contact whose ``sfdcid`` contact point equals ``sfdcid`` exactly."""
        if not isinstance(sfdcid, str) or not sfdcid:
            raise PermanentError(
                f"a Salesforce id to look up must be a non-empty string: {sfdcid!r}"
            )
        name = self.mapping.contact.sfdcid_search_name
        items = (
            self.resource.search([(name, "eq", sfdcid)]) if name else list(self.resource.iter_all())
        )
        views = [self.view(i) for i in items]
        found = exact_one(
            [v for v in views if v["points"].get("sfdcid") == sfdcid], "contact", sfdcid
        )
        return None if found is None else self._with_links(found)

    def get(self, identity: int) -> dict[str, Any] | None:
        """The contact's view with every account it is linked to, or None."""
        record = self.resource.get(identity)
        return None if record is None else self._with_links(self.view(record))

    def iter_all(self) -> Any:
        """Every contact's view (one pass over the links, one over the contacts)."""
        links: dict[int, set[int]] = {}
        if self.mapping.contact.shared_contacts == "link":
            for row in self.links.iter_all():
                links.setdefault(int(row["contactId"]), set()).add(int(row["accountId"]))
        for record in self.resource.iter_all():
            view = self.view(record)
            view["accountIds"] = _ordered(view["accountIds"], links.get(view["identity"], ()))
            yield view

    # -- writes -------------------------------------------------------------------------------

    def create(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Create the contact under its first account, then link it to the others."""
        accounts = [int(a) for a in payload.get("accountIds") or ()]
        if not accounts:
            raise PermanentError("a LogiSense contact needs an account to belong to")
        body = self.wire(payload)
        body[self.mapping.contact.account_field] = accounts[0]
        created = self.resource.create(body)
        view = self.view(created)
        self._link(view, accounts)
        return view

    def update(self, identity: int, changes: dict[str, Any]) -> None:
        """PATCH the changed fields (a changed ``points`` replaces the list); a changed
        ``accountIds`` is the contact's whole set of accounts (see ``relink``)."""
        changes = dict(changes)
        accounts = changes.pop("accountIds", None)
        if "points" in changes and "contactTypeId" not in changes:
            stored = self.resource.get(identity) or {}
            changes["contactTypeId"] = stored.get("contactTypeId")
        body = self.wire(changes)
        if body:
            self.resource.update(identity, body)
        if accounts:
            self.relink(identity, [int(a) for a in accounts])

    def relink(self, identity: int, accounts: list[int]) -> None:
        """Make ``accounts`` the contact's accounts: links are added and removed (only the link
        rows, never an account or the contact), and a primary account that is no longer among
        them is replaced by the first of ``accounts``, since a contact always belongs to one."""
        record = self.resource.get(identity)
        if record is None:
            raise PermanentError(f"LogiSense contact {identity} no longer exists")
        field = self.mapping.contact.account_field
        primary = record.get(field)
        if primary is None or int(primary) not in accounts:
            primary = accounts[0]
            self.resource.update(identity, {field: primary})
        if self.mapping.contact.shared_contacts != "link":
            return
        wanted = set(accounts) - {int(primary)}
        have: set[int] = set()
        for row in self.links.search([("contactId", "eq", identity)], top=1000):
            account = int(row["accountId"])
            if account in wanted and account not in have:
                have.add(account)
            else:
                self.links.delete(int(row["identity"]))
        for account in sorted(wanted - have):
            self.links.create({"accountId": account, "contactId": identity})

    def wire(self, payload: dict[str, Any]) -> dict[str, Any]:
        """billsync's view -> a Contact body (contact points as child objects)."""
        body = {k: payload[k] for k in OWN_FIELDS if k in payload}
        if "points" in payload:
            type_id = payload.get("contactTypeId")
            if not isinstance(type_id, int):
                raise PermanentError("contact points need the contact's contactTypeId")
            body[self.mapping.contact.points_field] = self._points(type_id, payload["points"])
        return body

    def view(self, record: dict[str, Any]) -> dict[str, Any]:
        """A Contact body -> billsync's view."""
        c = self.mapping.contact
        view: dict[str, Any] = {k: record.get(k) for k in ("identity", *OWN_FIELDS)}
        roles = {
            v: k for k, v in self.point_type_ids(int(record.get("contactTypeId") or 0)).items()
        }
        points: dict[str, Any] = {}
        for point in record.get(c.points_field) or ():
            role = roles.get(point.get(c.point_type_field))
            if role == "address":
                points[role] = {
                    part: point.get(getattr(c.address, part))
                    for part in type(c.address).model_fields
                }
            elif role is not None:
                points[role] = point.get(c.point_value_field)
        view["points"] = points
        view["sfdcid"] = points.get("sfdcid")
        primary = record.get(c.account_field)
        view["accountIds"] = [primary] if primary is not None else []
        return view

    def _points(self, type_id: int, points: dict[str, Any]) -> list[dict[str, Any]]:
        c = self.mapping.contact
        ids = self.point_type_ids(type_id)
        if any(points.get(r) not in (None, "", {}) and r not in ids for r in ROLES):
            ids = self.point_type_ids(type_id, fresh=True)
        out: list[dict[str, Any]] = []
        for role in ROLES:
            value = points.get(role)
            if value in (None, "", {}):
                continue
            if role not in ids:
                raise PermanentError(
                    f"LogiSense contact type {type_id} has no '{getattr(c.points, role)}' contact "
                    "point; add it in LogiSense or change [contact.points] in the mapping file"
                )
            point: dict[str, Any] = {c.point_type_field: ids[role]}
            if role == "address":
                point.update(
                    {getattr(c.address, part): v for part, v in value.items() if v is not None}
                )
            else:
                point[c.point_value_field] = value
            out.append(point)
        return out

    def _with_links(self, view: dict[str, Any]) -> dict[str, Any]:
        if self.mapping.contact.shared_contacts == "link":
            rows = self.links.search([("contactId", "eq", view["identity"])], top=1000)
            view["accountIds"] = _ordered(view["accountIds"], (int(r["accountId"]) for r in rows))
        return view

    def _link(self, view: dict[str, Any], accounts: list[int]) -> None:
        if self.mapping.contact.shared_contacts != "link":
            return
        have = set(view["accountIds"])
        for account in accounts:
            if account not in have:
                self.links.create({"accountId": account, "contactId": view["identity"]})
                have.add(account)
        view["accountIds"] = _ordered(view["accountIds"], have)


def _ordered(first: list[Any], more: Any) -> list[Any]:
    """The primary account first, then the linked ones ascending, each once."""
    rest = sorted({int(a) for a in more} - {int(a) for a in first})
    return [*first, *rest]
