"""The simulated resources: their paths, fields, foreign keys and which verbs they allow.

Fields are data so that one generic validator checks types, required fields, unknown fields and
references for every resource; the cross-field rules live in ``rules``.
"""

from __future__ import annotations

from dataclasses import dataclass

READ_VERBS = frozenset({"list", "get", "detail", "paged", "search"})
ALL_VERBS = READ_VERBS | {"create", "update", "patch", "delete"}


@dataclass(frozen=True)
class Field:
    """One writable field: its kind (str, int, bool, number, date, ref, refs, list) and rules.

    ``ref`` names the resource a ``ref``/``refs`` field points to; the response then also carries
    ``<name minus 'Id'>Name`` (or ``...Names`` for lists) filled from that record.
    """

    kind: str
    required: bool = False
    ref: str | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class Resource:
    """A REST resource: its path under ``/ResourceServer/api/vN/`` and its writable fields."""

    path: str
    fields: dict[str, Field]
    verbs: frozenset[str] = ALL_VERBS
    read_only: tuple[str, ...] = ("identity", "created", "updated")
    dto_type_key: str = ""
    name_field: str = "name"

    @property
    def key(self) -> str:
        """The dtoTypeKey of this resource's records."""
        return self.dto_type_key or self.path.replace("/", "")


def _s(required: bool = False, max_length: int | None = 255) -> Field:
    return Field("str", required=required, max_length=max_length)


def _ref(resource: str, required: bool = False) -> Field:
    return Field("ref", required=required, ref=resource)


CURRENCY = Resource(
    "Currency",
    {"name": _s(True), "code": _s(True), "symbol": _s(), "isDefault": Field("bool")},
    verbs=READ_VERBS,
)
ACCOUNT_STATUS_TYPE = Resource(
    "AccountStatusType",
    {"name": _s(True), "description": _s(), "isDefault": Field("bool")},
    verbs=READ_VERBS,
)
BILL_GROUP = Resource(
    "BillGroup",
    {"name": _s(True), "billDay": Field("int"), "usageBillDay": Field("int")},
    verbs=READ_VERBS,
)
AR_TERMS = Resource(
    "AccountsReceivable/Terms",
    {
        "name": _s(True),
        "paymentTermId": Field("int"),
        "days": Field("int"),
        "isDefault": Field("bool"),
    },
    verbs=READ_VERBS,
    dto_type_key="AccountsReceivableTerm",
)
PACKAGE = Resource(
    "Package",
    {
        "name": _s(True),
        "description": _s(max_length=2000),
        "start": Field("date"),
        "expiry": Field("date"),
        "postPaid": Field("bool"),
        "billOnAccountBillDay": Field("bool"),
        "isActive": Field("bool"),
    },
)
SERVICE = Resource(
    "Service",
    {
        "name": _s(True),
        "packageId": _ref("Package", True),
        "serviceTypeId": Field("int"),
        "usageFrequency": _s(),
        "isActive": Field("bool"),
        "isTaxExempt": Field("bool"),
        "prices": Field("list"),
    },
)
PACKAGE_FREQUENCY = Resource(
    "PackageFrequency",
    {
        "name": _s(True),
        "packageId": _ref("Package", True),
        "frequency": Field("int"),
        "frequencyTypeId": Field("int"),
        "sku": _s(),
        "isActive": Field("bool"),
    },
)
ACCOUNT = Resource(
    "Account",
    {
        "name": _s(True),
        "currencyId": _ref("Currency", True),
        "accountStatusTypeId": _ref("AccountStatusType", True),
        "billGroupId": _ref("BillGroup", True),
        "accountsReceivableTermId": _ref("AccountsReceivable/Terms"),
        "parentAccountId": _ref("Account"),
        "subscriptionInvoicerId": _ref("Account"),
        "usageInvoicerId": _ref("Account"),
        "sfdcid": _s(),
    },
    read_only=("identity", "created", "updated", "ownerId"),
)
CONTACT = Resource(
    "Contact",
    {
        "contactTypeId": Field("int"),
        "title": _s(),
        "firstName": _s(),
        "lastName": _s(True),
        "email": _s(),
        "phone": _s(max_length=50),
        "isUsedForTax": Field("bool"),
        "sfdcid": _s(),
        "accountIds": Field("refs", ref="Account"),
    },
    read_only=("identity", "created", "updated", "name"),
)
PRICE_PLAN = Resource(
    "Account/PricePlan",
    {
        "name": _s(True),
        "accountId": _ref("Account", True),
        "description": _s(max_length=2000),
        "start": Field("date"),
        "end": Field("date"),
        "isConsolidatedByInvoicer": Field("bool"),
        "includeChildAccounts": Field("bool"),
        "currencyId": _ref("Currency"),
        "sfdcid": _s(),
        "packageServicePricePlan": Field("list"),
    },
    dto_type_key="AccountPricePlan",
)

RESOURCES: dict[str, Resource] = {
    r.path: r
    for r in (
        ACCOUNT,
        CONTACT,
        PRICE_PLAN,
        PACKAGE,
        PACKAGE_FREQUENCY,
        SERVICE,
        BILL_GROUP,
        AR_TERMS,
        CURRENCY,
        ACCOUNT_STATUS_TYPE,
    )
}

# Resources whose ``sfdcid`` must be unique (409 on a duplicate).
UNIQUE_SFDCID = frozenset({"Account", "Contact", "Account/PricePlan"})

CONTACT_TYPES = {1: "Primary", 2: "Billing", 3: "Technical", 4: "Shipping"}


def name_key(field_name: str) -> str:
    """``currencyId`` -> ``currencyName``; ``accountIds`` -> ``accountNames``."""
    if field_name.endswith("Ids"):
        return field_name[:-3] + "Names"
    return field_name[:-2] + "Name"


ITEM_FIELDS: dict[str, Field] = {
    "identity": Field("int"),
    "packageId": _ref("Package", True),
    "serviceId": _ref("Service", True),
    "quantity": Field("number"),
    "recurringPrice": Field("number"),
    "oneTimePrice": Field("number"),
    "overagePrice": Field("number"),
    "statePrices": Field("list"),
}
SERVICE_PRICE_FIELDS: dict[str, Field] = {
    "currencyId": _ref("Currency", True),
    "recurringPrice": Field("number"),
    "oneTimePrice": Field("number"),
    "overagePrice": Field("number"),
    "statePrices": Field("list"),
}
