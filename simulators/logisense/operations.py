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
from .rules import Record, Write, rule_for
from .schema import Resource
from .state import LogiSenseState

OWNER_ID = 1


def now_iso() -> str:
    """The current UTC time, ISO 8601 with a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _default(kind: str) -> Any:
    return [] if kind == "list" else None


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
    ext = state.mapping.account.extensions_field
    if partial and existing is not None:
        cand = {**existing, **cleaned}
        if ext in cleaned and res.fields[ext].kind == "ext":
            # a PATCH of extensions changes the named custom fields only
            merged = {
                **state.mapping.extensions_of(existing),
                **state.mapping.extensions_of(cleaned),
            }
            cand[ext] = state.mapping.extensions_value(merged)
    else:
        cand = {k: _default(spec.kind) for k, spec in res.fields.items()}
        cand.update(cleaned)
        if existing is not None:
            for key in res.read_only:
                if key in existing:
                    cand[key] = existing[key]
    check_record(state, res.fields, cand, problems, where)
    rule_for(res.role)(Write(state, cand, existing, identity, set(cleaned), problems, where))
    return cand


def _unique(
    state: LogiSenseState,
    path: str,
    cands: list[tuple[int | None, Record]],
    problems: list[Problem],
) -> None:
    """Only with ``unique_sfdcid``: LogiSense itself does not treat ``sfdcid`` as a key."""
    if not state.unique_sfdcid or path not in state.sfdcid_index:
        return
    seen: set[str] = set()
    for identity, cand in cands:
        sfdcid = state.sfdcid_of(path, cand)
        if not sfdcid:
            continue
        holders = [h for h in state.find_sfdcid(path, sfdcid) if h != identity]
        if holders or sfdcid.casefold() in seen:
            problems.append(
                Problem(
                    e.DUPLICATE_SFDCID,
                    f"sfdcid '{sfdcid}' already belongs to {path} {holders}",
                    409,
                )
            )
        seen.add(sfdcid.casefold())


def _finish(state: LogiSenseState, res: Resource, record: Record, identity: int) -> None:
    """Fill what needs the identity: self invoicers, identities of new child objects."""
    if res.role == "account":
        for key in ("invoicerAccountId", state.mapping.account.usage_invoicer_field):
            if record.get(key) is None:
                record[key] = identity
    elif res.role == "price_plan":
        for item in record.get("packageServicePricePlan") or ():
            if item.get("identity") is None:
                item["identity"] = state.item_identity()


def create(state: LogiSenseState, path: str, body: Any) -> list[Record]:
    """Create one record (an object body) or several at once (a list body)."""
    res = state.schema.by_path[path]
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
            if res.role == "account":
                cand["ownerId"] = OWNER_ID
            identity = state.insert(path, cand)
            _finish(state, res, cand, identity)
            out.append(state.render(path, cand))
        return out


def update(state: LogiSenseState, path: str, identity: int, body: Any, partial: bool) -> Record:
    """PUT (``partial=False``: every writable field replaced) or PATCH (only the given ones)."""
    res = state.schema.by_path[path]
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
        _finish(state, res, cand, identity)
        state.replace(path, identity, cand)
        return state.render(path, cand)


def delete(state: LogiSenseState, path: str, identity: int) -> Record:
    """Delete a record that nothing depends on (accounts: no children, no plans, no contacts)."""
    with state.lock:
        existing = _existing(state, path, identity)
        problems = _delete_problems(state, state.schema.by_path[path].role, identity)
        if problems:
            raise ApiError(problems)
        rendered = state.render(path, existing)
        state.delete(path, identity)
        return rendered


def _existing(state: LogiSenseState, path: str, identity: int) -> Record:
    record = state.get(path, identity)
    if record is None:
        raise e.fail(e.NOT_FOUND, f"{path} {identity} does not exist", 404)
    return record


def _referrers(state: LogiSenseState, role: str, key: str, identity: int) -> list[int]:
    return [i for i, r in state.tables[state.path(role)].items() if r.get(key) == identity]


def _delete_problems(state: LogiSenseState, role: str, identity: int) -> list[Problem]:
    problems: list[Problem] = []
    if role == "account":
        users = {
            "child accounts": _referrers(state, "account_parent", "parentAccountId", identity),
            "price plans": _referrers(state, "price_plan", "accountId", identity),
            "contacts": _referrers(state, "contact", state.mapping.contact.account_field, identity),
        }
        for key in ("invoicerAccountId", state.mapping.account.usage_invoicer_field):
            users[f"'{key}' users"] = [
                i for i in _referrers(state, "account", key, identity) if i != identity
            ]
        problems += [
            Problem(e.RECORD_IN_USE, f"account has {what} {ids}", 409)
            for what, ids in users.items()
            if ids
        ]
    elif role == "package_service":
        plans = [
            i
            for i, plan in state.tables[state.path("price_plan")].items()
            if any(
                item.get("packageServiceId") == identity
                for item in plan.get("packageServicePricePlan") or ()
            )
        ]
        if plans:
            problems.append(Problem(e.RECORD_IN_USE, f"package service {identity} is in use", 409))
    return problems
