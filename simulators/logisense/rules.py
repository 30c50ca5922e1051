"""The rules LogiSense enforces beyond field types: currency, hierarchy, contacts, price plans.

Each rule function gets a ``Write``: the candidate record (what would be stored), the stored
version and the record's identity (None on create) and the set of fields the request changed; it
appends problems and may normalise the candidate (derived fields, child objects). Rules are keyed
by role (``"account"``, ``"contact"``...), so they hold whatever paths the mapping gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import errors as e
from .errors import Problem
from .fields import check_record, clean, non_negative
from .schema import Field, item_fields
from .state import LogiSenseState

Record = dict[str, Any]


@dataclass
class Write:
    """A create or update for a rule to judge: the candidate record (what would be stored, which
    the rule may normalise), the stored version and its identity (None on create), the fields the
    request changed, the problems found so far (the rule appends its own), and where in the
    request the record stands (the prefix of every message)."""

    state: LogiSenseState
    cand: Record
    existing: Record | None
    identity: int | None
    changed: set[str]
    problems: list[Problem]
    where: str


Rule = Callable[[Write], None]


def account(w: Write) -> None:
    """Currency fixed once set; a child keeps its parent's currency."""
    fixed = w.existing.get("currencyId") if w.existing is not None else None
    if fixed is not None and w.cand.get("currencyId") != fixed:
        w.problems.append(
            Problem(
                e.CURRENCY_FIXED,
                f"{w.where}'currencyId' cannot change once set "
                f"(is {fixed}, got {w.cand.get('currencyId')})",
            )
        )


def account_parent(w: Write) -> None:
    """One parent row per account; same currency as the parent; no cycle in the tree."""
    accounts = w.state.tables[w.state.path("account")]
    child_id, parent_id = w.cand.get("accountId"), w.cand.get("parentAccountId")
    if w.existing is not None and child_id != w.existing.get("accountId"):
        w.problems.append(Problem(e.INVALID_VALUE, f"{w.where}'accountId' cannot change"))
    table = w.state.tables[w.state.path("account_parent")]
    if any(r.get("accountId") == child_id and i != w.identity for i, r in table.items()):
        w.problems.append(
            Problem(e.DUPLICATE, f"{w.where}account {child_id} already has a parent", 409)
        )
    child, parent = accounts.get(child_id or 0), accounts.get(parent_id or 0)
    if child is None or parent is None:
        return
    if child_id == parent_id or _reaches(w.state, parent_id, child_id, w.identity):
        w.problems.append(
            Problem(e.PARENT_CYCLE, f"{w.where}'parentAccountId' {parent_id} would create a cycle")
        )
    elif child.get("currencyId") != parent.get("currencyId"):
        w.problems.append(
            Problem(
                e.PARENT_CURRENCY,
                f"{w.where}parent account {parent_id} has currencyId {parent.get('currencyId')}; "
                f"a child must use the same currency (got {child.get('currencyId')})",
            )
        )


def _reaches(state: LogiSenseState, start: Any, target: Any, skip: int | None) -> bool:
    """True when ``target`` is ``start`` or one of its ancestors (ignoring row ``skip``)."""
    parents = {
        r["accountId"]: r["parentAccountId"]
        for i, r in state.tables[state.path("account_parent")].items()
        if i != skip
    }
    seen: set[Any] = set()
    current = start
    while current is not None and current not in seen:
        if current == target:
            return True
        seen.add(current)
        current = parents.get(current)
    return False


def contact(w: Write) -> None:
    """Contact points of the contact's own type, one per type; addresses with valid ids."""
    c = w.state.mapping.contact
    type_id = w.cand.get("contactTypeId")
    kinds = w.state.tables[w.state.path("contact_point_type")]
    points = []
    seen: set[int] = set()
    for n, point in enumerate(w.cand.get(c.points_field) or []):
        at = f"{w.where}{c.points_field}[{n}] "
        type_ref = point.get(c.point_type_field) if isinstance(point, dict) else None
        kind = kinds.get(type_ref) if isinstance(type_ref, int) else None
        if kind is None:
            w.problems.append(
                Problem(e.REFERENCE_NOT_FOUND, f"{at}'{c.point_type_field}' is not a known type")
            )
            continue
        if kind.get("contactTypeId") != type_id:
            w.problems.append(
                Problem(
                    e.INVALID_VALUE,
                    f"{at}contact point type {kind['identity']} belongs to contact type "
                    f"{kind.get('contactTypeId')}, not {type_id}",
                )
            )
        if kind["identity"] in seen and not kind.get("allowMultiple"):
            w.problems.append(Problem(e.INVALID_VALUE, f"{at}'{kind['name']}' allows one value"))
        seen.add(kind["identity"])
        if kind["name"] == c.points.address:
            _address(w.state, point, w.problems, at)
        elif not isinstance(point.get(c.point_value_field), str):
            w.problems.append(Problem(e.INVALID_VALUE, f"{at}'{c.point_value_field}' must be text"))
        points.append({k: v for k, v in point.items() if k != "contactPointTypeName"})
    w.cand[c.points_field] = points
    parts = (w.cand.get("firstName"), w.cand.get("lastName"))
    w.cand["name"] = " ".join(p for p in parts if p)


def _address(state: LogiSenseState, point: Record, problems: list[Problem], at: str) -> None:
    fields = state.mapping.contact.address
    country_id, state_id = point.get(fields.country), point.get(fields.state)
    country = state.get(state.path("country"), country_id) if isinstance(country_id, int) else None
    if country is None:
        problems.append(
            Problem(e.REFERENCE_NOT_FOUND, f"{at}'{fields.country}' {country_id} is not a country")
        )
        return
    if state_id is None:
        return
    region = state.get(state.path("state"), state_id) if isinstance(state_id, int) else None
    if region is None or region.get("countryId") != country_id:
        problems.append(
            Problem(
                e.REFERENCE_NOT_FOUND,
                f"{at}'{fields.state}' {state_id} is not a state of country {country_id}",
            )
        )


def account_contact(w: Write) -> None:
    """A contact is linked to an account once."""
    table = w.state.tables[w.state.path("account_contact")]
    pair = (w.cand.get("accountId"), w.cand.get("contactId"))
    if any(
        (r.get("accountId"), r.get("contactId")) == pair and i != w.identity
        for i, r in table.items()
    ):
        w.problems.append(
            Problem(e.DUPLICATE, f"{w.where}contact {pair[1]} is already linked", 409)
        )


def price_plan(w: Write) -> None:
    """Items of active packages, in the account's currency, with matching package parts."""
    _check_dates(w.cand, w.problems, w.where)
    items = w.cand.get("packageServicePricePlan") or []
    if not items:
        w.problems.append(
            Problem(e.PLAN_NO_ITEMS, f"{w.where}'packageServicePricePlan' needs at least one item")
        )
        return
    if w.existing is not None and "packageServicePricePlan" not in w.changed:
        return
    owner = w.state.get(w.state.path("account"), w.cand.get("accountId") or 0)
    old_items = (w.existing or {}).get("packageServicePricePlan") or []
    known_ids = {i.get("identity") for i in old_items}
    fields = item_fields(w.state.mapping)
    w.cand["packageServicePricePlan"] = [
        _plan_item(
            w.state,
            fields,
            raw,
            owner,
            known_ids,
            w.problems,
            f"{w.where}packageServicePricePlan[{n}] ",
        )
        for n, raw in enumerate(items)
    ]


def _check_dates(cand: Record, problems: list[Problem], where: str) -> None:
    start, end = cand.get("start"), cand.get("end")
    if start and end:
        try:
            if datetime.fromisoformat(start) > datetime.fromisoformat(end):
                problems.append(Problem(e.INVALID_VALUE, f"{where}'end' is before 'start'"))
        except (TypeError, ValueError):  # mixed aware/naive dates: not comparable, let through
            pass


def _plan_item(
    state: LogiSenseState,
    fields: dict[str, Field],
    raw: Any,
    owner: Record | None,
    known_ids: set[Any],
    problems: list[Problem],
    at: str,
) -> Record:
    if not isinstance(raw, dict):
        problems.append(Problem(e.INVALID_VALUE, f"{at}must be an object"))
        return {}
    names = state.mapping.price_plan.item
    readonly = ("packageServiceName", "packageFrequencyName", "packageCurrencyName")
    item = clean(fields, raw, readonly, problems, at)
    check_record(state, fields, item, problems, at)
    amounts = tuple(k for k in (names.quantity, names.one_time_price, names.overage_price) if k)
    non_negative(item, amounts, problems, at)
    item[names.recurring_prices] = _recurring(state, item.get(names.recurring_prices), problems, at)
    service = state.get(state.path("package_service"), item.get("packageServiceId") or 0)
    frequency = state.get(state.path("package_frequency"), item.get("packageFrequencyId") or 0)
    currency = state.get(state.path("package_currency"), item.get("packageCurrencyId") or 0)
    if service and frequency and currency:
        packages = {service.get("packageId"), frequency.get("packageId"), currency.get("packageId")}
        if len(packages) > 1:
            problems.append(
                Problem(
                    e.SERVICE_NOT_IN_PACKAGE,
                    f"{at}package service, frequency and currency belong to different packages",
                )
            )
        package = state.get(state.path("package"), frequency.get("packageId") or 0) or {}
        if (not package.get("isActive") or not frequency.get("isActive")) and item.get(
            "identity"
        ) not in known_ids:
            problems.append(
                Problem(
                    e.PACKAGE_INACTIVE,
                    f"{at}package frequency {frequency['identity']} is not active",
                )
            )
        if owner is not None and currency.get("currencyId") != owner.get("currencyId"):
            problems.append(
                Problem(
                    e.PLAN_CURRENCY,
                    f"{at}prices must be in the account's currency (currencyId "
                    f"{owner.get('currencyId')}, package currency is {currency.get('currencyId')})",
                )
            )
    if item.get(names.quantity) is None:
        item[names.quantity] = 1
    if item.get("identity") not in known_ids:
        item["identity"] = None  # a new child object: identity given on commit
    return item


def _recurring(state: LogiSenseState, value: Any, problems: list[Problem], at: str) -> list[Record]:
    names = state.mapping.price_plan.item
    out = []
    for i, entry in enumerate(value or []):
        amount = entry.get(names.recurring_amount) if isinstance(entry, dict) else None
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get(names.recurring_status), str)
            and isinstance(amount, int | float)
            and not isinstance(amount, bool)
            and amount >= 0
        )
        if not ok:
            problems.append(
                Problem(
                    e.INVALID_VALUE,
                    f"{at}'{names.recurring_prices}'[{i}] must be {{'{names.recurring_status}'"
                    f": text, '{names.recurring_amount}': number >= 0}}",
                )
            )
            continue
        out.append(
            {names.recurring_status: entry[names.recurring_status], names.recurring_amount: amount}
        )
    return out


def _none(*_: Any) -> None:
    return None


RULES: dict[str, Rule] = {
    "account": account,
    "account_parent": account_parent,
    "contact": contact,
    "account_contact": account_contact,
    "price_plan": price_plan,
}


def rule_for(role: str) -> Rule:
    """The resource's own rules (a no-op for resources without any)."""
    return RULES.get(role, _none)
