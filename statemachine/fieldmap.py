"""Which Salesforce fields map to which LogiSense fields (SPEC §3, docs/adapters-logisense.md).

The defaults are LogiSense's documented names (Account ``accountsReceivableTermsId``,
``invoicerAccountId``, ``accountTypeId``...; a contact's e-mail, phone and address as contact
points) and the account fields whose change makes the official app resync: Name, Type, Status,
Bill Group, AR term, parent, both invoice recipients and mapped custom fields ("extensions").
A deployment can override them with a JSON file (``BILLSYNC_FIELD_MAP_FILE``) of the same shape.
Only changes to mapped fields (or the scope flag) cause a LogiSense call. Fields whose LogiSense
value needs a lookup (reference names, linked accounts) are "resolved" fields: the worker turns
the Salesforce value into a LogiSense id.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from billsync.errors import ConfigError

SCOPE_FIELD = "LogiSense_Sync__c"

#: Salesforce field -> LogiSense field, copied as they are.
ACCOUNT_PLAIN = MappingProxyType({"Name": "name", "Id": "sfdcid"})
#: Salesforce field -> (LogiSense field, how the value is resolved).
ACCOUNT_RESOLVED = MappingProxyType(
    {
        "CurrencyIsoCode": ("currencyId", "currency"),
        "Type": ("accountTypeId", "account_type"),
        "LogiSense_Account_Status__c": ("accountStatusTypeId", "account_status"),
        "LogiSense_Bill_Group__c": ("billGroupId", "bill_group"),
        "LogiSense_AR_Term__c": ("accountsReceivableTermsId", "ar_term"),
        "ParentId": ("parentAccountId", "account"),
        "Subscription_Invoice_Recipient__c": ("invoicerAccountId", "invoicer"),
        "Usage_Invoice_Recipient__c": ("usageInvoicerAccountId", "invoicer"),
    }
)
#: Salesforce field -> LogiSense account custom field (extension column); none by default.
ACCOUNT_EXTENSIONS: MappingProxyType[str, str] = MappingProxyType({})
CONTACT_PLAIN = MappingProxyType(
    {"FirstName": "firstName", "LastName": "lastName", "Title": "title", "Id": "sfdcid"}
)
#: Salesforce field -> contact point (billsync's role name; the mapping file names the type).
CONTACT_POINTS = MappingProxyType({"Email": "email", "Phone": "phone"})
#: Salesforce address field -> part of the address contact point (codes: State/Country picklists).
CONTACT_ADDRESS = MappingProxyType(
    {
        "MailingStreet": "street",
        "MailingCity": "city",
        "MailingPostalCode": "postal_code",
        "MailingCountryCode": "country",
        "MailingStateCode": "state",
    }
)
#: Contact fields that decide which accounts it links to.
CONTACT_LINK_FIELDS = ("AccountId",)


@dataclass(frozen=True)
class FieldMap:
    """The mapping in force for one deployment."""

    account_plain: dict[str, str] = field(default_factory=lambda: dict(ACCOUNT_PLAIN))
    account_resolved: dict[str, tuple[str, str]] = field(
        default_factory=lambda: dict(ACCOUNT_RESOLVED)
    )
    contact_plain: dict[str, str] = field(default_factory=lambda: dict(CONTACT_PLAIN))
    account_extensions: dict[str, str] = field(default_factory=lambda: dict(ACCOUNT_EXTENSIONS))
    contact_points: dict[str, str] = field(default_factory=lambda: dict(CONTACT_POINTS))
    contact_address: dict[str, str] = field(default_factory=lambda: dict(CONTACT_ADDRESS))
    #: A Salesforce contact field naming the LogiSense contact type (by name); None: every
    #: contact is of the mapping's billing contact type.
    contact_type_field: str | None = None

    def watched(self, object_name: str) -> frozenset[str]:
        """Salesforce fields whose change can require a LogiSense update."""
        if object_name == "Account":
            names = set(self.account_plain) | set(self.account_resolved)
            names |= set(self.account_extensions)
        elif object_name == "Contact":
            names = set(self.contact_plain) | set(CONTACT_LINK_FIELDS)
            names |= set(self.contact_points) | set(self.contact_address)
            if self.contact_type_field:
                names.add(self.contact_type_field)
        else:
            return frozenset()
        return frozenset(names | {SCOPE_FIELD})

    def salesforce_fields(self, object_name: str) -> tuple[str, ...]:
        """The fields a re-read of ``object_name`` must fetch."""
        if object_name == "Opportunity":
            return (
                "Id",
                "Name",
                "AccountId",
                "StageName",
                "IsWon",
                "Pricebook2Id",
                "CurrencyIsoCode",
                "CloseDate",
            )
        if object_name == "AccountContactRelation":
            return ("Id", "AccountId", "ContactId", "IsActive", "IsDirect")
        return tuple(sorted(self.watched(object_name) | {"Id"}))

    @classmethod
    def load(cls, path: str | None) -> FieldMap:
        """The defaults, overridden by the file at ``path`` when one is given.

        A JSON file holds the sections at its top level; a TOML file is the LogiSense mapping
        file, whose optional ``[salesforce]`` table holds them, so one file can name everything
        a deployment changes (docs/adapters-logisense.md, "The mapping file").
        """
        if not path:
            return cls()
        try:
            text = Path(path).read_text()
            data: dict[str, Any] = (
                tomllib.loads(text).get("salesforce", {})
                if path.endswith(".toml")
                else json.loads(text)
            )
            return cls(
                account_plain=dict(data.get("account_plain", ACCOUNT_PLAIN)),
                account_resolved={
                    k: (v[0], v[1])
                    for k, v in data.get("account_resolved", ACCOUNT_RESOLVED).items()
                },
                contact_plain=dict(data.get("contact_plain", CONTACT_PLAIN)),
                account_extensions=dict(data.get("account_extensions", ACCOUNT_EXTENSIONS)),
                contact_points=dict(data.get("contact_points", CONTACT_POINTS)),
                contact_address=dict(data.get("contact_address", CONTACT_ADDRESS)),
                contact_type_field=data.get("contact_type_field"),
            )
        except (OSError, ValueError, TypeError, IndexError, AttributeError) as exc:
            raise ConfigError(f"field map file {path} is unreadable: {exc}") from None
