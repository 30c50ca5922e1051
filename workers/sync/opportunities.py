"""Opportunity push: a won opportunity, on request, becomes (or updates) its account's Account
Price Plan in LogiSense, never before the account is synced (SPEC §3 "Opportunities").

The opportunity, its line items and their services are read from Salesforce when the request is
first processed (two SOQL queries), validated, kept in the record for status and for the push,
and re-read on every new request.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.store import records as store
from billsync.errors import PermanentError
from billsync.messages import is_salesforce_id
from statemachine.machine import PENDING
from statemachine.rules import LineItem, ServiceLine, opportunity_problems
from workers.sync.steps import ObjectSync, Plan, Wait, dependency_why

OPPORTUNITY_SOQL = (
    "SELECT Id, Name, AccountId, StageName, IsWon, CurrencyIsoCode, Pricebook2Id, "
    "Pricebook2.Name, CloseDate, (SELECT Id, Quantity, UnitPrice, Product2Id, "
    "Product2.LogiSense_Package_Frequency_Id__c "
    "FROM OpportunityLineItems) "
    "FROM Opportunity WHERE Id = '{id}'"
)
# Salesforce allows no lookup to OpportunityLineItem, so each service belongs to its opportunity
# (master-detail ``Opportunity__c``) and names its line item in ``Opportunity_Product_Id__c``.
SERVICES_SOQL = (
    "SELECT Id, Opportunity_Product_Id__c, Product_Service__c, "
    "Product_Service__r.LogiSense_Package_Service_Id__c, Quantity__c, Recurring_Price__c, "
    "One_Time_Price__c, Overage_Price__c, State_Prices__c FROM Opportunity_Product_Service__c "
    "WHERE Opportunity__c = '{id}'"
)


class OpportunitySync(ObjectSync):
    """Moves one requested Opportunity from pending to pushed."""

    def advance(self, record_id: int) -> None:
        """Read (when pending), plan, write, settle."""
        source = None
        with self.owned(record_id) as (_session, record):
            needs_read = record.state == PENDING or not (record.detail or {}).get("source")
            sfid = record.sfid
        if needs_read:
            source = self._read(sfid)
        plan = self._plan(record_id, source)
        if plan is None:
            return
        created, plan_id = self._write(plan)
        with self.owned(plan.record_id) as (session, record):
            record.ls_id = plan_id
            record.detail = {**(record.detail or {}), "written": plan.payload}
            verb = "created" if created else "updated"
            self.pushed(session, record, plan, f"LogiSense account price plan {plan_id} {verb}")

    def _read(self, sfid: str) -> dict[str, Any]:
        if self.ctx.salesforce is None:
            raise PermanentError("no Salesforce connection configured to read the opportunity")
        if not is_salesforce_id(sfid):
            raise PermanentError(f"{sfid!r} is not a Salesforce id")
        rows = self.ctx.salesforce.query_all(OPPORTUNITY_SOQL.format(id=sfid))
        if not rows:
            raise PermanentError(f"Opportunity {sfid} does not exist in Salesforce (deleted?)")
        services = self.ctx.salesforce.query_all(SERVICES_SOQL.format(id=sfid))
        return {"opportunity": _clean(rows[0]), "services": [_clean(s) for s in services]}

    def _plan(self, record_id: int, source: dict[str, Any] | None) -> Plan | None:
        catalog = self.ctx.references.catalog()
        known = {
            s.identity: p.identity
            for p in catalog
            if p.is_active
            for s in p.services
            if s.is_active
        }
        with self.owned(record_id) as (session, record):
            if source is not None:
                record.detail = {**(record.detail or {}), "source": source}
                record.values = {**(record.values or {}), **_flat(source["opportunity"])}
            source = (record.detail or {})["source"]
            opportunity = source["opportunity"]
            items = _lines(opportunity)
            services = _services(source["services"], [item.sfid for item in items])
            account_sfid = opportunity.get("AccountId") or ""
            account = store.by_sfids(session, "Account", [account_sfid]).get(account_sfid)
            account_currency = (account.values or {}).get("CurrencyIsoCode") if account else None
            pricebook = (opportunity.get("Pricebook2") or {}).get("Name")
            problems = opportunity_problems(
                opportunity,
                pricebook_name=pricebook,
                expected_pricebook=self.ctx.pricebook_name,
                account_currency=account_currency,
                line_items=items,
                services=services,
                known_services=known,
            )
            if not account_sfid:
                problems.append("Opportunity has no account.")
            parts = _package_parts(
                opportunity, catalog, account_currency or opportunity.get("CurrencyIsoCode")
            )
            problems += [p for p in parts.values() if isinstance(p, str)]
            if problems:
                self.reject(session, record, problems)
                return None
            self.validated(session, record)
            if account is None or account.ls_id is None or account_currency is None:
                self.wait(session, record, [Wait(account_sfid, "account", dependency_why(account))])
                return None
            self.clear_waits(session, record)
            self.account_synced(
                session, record, f"account {account_sfid} is LogiSense account {account.ls_id}"
            )
            logisense = self.ctx.logisense
            payload = {
                "name": str(opportunity.get("Name") or record.sfid)[:255],
                "accountId": account.ls_id,
                "start": opportunity.get("CloseDate"),
                "packageServicePricePlan": _items(
                    services,
                    {k: v for k, v in parts.items() if isinstance(v, tuple)},
                    logisense.mapping.price_plan.item,
                ),
            }
            # Plans carry no sfdcid: a marker text in a documented field finds this one again.
            payload[logisense.mapping.price_plan.key_field] = logisense.price_plan_key(record.sfid)
            return self.planned(record, opportunity, payload)

    def _write(self, plan: Plan) -> tuple[bool, int]:
        logisense = self.ctx.logisense
        identity = plan.ls_id
        if identity is None:
            existing = logisense.find_price_plan(plan.payload["accountId"], plan.extra["sfid"])
            identity = int(existing["identity"]) if existing else None
        if identity is None:
            created = logisense.create_price_plan(plan.payload)
            return True, int(created["identity"])
        logisense.update_price_plan(identity, plan.payload)
        return False, identity


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "attributes":
            continue
        if isinstance(value, dict) and "records" in value:
            out[key] = [_clean(r) for r in value["records"]]
        elif isinstance(value, dict):
            out[key] = _clean(value)
        else:
            out[key] = value
    return out


def _flat(opportunity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in opportunity.items() if not isinstance(v, (dict, list))}


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        raise PermanentError(f"{value!r} is not a number") from None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _lines(opportunity: dict[str, Any]) -> list[LineItem]:
    return [
        LineItem(
            sfid=item["Id"],
            unit_price=_decimal(item.get("UnitPrice")),
            logisense_package_id=None,
        )
        for item in opportunity.get("OpportunityLineItems") or []
    ]


def _line_item_id(value: Any, full_ids: dict[str, str]) -> str:
    text = str(value or "").strip()
    return full_ids.get(text[:15], text) if len(text) in (15, 18) else text


def _services(rows: list[dict[str, Any]], item_ids: list[str]) -> list[ServiceLine]:
    # The line item id is typed text, so a 15-character id is matched to its 18-character form.
    full_ids = {item_id[:15]: item_id for item_id in item_ids}
    result = []
    for row in rows:
        raw_states = row.get("State_Prices__c") or "[]"
        try:
            states = json.loads(raw_states) if isinstance(raw_states, str) else raw_states
            state_prices = tuple((str(s["state"]), _decimal(s["price"])) for s in states)
        except (ValueError, KeyError, TypeError):
            raise PermanentError(
                f"State_Prices__c of service {row.get('Id')} is not a JSON list of {{state, price}}"
            ) from None
        result.append(
            ServiceLine(
                line_item_id=_line_item_id(row.get("Opportunity_Product_Id__c"), full_ids),
                service_sfid=row.get("Product_Service__c") or row.get("Id") or "",
                logisense_service_id=_int_or_none(
                    (row.get("Product_Service__r") or {}).get("LogiSense_Package_Service_Id__c")
                ),
                quantity=_decimal(row.get("Quantity__c")),
                recurring_price=_decimal(row.get("Recurring_Price__c")),
                one_time_price=_decimal(row.get("One_Time_Price__c")),
                overage_price=_decimal(row.get("Overage_Price__c")),
                state_prices=state_prices,
            )
        )
    return result


def _package_parts(
    opportunity: dict[str, Any], catalog: list[Any], currency: str | None
) -> dict[str, tuple[int, int] | str]:
    """Per line item: (package frequency id, package currency id), or why it has none.

    A plan item names the package frequency the product was sold with (the Product2 carries it)
    and the package's currency row for the account's currency: prices are in that currency only.
    """
    frequencies = {f.identity: p for p in catalog for f in p.frequencies}
    out: dict[str, tuple[int, int] | str] = {}
    for item in opportunity.get("OpportunityLineItems") or []:
        product = item.get("Product2") or {}
        frequency_id = _int_or_none(product.get("LogiSense_Package_Frequency_Id__c"))
        package = frequencies.get(frequency_id) if frequency_id is not None else None
        if package is None:
            out[item["Id"]] = (
                f"Product {item['Id']} names no current LogiSense package frequency: run "
                "`billsync catalog sync` and quote from a current product."
            )
            continue
        rows = [c for c in package.currencies if c.code == currency and c.is_active]
        if not rows:
            out[item["Id"]] = f"Package {package.name!r} is not offered in {currency} in LogiSense."
            continue
        out[item["Id"]] = (int(frequency_id), rows[0].identity)  # type: ignore[arg-type]
    return out


def _items(
    services: list[ServiceLine], parts: dict[str, tuple[int, int]], names: Any
) -> list[dict[str, Any]]:
    """``packageServicePricePlan`` items: keys documented, amounts where the mapping says."""
    result = []
    for service in services:
        service_id = service.logisense_service_id
        part = parts.get(service.line_item_id)
        if service_id is None or part is None:
            continue
        recurring = [
            {
                names.recurring_status: names.default_status,
                names.recurring_amount: float(service.recurring_price),
            }
        ] + [
            {names.recurring_status: s, names.recurring_amount: float(p)}
            for s, p in service.state_prices
            if s != names.default_status
        ]
        item: dict[str, Any] = {
            "packageServiceId": service_id,
            "packageFrequencyId": part[0],
            "packageCurrencyId": part[1],
            names.quantity: float(service.quantity),
            names.one_time_price: float(service.one_time_price),
            names.recurring_prices: recurring,
        }
        if names.overage_price:
            item[names.overage_price] = float(service.overage_price)
        result.append(item)
    return result
