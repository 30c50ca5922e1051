"""The LogiSense names billsync relies on: resource paths, the ``sfdcid`` key and API versions.

The public LogiSense material does not fix every name billsync needs (docs/logisense-api.md, "What
billsync decides"), and each resource has its own current API version. Keeping them in one frozen
value means a real instance that differs is handled by configuration, not by editing the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

DEFAULT_API_VERSION = 7


@dataclass(frozen=True)
class LogiSenseNames:
    """Where each resource lives and which field carries the Salesforce id.

    ``versions`` overrides the client's API version for single resources, e.g.
    ``{"Account/PricePlan": 4}`` on an instance whose price plans are still on v4.
    """

    account: str = "Account"
    contact: str = "Contact"
    price_plan: str = "Account/PricePlan"
    currency: str = "Currency"
    account_status: str = "AccountStatusType"
    bill_group: str = "BillGroup"
    ar_terms: str = "AccountsReceivable/Terms"
    package: str = "Package"
    package_frequency: str = "PackageFrequency"
    service: str = "Service"
    sfdcid_field: str = "sfdcid"
    login_path: str = "AuthorizationServer/api/v{version}/Access/Login"
    resource_root: str = "ResourceServer/api/v{version}"
    versions: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


DEFAULT_NAMES = LogiSenseNames()
