"""The deterministic seed: reference data, a catalog with prices, and one LogiSense-only account.

``build_seed()`` returns fresh tables every call, so a reset never shares objects with a previous
run. Identities are fixed, so tests and docs may name them (``USD`` is currency 1, and so on).
"""

from __future__ import annotations

from typing import Any

SEED_TIME = "2024-01-01T00:00:00Z"

USD, EUR, GBP = 1, 2, 3
ACTIVE, PENDING, SUSPENDED, CLOSED = 1, 2, 3, 4
MONTHLY_1ST, MONTHLY_15TH, MONTHLY_LAST = 1, 2, 3
NET_30, NET_15, DUE_ON_RECEIPT = 1, 2, 3
INTERNAL_ACCOUNT = 1
INACTIVE_PACKAGE = 5

# Per-currency factor applied to the USD list price (rounded to cents).
FX = {USD: 1.0, EUR: 0.92, GBP: 0.79}

Table = dict[int, dict[str, Any]]

CURRENCIES = [
    ("US Dollar", "USD", "$", True),
    ("Euro", "EUR", "€", False),
    ("British Pound", "GBP", "£", False),
]
STATUS_TYPES = [
    ("Active", "Account is billed normally", True),
    ("Pending", "Account awaits activation", False),
    ("Suspended", "Service suspended, billing paused", False),
    ("Closed", "Account closed; history kept", False),
]
BILL_GROUPS = [("Monthly 1st", 1), ("Monthly 15th", 15), ("Monthly Last Day", 31)]
AR_TERMS = [("Net 30", 30, True), ("Net 15", 15, False), ("Due on receipt", 0, False)]

# package name, active, [(service name, serviceTypeId, recurring, one-time, overage)]
# serviceTypeId: 1 recurring, 2 one-time, 3 usage.
CATALOG: list[tuple[str, bool, list[tuple[str, int, float, float, float]]]] = [
    (
        "Internet Essentials",
        True,
        [
            ("Fiber 100 Mbps Access", 1, 79.0, 0.0, 0.0),
            ("Static IP Address", 1, 10.0, 0.0, 0.0),
            ("Installation", 2, 0.0, 149.0, 0.0),
        ],
    ),
    (
        "Business Voice",
        True,
        [
            ("Voice Line", 1, 25.0, 0.0, 0.0),
            ("Long Distance Minutes", 3, 0.0, 0.0, 0.05),
            ("Number Porting", 2, 0.0, 35.0, 0.0),
        ],
    ),
    (
        "Cloud Backup",
        True,
        [("Backup Storage 1 TB", 1, 49.0, 0.0, 0.02), ("Backup Agent", 1, 5.0, 0.0, 0.0)],
    ),
    (
        "Managed Security",
        True,
        [
            ("Firewall Management", 1, 199.0, 0.0, 0.0),
            ("Threat Monitoring", 1, 149.0, 0.0, 0.0),
            ("Security Audit", 2, 0.0, 2500.0, 0.0),
            ("Incident Response Retainer", 1, 500.0, 0.0, 150.0),
        ],
    ),
    (
        "Legacy DSL",
        False,
        [("DSL 10 Mbps Access", 1, 39.0, 0.0, 0.0), ("Modem Rental", 1, 4.0, 0.0, 0.0)],
    ),
]


def _stamp(record: dict[str, Any], identity: int) -> dict[str, Any]:
    return {"identity": identity, **record, "created": SEED_TIME, "updated": SEED_TIME}


def _money(usd: float, currency: int) -> float:
    return round(usd * FX[currency], 2)


def service_prices(recurring: float, one_time: float, overage: float) -> list[dict[str, Any]]:
    """A service's list prices in every seeded currency, with a suspended-state price."""
    return [
        {
            "currencyId": cur,
            "recurringPrice": _money(recurring, cur),
            "oneTimePrice": _money(one_time, cur),
            "overagePrice": _money(overage, cur),
            "statePrices": [
                {"state": "Active", "price": _money(recurring, cur)},
                {"state": "Suspended", "price": _money(recurring * 0.25, cur)},
            ],
        }
        for cur in (USD, EUR, GBP)
    ]


def _reference() -> dict[str, Table]:
    currency = {
        i: _stamp({"name": n, "code": c, "symbol": s, "isDefault": d}, i)
        for i, (n, c, s, d) in enumerate(CURRENCIES, 1)
    }
    status = {
        i: _stamp({"name": n, "description": desc, "isDefault": d}, i)
        for i, (n, desc, d) in enumerate(STATUS_TYPES, 1)
    }
    bill_group = {
        i: _stamp({"name": n, "billDay": day, "usageBillDay": day}, i)
        for i, (n, day) in enumerate(BILL_GROUPS, 1)
    }
    terms = {
        i: _stamp({"name": n, "paymentTermId": i, "days": days, "isDefault": d}, i)
        for i, (n, days, d) in enumerate(AR_TERMS, 1)
    }
    return {
        "Currency": currency,
        "AccountStatusType": status,
        "BillGroup": bill_group,
        "AccountsReceivable/Terms": terms,
    }


def _catalog() -> dict[str, Table]:
    packages: Table = {}
    services: Table = {}
    frequencies: Table = {}
    for pid, (name, active, svcs) in enumerate(CATALOG, 1):
        packages[pid] = _stamp(
            {
                "name": name,
                "description": f"{name} package",
                "start": "2024-01-01",
                "expiry": None if active else "2024-12-31",
                "postPaid": False,
                "billOnAccountBillDay": True,
                "isActive": active,
            },
            pid,
        )
        for sname, stype, rec, one, over in svcs:
            sid = len(services) + 1
            services[sid] = _stamp(
                {
                    "name": sname,
                    "packageId": pid,
                    "serviceTypeId": stype,
                    "usageFrequency": "Monthly" if stype == 3 else None,
                    "isActive": active,
                    "isTaxExempt": False,
                    "prices": service_prices(rec, one, over),
                },
                sid,
            )
        code = "".join(w[0] for w in name.split())
        for fname, months in (("Monthly", 1), ("Annual", 12)):
            fid = len(frequencies) + 1
            frequencies[fid] = _stamp(
                {
                    "name": f"{name} {fname}",
                    "packageId": pid,
                    "frequency": months,
                    "frequencyTypeId": 3,
                    "sku": f"{code}-{fname[0]}",
                    "isActive": active,
                },
                fid,
            )
    return {"Package": packages, "Service": services, "PackageFrequency": frequencies}


def build_seed() -> dict[str, Table]:
    """Fresh seed tables, keyed by resource path, then by identity."""
    tables = {**_reference(), **_catalog()}
    tables["Account"] = {
        INTERNAL_ACCOUNT: _stamp(
            {
                "name": "Billing Dept Internal",
                "currencyId": USD,
                "accountStatusTypeId": ACTIVE,
                "billGroupId": MONTHLY_1ST,
                "accountsReceivableTermId": NET_30,
                "parentAccountId": None,
                "subscriptionInvoicerId": INTERNAL_ACCOUNT,
                "usageInvoicerId": INTERNAL_ACCOUNT,
                "sfdcid": None,
                "ownerId": 1,
            },
            INTERNAL_ACCOUNT,
        )
    }
    tables["Contact"] = {}
    tables["Account/PricePlan"] = {}
    return tables
