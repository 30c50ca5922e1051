"""The simulated org's metadata: objects, fields, key prefixes and relationships.

Only the objects and fields that billsync uses exist (see docs/simulators-salesforce.md), each
with the type, requiredness and read-only flags of the real org, so that writes are validated as
Salesforce validates them and ``describe`` answers from the same table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STAGES: dict[str, tuple[bool, bool]] = {
    # StageName -> (IsClosed, IsWon); two won stages, so that "won" is never a string test.
    "Prospecting": (False, False),
    "Qualification": (False, False),
    "Negotiation": (False, False),
    "Closed Won": (True, True),
    "Signed": (True, True),
    "Closed Lost": (True, False),
}
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "JPY")
DEFAULT_CURRENCY = "USD"
REFERENCE_TYPES = (
    "BillGroup",
    "ARTerm",
    "AccountStatus",
    "Currency",
    "AccountType",
    "ContactType",
    "ContactPointType",
    "Country",
    "State",
)
SYSTEM_FIELDS = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)


@dataclass(frozen=True)
class FieldDef:
    """One field: its SOAP type, and whether a client may set it on create or update."""

    name: str
    type: str = "string"
    required: bool = False
    createable: bool = True
    updateable: bool = True
    reference_to: str | None = None
    relationship_name: str | None = None
    external_id: bool = False
    default: object = None
    picklist: tuple[str, ...] = ()
    length: int | None = None


@dataclass
class ObjectDef:
    """One sObject type: key prefix, fields, and how its change events are named."""

    name: str
    key_prefix: str
    fields: dict[str, FieldDef]
    label: str = ""
    platform_event: bool = False
    children: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def custom(self) -> bool:
        """Custom objects end in ``__c`` (and platform events in ``__e``)."""
        return self.name.endswith(("__c", "__e"))

    @property
    def change_event_channel(self) -> str:
        """``/data/AccountChangeEvent`` or ``/data/Thing__ChangeEvent`` for ``Thing__c``."""
        if self.name.endswith("__c"):
            return f"/data/{self.name[:-1]}ChangeEvent"
        return f"/data/{self.name}ChangeEvent"

    def external_ids(self) -> list[str]:
        """Fields that may key an upsert."""
        return [f.name for f in self.fields.values() if f.external_id]


def _ref(name: str, target: str, *, required: bool = False, fixed: bool = False) -> FieldDef:
    relationship = name[:-3] + "__r" if name.endswith("__c") else name[:-2]
    return FieldDef(
        name,
        "reference",
        required=required,
        updateable=not fixed,
        reference_to=target,
        relationship_name=relationship,
    )


def _ro(name: str, type_: str) -> FieldDef:
    return FieldDef(name, type_, createable=False, updateable=False)


def _system() -> list[FieldDef]:
    return [
        _ro("Id", "id"),
        _ro("IsDeleted", "boolean"),
        _ro("CreatedDate", "datetime"),
        _ro("CreatedById", "reference"),
        _ro("LastModifiedDate", "datetime"),
        _ro("LastModifiedById", "reference"),
        _ro("SystemModstamp", "datetime"),
    ]


def _currency() -> FieldDef:
    return FieldDef("CurrencyIsoCode", "picklist", default=DEFAULT_CURRENCY, picklist=CURRENCIES)


def _prices() -> list[FieldDef]:
    return [
        FieldDef("Recurring_Price__c", "currency"),
        FieldDef("One_Time_Price__c", "currency"),
        FieldDef("Overage_Price__c", "currency"),
        FieldDef("State_Prices__c", "textarea"),
    ]


def _object(name: str, prefix: str, fields: list[FieldDef], **kw: object) -> ObjectDef:
    all_fields = {f.name: f for f in _system() + fields}
    return ObjectDef(name=name, key_prefix=prefix, fields=all_fields, **kw)  # type: ignore[arg-type]


def _objects() -> list[ObjectDef]:
    return [
        _object(
            "Account",
            "001",
            [
                FieldDef("Name", required=True),
                _ref("ParentId", "Account"),
                _currency(),
                FieldDef("Type", "picklist"),
                FieldDef("Industry", "picklist"),
                FieldDef("Description", "textarea"),
                FieldDef("Phone", "phone"),
                FieldDef("Website", "url"),
                FieldDef("LogiSense_Sync__c", "boolean", default=False),
                _ref("Subscription_Invoice_Recipient__c", "Account"),
                _ref("Usage_Invoice_Recipient__c", "Account"),
                FieldDef("LogiSense_Account_Status__c"),
                FieldDef("LogiSense_Bill_Group__c"),
                FieldDef("LogiSense_AR_Term__c"),
                _ro("MasterRecordId", "reference"),
            ],
        ),
        _object(
            "Contact",
            "003",
            [
                _ref("AccountId", "Account"),
                FieldDef("FirstName"),
                FieldDef("LastName", required=True),
                _ro("Name", "string"),
                FieldDef("Title"),
                FieldDef("Email", "email"),
                FieldDef("Phone", "phone"),
                FieldDef("MailingStreet", "textarea"),
                FieldDef("MailingCity"),
                FieldDef("MailingState"),
                FieldDef("MailingPostalCode"),
                FieldDef("MailingCountry"),
                FieldDef("MailingStateCode", "picklist"),
                FieldDef("MailingCountryCode", "picklist"),
                FieldDef("LogiSense_Sync__c", "boolean", default=False),
                _ro("MasterRecordId", "reference"),
            ],
        ),
        _object(
            "AccountContactRelation",
            "07k",
            [
                _ref("AccountId", "Account", required=True, fixed=True),
                _ref("ContactId", "Contact", required=True, fixed=True),
                _ro("IsDirect", "boolean"),
                FieldDef("IsActive", "boolean", default=True),
                FieldDef("Roles", "multipicklist"),
            ],
        ),
        _object(
            "Opportunity",
            "006",
            [
                FieldDef("Name", required=True),
                _ref("AccountId", "Account"),
                FieldDef("StageName", "picklist", required=True, picklist=tuple(STAGES)),
                _ro("IsWon", "boolean"),
                _ro("IsClosed", "boolean"),
                _ref("Pricebook2Id", "Pricebook2"),
                FieldDef("CloseDate", "date", required=True),
                _currency(),
            ],
        ),
        _object(
            "OpportunityLineItem",
            "00k",
            [
                _ro("Name", "string"),
                _ref("OpportunityId", "Opportunity", required=True, fixed=True),
                _ref("PricebookEntryId", "PricebookEntry", required=True, fixed=True),
                FieldDef(
                    "Product2Id",
                    "reference",
                    updateable=False,
                    reference_to="Product2",
                    relationship_name="Product2",
                ),
                FieldDef("Quantity", "double", required=True),
                FieldDef("UnitPrice", "currency", required=True),
                _ro("TotalPrice", "currency"),
            ],
        ),
        _object(
            "Opportunity_Product_Service__c",
            "a00",
            [
                FieldDef("Name"),
                # Salesforce allows no lookup to OpportunityLineItem: the service belongs to its
                # opportunity (master-detail) and names its line item by id, in a text field.
                _ref("Opportunity__c", "Opportunity", required=True, fixed=True),
                FieldDef("Opportunity_Product_Id__c", required=True, length=18),
                _ref("Product_Service__c", "Product_Service__c"),
                FieldDef("Quantity__c", "double"),
                *_prices(),
            ],
        ),
        _object(
            "Pricebook2",
            "01s",
            [
                FieldDef("Name", required=True),
                FieldDef("IsActive", "boolean", default=False),
                _ro("IsStandard", "boolean"),
                FieldDef("Description", "textarea"),
            ],
        ),
        _object(
            "Product2",
            "01t",
            [
                FieldDef("Name", required=True),
                FieldDef("ProductCode"),
                FieldDef("Description", "textarea"),
                FieldDef("Family", "picklist"),
                FieldDef("IsActive", "boolean", default=False),
                FieldDef("LogiSense_Package_Id__c", external_id=True),
                FieldDef("LogiSense_Product_Key__c", external_id=True),
                FieldDef("LogiSense_Package_Frequency_Id__c"),
            ],
        ),
        _object(
            "PricebookEntry",
            "01u",
            [
                _ro("Name", "string"),
                _ref("Pricebook2Id", "Pricebook2", required=True, fixed=True),
                _ref("Product2Id", "Product2", required=True, fixed=True),
                FieldDef("UnitPrice", "currency", required=True),
                FieldDef("IsActive", "boolean", default=False),
                FieldDef("UseStandardPrice", "boolean", default=False),
                FieldDef(
                    "CurrencyIsoCode",
                    "picklist",
                    default=DEFAULT_CURRENCY,
                    picklist=CURRENCIES,
                    updateable=False,
                ),
                FieldDef("LogiSense_Id__c", external_id=True),
            ],
        ),
        _object(
            "Product_Service__c",
            "a01",
            [
                FieldDef("Name"),
                _ref("Product__c", "Product2", required=True),
                FieldDef("LogiSense_Service_Id__c", external_id=True),
                FieldDef("LogiSense_Package_Service_Id__c"),
                FieldDef("IsActive__c", "boolean", default=True),
                *_prices(),
            ],
        ),
        _object(
            "LogiSense_Reference__c",
            "a02",
            [
                FieldDef("Name"),
                FieldDef("Type__c", "picklist", picklist=REFERENCE_TYPES),
                FieldDef("LogiSense_Id__c", external_id=True),
                FieldDef("IsActive__c", "boolean", default=True),
            ],
        ),
        ObjectDef(
            name="LogiSense_Sync_Request__e",
            key_prefix="e00",
            platform_event=True,
            fields={
                f.name: f
                for f in [
                    _ro("CreatedDate", "datetime"),
                    _ro("CreatedById", "reference"),
                    FieldDef("Record_Id__c", required=True, length=18),
                ]
            },
        ),
    ]


CHILD_RELATIONSHIPS: dict[str, dict[str, tuple[str, str]]] = {
    "Account": {
        "Contacts": ("Contact", "AccountId"),
        "Opportunities": ("Opportunity", "AccountId"),
        "AccountContactRelations": ("AccountContactRelation", "AccountId"),
        "ChildAccounts": ("Account", "ParentId"),
    },
    "Contact": {"AccountContactRelations": ("AccountContactRelation", "ContactId")},
    "Opportunity": {
        "OpportunityLineItems": ("OpportunityLineItem", "OpportunityId"),
        "Opportunity_Product_Services__r": ("Opportunity_Product_Service__c", "Opportunity__c"),
    },
    "Product2": {
        "PricebookEntries": ("PricebookEntry", "Product2Id"),
        "Product_Services__r": ("Product_Service__c", "Product__c"),
    },
    "Pricebook2": {"PricebookEntries": ("PricebookEntry", "Pricebook2Id")},
    "Product_Service__c": {
        "Opportunity_Product_Services__r": ("Opportunity_Product_Service__c", "Product_Service__c")
    },
}


def build_schema() -> dict[str, ObjectDef]:
    """A fresh copy of the org's metadata, keyed by object name."""
    objects = {o.name: o for o in _objects()}
    for name, children in CHILD_RELATIONSHIPS.items():
        objects[name].children = dict(children)
    return objects


SCHEMA = build_schema()
PREFIXES = {o.key_prefix: o.name for o in SCHEMA.values()}
