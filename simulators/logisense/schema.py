"""The simulated resources: their paths, fields, foreign keys and which verbs they allow.

Documented fields (LogiSense's public API reference) are fixed; the names the public pages leave
open (a contact's account link and contact points, a plan item's amounts, the usage invoicer,
custom fields) come from a ``LogiSenseMapping``, the same file the adapter reads, so that a
deployment's own choices can be tried against the simulator (``billsync sim logisense
--mapping PATH``). Fields are data so that one generic validator checks types, required fields,
unknown fields and references for every resource; the cross-field rules live in ``rules``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.logisense.mapping import LogiSenseMapping

READ_VERBS = frozenset({"list", "get", "detail", "paged", "search", "metadata"})
ALL_VERBS = READ_VERBS | {"create", "update", "patch", "delete"}


@dataclass(frozen=True)
class Field:
    """One writable field: its kind (str, int, bool, number, date, ref, list, ext) and rules.

    ``ref`` names the role of the resource a ``ref`` field points to; the response then also
    carries ``<name minus 'Id'>Name`` filled from that record. ``ext`` is the custom-field bag.
    """

    kind: str
    required: bool = False
    ref: str | None = None
    max_length: int | None = None
    documented: bool = True


@dataclass(frozen=True)
class Resource:
    """A REST resource: its role (billsync's name for it), its path and its writable fields."""

    role: str
    path: str
    fields: dict[str, Field]
    verbs: frozenset[str] = ALL_VERBS
    read_only: tuple[str, ...] = ("identity", "created", "updated")
    dto_type_key: str = ""

    @property
    def key(self) -> str:
        """The dtoTypeKey of this resource's records."""
        return self.dto_type_key or self.path.replace("/", "")


@dataclass(frozen=True)
class Schema:
    """Every resource of one simulator, by path and by role, and the mapping it was built from."""

    mapping: LogiSenseMapping
    by_path: dict[str, Resource] = field(default_factory=dict)

    def path(self, role: str) -> str:
        """The path of a role (``"account"`` -> ``"Account"``)."""
        return str(getattr(self.mapping.resources, role))

    def resource(self, role: str) -> Resource:
        """The resource of a role."""
        return self.by_path[self.path(role)]

    def role(self, path: str) -> str:
        """The role of a path."""
        return self.by_path[path].role


def _s(required: bool = False, max_length: int | None = 255, documented: bool = True) -> Field:
    return Field("str", required=required, max_length=max_length, documented=documented)


def _ref(role: str, required: bool = False, documented: bool = True) -> Field:
    return Field("ref", required=required, ref=role, documented=documented)


def _i(required: bool = False) -> Field:
    return Field("int", required=required)


def _b() -> Field:
    return Field("bool")


def _reference_fields() -> dict[str, dict[str, Field]]:
    return {
        "currency": {"name": _s(True), "code": _s(True), "symbol": _s(), "isDefault": _b()},
        "account_status": {"name": _s(True), "description": _s(), "isDefault": _b()},
        "account_type": {"name": _s(True), "description": _s(), "isDefault": _b()},
        "bill_group": {"name": _s(True), "billDay": _i(), "usageBillDay": _i()},
        "ar_terms": {
            "name": _s(True),
            "paymentTermId": _i(),
            "paymentDunningRuleId": _i(),
            "paymentRetryRuleId": _i(),
            "isDefault": _b(),
        },
        "contact_type": {
            "name": _s(True),
            "description": _s(),
            "isRequired": _b(),
            "contactTypeTypeId": _i(),
            "showOnNewAccount": _b(),
        },
        "contact_point_type": {
            "name": _s(True),
            "dataTypeId": _i(),
            "contactTypeId": _ref("contact_type", True),
            "isRequired": _b(),
            "allowMultiple": _b(),
            "isCore": _b(),
        },
        "country": {
            "name": _s(True),
            "countryCode": _s(True),
            "sortOrder": _i(),
            "countryAddressFormatId": _i(),
            "dataTypePostalCodeId": _i(),
            "isVisible": _b(),
        },
        "state": {
            "name": _s(True),
            "code": _s(True),
            "countryId": _ref("country", True),
            "sortOrder": _i(),
            "isVisible": _b(),
        },
    }


def _catalog_fields(m: LogiSenseMapping) -> dict[str, dict[str, Field]]:
    ext = m.account.extensions_field
    return {
        "package": {
            "name": _s(True),
            "description": _s(max_length=2000),
            "start": Field("date"),
            "expiry": Field("date"),
            "fullPeriod": _b(),
            "invoiceDetail": _b(),
            "postPaid": _b(),
            "billOnAccountBillDay": _b(),
            "isQuantityAllowed": _b(),
            "isActive": Field("bool", documented=False),
            ext: Field("ext"),
        },
        "package_frequency": {
            "name": _s(True),
            "packageId": _ref("package", True),
            "frequency": _i(),
            "frequencyTypeId": _i(),
            "termId": _i(),
            "sku": _s(),
            "isActive": _b(),
            ext: Field("ext"),
        },
        "package_currency": {
            "packageId": _ref("package", True, documented=False),
            "currencyId": _ref("currency", True, documented=False),
            "isActive": Field("bool", documented=False),
        },
        "service": {
            "name": _s(True),
            "serviceTypeId": _i(),
            "usageFrequency": _s(),
            "usageFrequencyTypeId": _i(),
            "isActive": _b(),
            "isTaxExempt": _b(),
            "isTaxInclusive": _b(),
            "generalLedgerId": _i(),
        },
        "package_service": {
            "packageId": _ref("package", True, documented=False),
            "serviceId": _ref("service", True, documented=False),
            m.catalog.list_prices: Field("list", documented=False),
        },
    }


def _written_fields(m: LogiSenseMapping) -> dict[str, dict[str, Field]]:
    ext = m.account.extensions_field
    c = m.contact
    return {
        "account": {
            "name": _s(True),
            "currencyId": _ref("currency", True),
            "accountStatusTypeId": _ref("account_status", True),
            "billGroupId": _ref("bill_group", True),
            "accountsReceivableTermsId": _ref("ar_terms"),
            "accountTypeId": _ref("account_type"),
            "invoiceDeliveryId": _i(),
            "billDay": _i(),
            "accountTaxCategoryId": _i(),
            "effectiveCancel": Field("date"),
            "invoicerAccountId": _ref("account"),
            m.account.usage_invoicer_field: _ref("account", documented=False),
            ext: Field("ext", documented=False),
        },
        "account_parent": {
            "accountId": _ref("account", True),
            "parentAccountId": _ref("account", True),
        },
        "contact": {
            "contactTypeId": _ref("contact_type", True),
            "title": _s(),
            "firstName": _s(),
            "lastName": _s(True),
            "isUsedForTax": _b(),
            c.account_field: _ref("account", True, documented=False),
            c.points_field: Field("list", documented=False),
        },
        "account_contact": {
            "accountId": _ref("account", True, documented=False),
            "contactId": _ref("contact", True, documented=False),
        },
        "price_plan": {
            "name": _s(True),
            "accountId": _ref("account", True),
            "description": _s(max_length=2000),
            "start": Field("date"),
            "end": Field("date"),
            "isConsolidatedByInvoicer": _b(),
            "includeChildAccounts": _b(),
            "packageServicePricePlan": Field("list"),
        },
    }


READ_ONLY_ROLES = frozenset(
    {
        "currency",
        "account_status",
        "account_type",
        "bill_group",
        "ar_terms",
        "contact_type",
        "contact_point_type",
        "country",
        "state",
    }
)
EXTRA_READ_ONLY = {
    "account": ("ownerId", "actingOwnerId"),
    "account_parent": ("topAccountId",),
    "contact": ("name",),
}
DTO_KEYS = {"ar_terms": "AccountsReceivableTerm", "price_plan": "AccountPricePlan"}


def build_schema(mapping: LogiSenseMapping) -> Schema:
    """Every resource, with the paths and open names of ``mapping``."""
    schema = Schema(mapping)
    every = {**_reference_fields(), **_catalog_fields(mapping), **_written_fields(mapping)}
    for role, fields in every.items():
        path = str(getattr(mapping.resources, role))
        schema.by_path[path] = Resource(
            role=role,
            path=path,
            fields=fields,
            verbs=READ_VERBS if role in READ_ONLY_ROLES else ALL_VERBS,
            read_only=("identity", "created", "updated", *EXTRA_READ_ONLY.get(role, ())),
            dto_type_key=DTO_KEYS.get(role, ""),
        )
    return schema


def item_fields(mapping: LogiSenseMapping) -> dict[str, Field]:
    """The fields of one ``packageServicePricePlan`` item (documented keys, chosen amounts)."""
    names = mapping.price_plan.item
    fields: dict[str, Field] = {
        "identity": _i(),
        "packageServiceId": _ref("package_service", True),
        "packageFrequencyId": _ref("package_frequency", True),
        "packageCurrencyId": _ref("package_currency", True),
        "accountProductCodeId": _i(),
        "priceBookId": _i(),
        "pricePlanTypeId": _i(),
        "effective": Field("date"),
        names.quantity: Field("number", documented=False),
        names.one_time_price: Field("number", documented=False),
        names.recurring_prices: Field("list", documented=False),
    }
    if names.overage_price:
        fields[names.overage_price] = Field("number", documented=False)
    return fields


def name_key(field_name: str) -> str:
    """``currencyId`` -> ``currencyName``."""
    return field_name[:-2] + "Name" if field_name.endswith("Id") else field_name + "Name"
