"""Writes: create (one record or a batch), update (PUT), patch and delete, all or nothing.

Each write validates the whole request under the data lock, collects every problem, and either
raises one ``ApiError`` listing them all (nothing stored) or stores new record versions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from . import errors as e
from .errors import ApiError, Problem
from .fields import check_record, clean
from .rules import Record, rule_for
from .schema import RESOURCES, UNIQUE_SFDCID, Resource
from .state import LogiSenseState

OWNER_ID = 1


def now_iso() -> str:
    """The current UTC time, ISO 8601 with a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _default(kind: str) -> Any:
    return [] if kind in ("refs", "list") else None


def _candidate(
    state: LogiSenseState,
    res: Resource,
    body: Any,
    existing: Record | None,
    identity: int | None,
    partial: bool,
    problems: list[Problem],
    where: str = "",
) -> Record:
    if not isinstance(body, dict):
        problems.append(Problem(e.MALFORMED_BODY, f"{where}the body must be a JSON object"))
        return {}
    cleaned = clean(res.fields, body, res.read_only, problems, where)
    if partial and existing is not None:
        cand = {**existing, **cleaned}
    else:
        cand = {k: _default(spec.kind) for k, spec in res.fields.items()}
        cand.update(cleaned)
        if existing is not None:
            for key in res.read_only:
                if key in existing:
                    cand[key] = existing[key]
    check_record(state, res.fields, cand, problems, where)
    rule_for(res.path)(state, cand, existing, identity, set(cleaned), problems, where)
    return cand


def _unique(
    state: LogiSenseState,
    path: str,
    cands: list[tuple[int | None, Record]],
    problems: list[Problem],
) -> None:
    if path not in UNIQUE_SFDCID:
        return
    seen: dict[str, int | None] = {}
    for identity, cand in cands:
        sfdcid = cand.get("sfdcid")
        if not sfdcid:
            continue
        key = sfdcid.casefold()
        holder = state.find_sfdcid(path, sfdcid)
        if (holder is not None and holder != identity) or key in seen:
            problems.append(
                Problem(
                    e.DUPLICATE_SFDCID,
                    f"sfdcid '{sfdcid}' already belongs to {path} {holder}",
                    409,
                )
            )
        seen[key] = identity


def _finish(state: LogiSenseState, path: str, record: Record, identity: int) -> None:
    """Fill what needs the identity: self invoicers, identities of new child objects."""
    if path == "Account":
        for key in ("subscriptionInvoicerId", "usageInvoicerId"):
            if record.get(key) is None:
                record[key] = identity
    elif path == "Account/PricePlan":
        for item in record.get("packageServicePricePlan") or ():
            if item.get("identity") is None:
                item["identity"] = state.item_identity()


def create(state: LogiSenseState, path: str, body: Any) -> list[Record]:
    """Create one record (an object body) or several at once (a list body)."""
    res = RESOURCES[path]
    batch = body if isinstance(body, list) else [body]
    if not batch:
        raise e.fail(e.MALFORMED_BODY, "nothing to create")
    with state.lock:
        problems: list[Problem] = []
        cands = [
            _candidate(
                state, res, item, None, None, False, problems, f"[{n}] " if len(batch) > 1 else ""
            )
            for n, item in enumerate(batch)
        ]
        _unique(state, path, [(None, c) for c in cands], problems)
        if problems:
            raise ApiError(problems)
        stamp = now_iso()
        out = []
        for cand in cands:
            cand["created"] = cand["updated"] = stamp
            if path == "Account":
                cand["ownerId"] = OWNER_ID
            identity = state.insert(path, cand)
            _finish(state, path, cand, identity)
            out.append(state.render(path, cand))
        return out


def update(state: LogiSenseState, path: str, identity: int, body: Any, partial: bool) -> Record:
    """PUT (``partial=False``: every writable field replaced) or PATCH (only the given ones)."""
    res = RESOURCES[path]
    with state.lock:
        existing = _existing(state, path, identity)
        problems: list[Problem] = []
        cand = _candidate(state, res, body, existing, identity, partial, problems)
        _unique(state, path, [(identity, cand)], problems)
        if problems:
            raise ApiError(problems)
        cand["identity"] = identity
        cand["created"] = existing.get("created")
        cand["updated"] = now_iso()
        _finish(state, path, cand, identity)
        state.replace(path, identity, cand)
        return state.render(path, cand)


def delete(state: LogiSenseState, path: str, identity: int) -> Record:
    """Delete a record that nothing depends on (accounts: no children, no plans)."""
    with state.lock:
        existing = _existing(state, path, identity)
        problems = _delete_problems(state, path, identity)
        if problems:
            raise ApiError(problems)
        rendered = state.render(path, existing)
        state.delete(path, identity)
        if path == "Account":
            _unlink_contacts(state, identity)
        return rendered


def _existing(state: LogiSenseState, path: str, identity: int) -> Record:
    record = state.get(path, identity)
    if record is None:
        raise e.fail(e.NOT_FOUND, f"{path} {identity} does not exist", 404)
    return record


def _referrers(state: LogiSenseState, path: str, key: str, identity: int) -> list[int]:
    return [i for i, r in state.tables[path].items() if r.get(key) == identity]


def _delete_problems(state: LogiSenseState, path: str, identity: int) -> list[Problem]:
    problems: list[Problem] = []
    if path == "Account":
        children = _referrers(state, "Account", "parentAccountId", identity)
        if children:
            problems.append(
                Problem(e.ACCOUNT_HAS_CHILDREN, f"account has child accounts {children}", 409)
            )
        plans = _referrers(state, "Account/PricePlan", "accountId", identity)
        if plans:
            problems.append(Problem(e.ACCOUNT_HAS_PLANS, f"account has price plans {plans}", 409))
        for key in ("subscriptionInvoicerId", "usageInvoicerId"):
            others = [i for i in _referrers(state, "Account", key, identity) if i != identity]
            if others:
                problems.append(
                    Problem(e.RECORD_IN_USE, f"accounts {others} use it as '{key}'", 409)
                )
    elif path in ("Package", "Service"):
        key = "packageId" if path == "Package" else "serviceId"
        users = [
            i
            for i, plan in state.tables["Account/PricePlan"].items()
            if any(item.get(key) == identity for item in plan.get("packageServicePricePlan") or ())
        ]
        if path == "Package":
            users += _referrers(state, "Service", "packageId", identity)
        if users:
            problems.append(Problem(e.RECORD_IN_USE, f"{path} {identity} is in use", 409))
    return problems


def _unlink_contacts(state: LogiSenseState, account_id: int) -> None:
    for identity, contact in list(state.tables["Contact"].items()):
        if account_id in (contact.get("accountIds") or ()):
            ids = [a for a in contact["accountIds"] if a != account_id]
            state.replace("Contact", identity, {**contact, "accountIds": ids})
