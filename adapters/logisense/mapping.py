"""The LogiSense mapping: every name billsync uses on a LogiSense instance, in one file.

LogiSense's public pages document most names (account fields, the ``Account/Parent`` resource,
contact types and contact points, ``packageServicePricePlan`` keys) and leave others open (how a
contact attaches to an account, where a plan item's amounts live, the custom-field JSON shape).
The documented names are the defaults; the open ones are billsync's choices. Both live in one
TOML file (``mapping.toml`` beside this module ships the defaults; ``BILLSYNC_LS_MAPPING_FILE``
points at a deployment's copy), validated here so that a bad key fails at start-up, by name.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from billsync.errors import ConfigError

DEFAULT_MAPPING_FILE = Path(__file__).with_name("mapping.toml")
DEFAULT_API_VERSION = 7


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Server(_Section):
    """Where the two servers live, and which API versions each resource speaks."""

    login_path: str = "AuthorizationServer/api/v{version}/Access/Login"
    resource_root: str = "ResourceServer/api/v{version}"
    update_request_below_version: int = Field(default=4, ge=0)
    versions: dict[str, int] = Field(default_factory=dict)


class Resources(_Section):
    """Resource paths under ``/ResourceServer/api/vN/``."""

    account: str = "Account"
    account_parent: str = "Account/Parent"
    account_contact: str = "Account/Contact"
    contact: str = "Contact"
    price_plan: str = "Account/PricePlan"
    currency: str = "Currency"
    account_status: str = "AccountStatusType"
    account_type: str = "AccountType"
    bill_group: str = "BillGroup"
    ar_terms: str = "AccountsReceivable/Terms"
    contact_type: str = "ContactType"
    contact_point_type: str = "ContactPointType"
    country: str = "Country"
    state: str = "State"
    package: str = "Package"
    package_frequency: str = "Package/Frequency"
    package_service: str = "Package/Service"
    package_currency: str = "Package/Currency"
    service: str = "Service"


class AccountNames(_Section):
    """Account fields LogiSense leaves open, and where custom fields ("extensions") live."""

    usage_invoicer_field: str = "usageInvoicerAccountId"
    extensions_field: str = "extensions"
    extensions_shape: Literal["object", "list"] = "object"
    sfdcid_extension: str = "sfdcid"
    sfdcid_search_name: str = "sfdcid"


class ContactPoints(_Section):
    """billsync's contact values -> contact point type names (per contact type in LogiSense)."""

    email: str = "email"
    phone: str = "phone"
    sfdcid: str = "sfdcid"
    address: str = "address"


class AddressFields(_Section):
    """billsync's address parts -> fields of an address contact point."""

    street: str = "address1"
    street2: str = "address2"
    city: str = "city"
    postal_code: str = "zip"
    country: str = "countryId"
    state: str = "stateId"


class ContactNames(_Section):
    """How a contact is typed, attached to its account, and carries its contact points."""

    billing_contact_type: str = "Billing"
    account_field: str = "accountId"
    points_field: str = "contactPoints"
    point_type_field: str = "contactPointTypeId"
    point_value_field: str = "value"
    shared_contacts: Literal["link", "none"] = "link"
    sfdcid_search_name: str = "sfdcid"
    points: ContactPoints = ContactPoints()
    address: AddressFields = AddressFields()


class PlanItemNames(_Section):
    """Where a ``packageServicePricePlan`` item's amounts live (undocumented publicly)."""

    quantity: str = "quantity"
    one_time_price: str = "oneTimePrice"
    recurring_prices: str = "recurringPrices"
    recurring_status: str = "serviceStatusName"
    recurring_amount: str = "amount"
    default_status: str = "Active"
    overage_price: str = ""


class PricePlanNames(_Section):
    """How billsync finds an opportunity's plan again (plans carry no ``sfdcid``)."""

    key_field: str = "description"
    key_format: str = "Salesforce opportunity {sfid}"
    item: PlanItemNames = PlanItemNames()

    def key(self, sfid: str) -> str:
        """The text that marks the plan of opportunity ``sfid``."""
        return self.key_format.format(sfid=sfid)


class CatalogNames(_Section):
    """Catalog names: the frequency's product family extension, the product name pattern."""

    family_extension: str = "family"
    product_name: str = "{package} {frequency} {currency}"
    list_prices: str = "prices"


class SalesforceFields(_Section):
    """Which Salesforce field feeds which LogiSense field (read by ``statemachine.fieldmap``).

    Each table replaces the field map's default of the same name when given.
    """

    account_plain: dict[str, str] | None = None
    account_resolved: dict[str, tuple[str, str]] | None = None
    account_extensions: dict[str, str] | None = None
    contact_plain: dict[str, str] | None = None
    contact_points: dict[str, str] | None = None
    contact_address: dict[str, str] | None = None
    contact_type_field: str | None = None


class LogiSenseMapping(_Section):
    """The whole mapping; every section has the documented (or chosen) defaults."""

    server: Server = Server()
    resources: Resources = Resources()
    account: AccountNames = AccountNames()
    contact: ContactNames = ContactNames()
    price_plan: PricePlanNames = PricePlanNames()
    catalog: CatalogNames = CatalogNames()
    salesforce: SalesforceFields = SalesforceFields()

    # -- what the session needs ---------------------------------------------------------------

    @property
    def login_path(self) -> str:
        """``AuthorizationServer/api/v{version}/Access/Login``."""
        return self.server.login_path

    @property
    def resource_root(self) -> str:
        """``ResourceServer/api/v{version}``."""
        return self.server.resource_root

    @property
    def versions(self) -> dict[str, int]:
        """Per-resource API version overrides."""
        return self.server.versions

    @property
    def sfdcid_field(self) -> str:
        """The account extension that carries the Salesforce id."""
        return self.account.sfdcid_extension

    # -- extensions ---------------------------------------------------------------------------

    def extensions_of(self, record: dict[str, Any]) -> dict[str, Any]:
        """A record's custom fields as a plain dict, whichever shape the instance uses."""
        raw = record.get(self.account.extensions_field)
        if isinstance(raw, dict):
            return dict(raw)
        if isinstance(raw, list):
            return {
                str(e.get("name")): e.get("value")
                for e in raw
                if isinstance(e, dict) and e.get("name")
            }
        return {}

    def extensions_value(self, values: dict[str, Any]) -> Any:
        """Custom field values in the instance's JSON shape."""
        if self.account.extensions_shape == "list":
            return [{"name": k, "value": v} for k, v in values.items()]
        return dict(values)


def load_mapping(path: str | Path | None = None) -> LogiSenseMapping:
    """The mapping from ``path`` (the shipped defaults when None); ConfigError names bad keys."""
    source = Path(path) if path else DEFAULT_MAPPING_FILE
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"LogiSense mapping file {source} cannot be read ({exc.strerror}); "
            "check BILLSYNC_LS_MAPPING_FILE"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"LogiSense mapping file {source} is not valid TOML: {exc}") from None
    return mapping_from(data, source=str(source))


def mapping_from(data: dict[str, Any], *, source: str = "mapping") -> LogiSenseMapping:
    """Validate parsed mapping data; one ConfigError listing every bad key with its path."""
    try:
        return LogiSenseMapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"LogiSense mapping file {source} is invalid: {problems} "
            "(see docs/adapters-logisense.md, 'The mapping file')"
        ) from None


DEFAULT_MAPPING = LogiSenseMapping()
