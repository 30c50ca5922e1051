"""The rules LogiSense enforces beyond field types: currency, hierarchy, price plans, catalog.

Each rule function gets the candidate record (what would be stored), the stored version (None on
create), the record's identity (None on create) and the set of fields the request changed; it
appends problems and may normalise the candidate (derived fields, child objects).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import errors as e
from .errors import Problem
from .fields import check_record, clean, non_negative, state_prices
from .schema import CONTACT_TYPES, ITEM_FIELDS, SERVICE_PRICE_FIELDS
from .state import LogiSenseState

Record = dict[str, Any]
Rule = Callable[
    [LogiSenseState, Record, Record | None, int | None, set[str], list[Problem], str], None
]

PRICE_KEYS = ("recurringPrice", "oneTimePrice", "overagePrice")


def account(
    state: LogiSenseState,
    cand: Record,
    existing: Record | None,
    identity: int | None,
    changed: set[str],
    problems: list[Problem],
    where: str,
) -> None:
    """Currency fixed once set; parent shares the currency; no cycle in the hierarchy."""
    fixed = existing.get("currencyId") if existing is not None else None
    if fixed is not None and cand.get("currencyId") != fixed:
        problems.append(
            Problem(
                e.CURRENCY_FIXED,
                f"{where}'currencyId' cannot change once set "
                f"(is {fixed}, got {cand.get('currencyId')})",
            )
        )
    parent_id = cand.get("parentAccountId")
    if parent_id is None:
        return
    if _creates_cycle(state, parent_id, identity):
        problems.append(
            Problem(e.PARENT_CYCLE, f"{where}'parentAccountId' {parent_id} would create a cycle")
        )
        return
    parent = state.get("Account", parent_id)
    if parent is not None and cand.get("currencyId") not in (None, parent.get("currencyId")):
        problems.append(
            Problem(
                e.PARENT_CURRENCY,
                f"{where}parent account {parent_id} has currencyId {parent.get('currencyId')}; "
                f"a child must use the same currency (got {cand.get('currencyId')})",
            )
        )


def _creates_cycle(state: LogiSenseState, parent_id: int, identity: int | None) -> bool:
    if identity is None:
        return False
    seen: set[int] = set()
    current: int | None = parent_id
    while current is not None and current not in seen:
        if current == identity:
            return True
        seen.add(current)
        record = state.get("Account", current)
        current = record.get("parentAccountId") if record else None
    return False


def contact(
    state: LogiSenseState,
    cand: Record,
    existing: Record | None,
    identity: int | None,
    changed: set[str],
    problems: list[Problem],
    where: str,
) -> None:
    """A known contact type; accounts listed once; ``name`` derived from first and last name."""
    type_id = cand.get("contactTypeId")
    if type_id is not None and type_id not in CONTACT_TYPES:
        problems.append(
            Problem(
                e.REFERENCE_NOT_FOUND,
                f"{where}'contactTypeId' {type_id} does not refer to an existing ContactType",
            )
        )
    cand["accountIds"] = list(dict.fromkeys(cand.get("accountIds") or ()))
    parts = (cand.get("firstName"), cand.get("lastName"))
    cand["name"] = " ".join(p for p in parts if p)


def price_plan(
    state: LogiSenseState,
    cand: Record,
    existing: Record | None,
    identity: int | None,
    changed: set[str],
    problems: list[Problem],
    where: str,
) -> None:
    """Prices in the account's currency; at least one item; active packages; matching services."""
    owner = state.get("Account", cand["accountId"]) if cand.get("accountId") else None
    if owner is not None:
        if cand.get("currencyId") not in (None, owner.get("currencyId")):
            problems.append(
                Problem(
                    e.PLAN_CURRENCY,
                    f"{where}prices must be in the account's currency "
                    f"(currencyId {owner.get('currencyId')}, got {cand.get('currencyId')})",
                )
            )
        cand["currencyId"] = owner.get("currencyId")
    _check_dates(cand, problems, where)
    items = cand.get("packageServicePricePlan") or []
    if not items:
        problems.append(
            Problem(e.PLAN_NO_ITEMS, f"{where}'packageServicePricePlan' needs at least one item")
        )
        return
    if existing is not None and "packageServicePricePlan" not in changed:
        return
    old_items = (existing or {}).get("packageServicePricePlan") or []
    known_packages = {i.get("packageId") for i in old_items}
    known_ids = {i.get("identity") for i in old_items}
    cand["packageServicePricePlan"] = [
        _plan_item(state, raw, n, known_packages, known_ids, problems, where)
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
    raw: Any,
    n: int,
    known_packages: set[Any],
    known_ids: set[Any],
    problems: list[Problem],
    where: str,
) -> Record:
    at = f"{where}packageServicePricePlan[{n}] "
    if not isinstance(raw, dict):
        problems.append(Problem(e.INVALID_VALUE, f"{at}must be an object"))
        return {}
    item = clean(ITEM_FIELDS, raw, ("packageName", "serviceName"), problems, at)
    check_record(state, ITEM_FIELDS, item, problems, at)
    non_negative(item, ("quantity", *PRICE_KEYS), problems, at)
    package = state.get("Package", item.get("packageId") or 0)
    service = state.get("Service", item.get("serviceId") or 0)
    if (
        package is not None
        and not package.get("isActive")
        and package["identity"] not in (known_packages)
    ):
        problems.append(
            Problem(e.PACKAGE_INACTIVE, f"{at}package {package['identity']} is not active")
        )
    if (
        service is not None
        and package is not None
        and service.get("packageId") != package["identity"]
    ):
        problems.append(
            Problem(
                e.SERVICE_NOT_IN_PACKAGE,
                f"{at}service {service['identity']} does not belong to package "
                f"{package['identity']}",
            )
        )
    item["statePrices"] = state_prices(item.get("statePrices"), problems, at)
    if item.get("quantity") is None:
        item["quantity"] = 1
    for key in PRICE_KEYS:
        item.setdefault(key, None)
    if item.get("identity") not in known_ids:
        item["identity"] = None  # a new child object: identity given on commit
    return item


def service(
    state: LogiSenseState,
    cand: Record,
    existing: Record | None,
    identity: int | None,
    changed: set[str],
    problems: list[Problem],
    where: str,
) -> None:
    """List prices per currency: ``[{currencyId, recurringPrice, ..., statePrices}]``."""
    prices = []
    for n, raw in enumerate(cand.get("prices") or []):
        at = f"{where}prices[{n}] "
        if not isinstance(raw, dict):
            problems.append(Problem(e.INVALID_VALUE, f"{at}must be an object"))
            continue
        price = clean(SERVICE_PRICE_FIELDS, raw, ("currencyName",), problems, at)
        check_record(state, SERVICE_PRICE_FIELDS, price, problems, at)
        non_negative(price, PRICE_KEYS, problems, at)
        price["statePrices"] = state_prices(price.get("statePrices"), problems, at)
        prices.append(price)
    cand["prices"] = prices


def _none(*_: Any) -> None:
    return None


RULES: dict[str, Rule] = {
    "Account": account,
    "Contact": contact,
    "Account/PricePlan": price_plan,
    "Service": service,
}


def rule_for(path: str) -> Rule:
    """The resource's own rules (a no-op for resources without any)."""
    return RULES.get(path, _none)
