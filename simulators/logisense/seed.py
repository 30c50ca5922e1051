"""The deterministic seed: reference data, a catalog with prices, and one LogiSense-only account.

``build_seed(schema)`` returns fresh tables every call, so a reset never shares objects with a
previous run. Identities are fixed, so tests and docs may name them (``USD`` is currency 1, the
Billing contact type is 1, and so on). Contact point types, custom fields and list prices use the
names of the simulator's mapping.
"""

from __future__ import annotations

from typing import Any

from .schema import Schema

SEED_TIME = "2024-01-01T00:00:00Z"

USD, EUR, GBP = 1, 2, 3
ACTIVE, PENDING, SUSPENDED, CLOSED = 1, 2, 3, 4
MONTHLY_1ST, MONTHLY_15TH, MONTHLY_LAST = 1, 2, 3
NET_30, NET_15, DUE_ON_RECEIPT = 1, 2, 3
CUSTOMER, PARTNER, RESELLER = 1, 2, 3
BILLING, ADMIN, SHIPPING = 1, 2, 3
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
ACCOUNT_TYPES = [("Customer", True), ("Partner", False), ("Reseller", False)]
BILL_GROUPS = [("Monthly 1st", 1), ("Monthly 15th", 15), ("Monthly Last Day", 31)]
AR_TERMS = [("Net 30", True), ("Net 15", False), ("Due on receipt", False)]
CONTACT_TYPES = [("Billing", True), ("Admin", False), ("Shipping", False)]
# contact point role -> dataTypeId (1 text, 2 e-mail, 3 phone, 4 address)
POINT_TYPES = [("email", 2), ("phone", 3), ("sfdcid", 1), ("address", 4)]
COUNTRIES = [
    ("United States", "US", [("California", "CA"), ("New York", "NY"), ("Texas", "TX")]),
    ("Canada", "CA", [("Ontario", "ON"), ("Quebec", "QC")]),
    ("United Kingdom", "GB", [("England", "ENG"), ("Scotland", "SCT")]),
    ("Germany", "DE", [("Bavaria", "BY"), ("Berlin", "BE")]),
]

# package name, active, [(service name, serviceTypeId, recurring, one-time)]
# serviceTypeId: 1 recurring, 2 one-time, 3 usage.
CATALOG: list[tuple[str, bool, list[tuple[str, int, float, float]]]] = [
    (
        "Internet Essentials",
        True,
        [
            ("Fiber 100 Mbps Access", 1, 79.0, 0.0),
            ("Static IP Address", 1, 10.0, 0.0),
            ("Installation", 2, 0.0, 149.0),
        ],
    ),
    (
        "Business Voice",
        True,
        [
            ("Voice Line", 1, 25.0, 0.0),
            ("Long Distance Minutes", 3, 0.0, 0.0),
            ("Number Porting", 2, 0.0, 35.0),
        ],
    ),
    (
        "Cloud Backup",
        True,
        [("Backup Storage 1 TB", 1, 49.0, 0.0), ("Backup Agent", 1, 5.0, 0.0)],
    ),
    (
        "Managed Security",
        True,
        [
            ("Firewall Management", 1, 199.0, 0.0),
            ("Threat Monitoring", 1, 149.0, 0.0),
            ("Security Audit", 2, 0.0, 2500.0),
            ("Incident Response Retainer", 1, 500.0, 0.0),
        ],
    ),
    (
        "Legacy DSL",
        False,
        [("DSL 10 Mbps Access", 1, 39.0, 0.0), ("Modem Rental", 1, 4.0, 0.0)],
    ),
]
# frequency name, months, product family
FREQUENCIES = [("1m", 1, "Monthly Plans"), ("12m", 12, "Annual Plans")]


def _stamp(record: dict[str, Any], identity: int) -> dict[str, Any]:
    return {"identity": identity, **record, "created": SEED_TIME, "updated": SEED_TIME}


def _money(usd: float, currency: int) -> float:
    return round(usd * FX[currency], 2)


def list_prices(schema: Schema, recurring: float, one_time: float) -> list[dict[str, Any]]:
    """A package service's list prices in every seeded currency, per service status."""
    item = schema.mapping.price_plan.item
    return [
        {
            "currencyId": cur,
            item.one_time_price: _money(one_time, cur),
            item.recurring_prices: [
                {item.recurring_status: "Active", item.recurring_amount: _money(recurring, cur)},
                {
                    item.recurring_status: "Suspended",
                    item.recurring_amount: _money(recurring * 0.25, cur),
                },
            ],
        }
        for cur in (USD, EUR, GBP)
    ]


def _numbered(rows: list[dict[str, Any]]) -> Table:
    return {i: _stamp(row, i) for i, row in enumerate(rows, 1)}


def _reference(schema: Schema) -> dict[str, Table]:
    points = schema.mapping.contact.points
    point_names = {
        "email": points.email,
        "phone": points.phone,
        "sfdcid": points.sfdcid,
        "address": points.address,
    }
    contact_types = [
        (schema.mapping.contact.billing_contact_type if n == "Billing" else n, r)
        for n, r in CONTACT_TYPES
    ]
    point_rows = [
        {
            "name": point_names[role],
            "dataTypeId": data_type,
            "contactTypeId": type_id,
            "isRequired": False,
            "allowMultiple": False,
            "isCore": role != "sfdcid",
        }
        for type_id in range(1, len(contact_types) + 1)
        for role, data_type in POINT_TYPES
    ]
    states = [
        {"name": n, "code": c, "countryId": cid, "sortOrder": i, "isVisible": True}
        for cid, (_, _, rows) in enumerate(COUNTRIES, 1)
        for i, (n, c) in enumerate(rows, 1)
    ]
    tables = {
        "currency": _numbered(
            [{"name": n, "code": c, "symbol": s, "isDefault": d} for n, c, s, d in CURRENCIES]
        ),
        "account_status": _numbered(
            [{"name": n, "description": desc, "isDefault": d} for n, desc, d in STATUS_TYPES]
        ),
        "account_type": _numbered(
            [{"name": n, "description": f"{n} account", "isDefault": d} for n, d in ACCOUNT_TYPES]
        ),
        "bill_group": _numbered(
            [{"name": n, "billDay": day, "usageBillDay": day} for n, day in BILL_GROUPS]
        ),
        "ar_terms": _numbered(
            [
                {"name": n, "paymentTermId": i, "isDefault": d}
                for i, (n, d) in enumerate(AR_TERMS, 1)
            ]
        ),
        "contact_type": _numbered(
            [
                {"name": n, "isRequired": r, "description": f"{n} contact", "showOnNewAccount": r}
                for n, r in contact_types
            ]
        ),
        "contact_point_type": _numbered(point_rows),
        "country": _numbered(
            [
                {"name": n, "countryCode": c, "sortOrder": i, "isVisible": True}
                for i, (n, c, _) in enumerate(COUNTRIES, 1)
            ]
        ),
        "state": _numbered(states),
    }
    return {schema.path(role): table for role, table in tables.items()}


def _catalog(schema: Schema) -> dict[str, Table]:
    ext = schema.mapping.account.extensions_field
    family = schema.mapping.catalog.family_extension
    prices_field = schema.mapping.catalog.list_prices
    packages: Table = {}
    services: Table = {}
    package_services: Table = {}
    frequencies: Table = {}
    currencies: Table = {}
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
        for sname, stype, rec, one in svcs:
            sid = len(services) + 1
            services[sid] = _stamp(
                {
                    "name": sname,
                    "serviceTypeId": stype,
                    "usageFrequency": "Monthly" if stype == 3 else None,
                    "isActive": active,
                    "isTaxExempt": False,
                },
                sid,
            )
            package_services[sid] = _stamp(
                {"packageId": pid, "serviceId": sid, prices_field: list_prices(schema, rec, one)},
                sid,
            )
        code = "".join(w[0] for w in name.split())
        for fname, months, fam in FREQUENCIES:
            fid = len(frequencies) + 1
            frequencies[fid] = _stamp(
                {
                    "name": fname,
                    "packageId": pid,
                    "frequency": months,
                    "frequencyTypeId": 3,
                    "sku": f"{code}-{fname}",
                    "isActive": active,
                    ext: schema.mapping.extensions_value({family: fam}),
                },
                fid,
            )
        for cur in (USD, EUR, GBP):
            cid = len(currencies) + 1
            currencies[cid] = _stamp({"packageId": pid, "currencyId": cur, "isActive": True}, cid)
    return {
        schema.path("package"): packages,
        schema.path("service"): services,
        schema.path("package_service"): package_services,
        schema.path("package_frequency"): frequencies,
        schema.path("package_currency"): currencies,
    }


def build_seed(schema: Schema) -> dict[str, Table]:
    """Fresh seed tables, keyed by resource path, then by identity."""
    tables = {**_reference(schema), **_catalog(schema)}
    m = schema.mapping
    tables[schema.path("account")] = {
        INTERNAL_ACCOUNT: _stamp(
            {
                "name": "Billing Dept Internal",
                "currencyId": USD,
                "accountStatusTypeId": ACTIVE,
                "billGroupId": MONTHLY_1ST,
                "accountsReceivableTermsId": NET_30,
                "accountTypeId": CUSTOMER,
                "invoicerAccountId": INTERNAL_ACCOUNT,
                m.account.usage_invoicer_field: INTERNAL_ACCOUNT,
                m.account.extensions_field: m.extensions_value({}),
                "ownerId": 1,
            },
            INTERNAL_ACCOUNT,
        )
    }
    for role in ("account_parent", "contact", "account_contact", "price_plan"):
        tables[schema.path(role)] = {}
    return tables
