"""``LogiSenseClient``: the one object every worker uses to talk to LogiSense Billing.

It is a thin facade: ``session`` does HTTP, tokens and error translation; ``records`` the
find/create/update/read of accounts, contacts and price plans; ``reference`` and ``catalog`` the
read-only data that flows back to Salesforce. One client is meant to be shared by every thread of a
worker process (one login, one token, a pooled connection per thread).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from billsync.errors import ConfigError

from .accounts import AccountRecords
from .catalog import CatalogPackage, load_catalog
from .contacts import ContactRecords
from .mapping import DEFAULT_API_VERSION, DEFAULT_MAPPING, LogiSenseMapping
from .price_plans import PricePlanRecords
from .reference import ReferenceData, load_reference_data
from .session import Credentials, LogiSenseSession

DEFAULT_TIMEOUT_S = 15.0
DEFAULT_POOL_SIZE = 32


class LogiSenseClient:
    """Accounts, contacts and price plans written to LogiSense; reference data and catalog read.

    Every method raises only billsync errors: ``TransientError`` (retry later), ``NotFound``,
    ``RemoteRejected`` (LogiSense refused: each message in ``errors``), ``AuthenticationFailed``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str,
        password: str | None = None,
        client_id: str,
        client_secret: str | None = None,
        api_version: int = DEFAULT_API_VERSION,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        pool_size: int = DEFAULT_POOL_SIZE,
        verify: bool | str = True,
        mapping: LogiSenseMapping = DEFAULT_MAPPING,
        proxy: str | None = None,
    ) -> None:
        if password is None and client_secret is None:
            raise ConfigError(
                "LogiSense needs a password or a client secret: set BILLSYNC_LS_PASSWORD "
                "or BILLSYNC_LS_CLIENT_SECRET"
            )
        credentials = Credentials(username, client_id, password, client_secret)
        self.session = LogiSenseSession(
            base_url,
            credentials,
            names=mapping,
            api_version=api_version,
            timeout_s=timeout_s,
            pool_size=pool_size,
            verify=verify,
            proxy=proxy,
        )
        self.mapping = mapping
        self.accounts = AccountRecords(self.session, mapping)
        self.contacts = ContactRecords(self.session, mapping)
        self.price_plans = PricePlanRecords(self.session, mapping)

    # -- accounts ---------------------------------------------------------------------------------

    def find_account_by_sfdcid(self, sfdcid: str) -> dict[str, Any] | None:
        """The account whose ``sfdcid`` extension is exactly ``sfdcid``; several: PermanentError."""
        return self.accounts.find_by_sfdcid(sfdcid)

    def create_account(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Create an account (and its ``Account/Parent`` row); billsync's view of it."""
        return self.accounts.create(fields)

    def update_account(self, identity: int, fields: dict[str, Any]) -> None:
        """Change only ``fields`` of an account (``parentAccountId`` moves its parent row)."""
        self.accounts.update(identity, fields)

    def get_account(self, identity: int) -> dict[str, Any] | None:
        """The account's view, or None if LogiSense has no account with that identity."""
        return self.accounts.get(identity)

    def iter_accounts(self) -> Iterator[dict[str, Any]]:
        """Every account's view (billsync's and others'), paged, for drift checks."""
        return self.accounts.iter_all()

    # -- contacts ---------------------------------------------------------------------------------

    def find_contact_by_sfdcid(self, sfdcid: str) -> dict[str, Any] | None:
        """The contact whose ``sfdcid`` contact point is exactly ``sfdcid``; several: error."""
        return self.contacts.find_by_sfdcid(sfdcid)

    def create_contact(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Create a contact under its first account, linked to the others; its view."""
        return self.contacts.create(fields)

    def update_contact(self, identity: int, fields: dict[str, Any]) -> None:
        """Change only ``fields`` of a contact (``accountIds``: its whole set of accounts)."""
        self.contacts.update(identity, fields)

    def get_contact(self, identity: int) -> dict[str, Any] | None:
        """The contact's view, or None."""
        return self.contacts.get(identity)

    def iter_contacts(self) -> Iterator[dict[str, Any]]:
        """Every contact's view, paged, for drift checks."""
        return iter(self.contacts.iter_all())

    # -- price plans ------------------------------------------------------------------------------

    def find_price_plan(self, account_id: int, sfid: str) -> dict[str, Any] | None:
        """The plan of ``account_id`` pushed for opportunity ``sfid``, or None."""
        return self.price_plans.find(account_id, sfid)

    def price_plan_key(self, sfid: str) -> str:
        """The marker text (in the mapping's ``key_field``) of opportunity ``sfid``'s plan."""
        return self.price_plans.key(sfid)

    def create_price_plan(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Create an account price plan (items in ``packageServicePricePlan``); the instance."""
        return self.price_plans.resource.create(fields)

    def update_price_plan(self, identity: int, fields: dict[str, Any]) -> dict[str, Any]:
        """Change only ``fields`` of a price plan (a new item list replaces the old one)."""
        return self.price_plans.resource.update(identity, fields)

    def get_price_plan(self, identity: int) -> dict[str, Any] | None:
        """The price plan, or None."""
        return self.price_plans.resource.get(identity)

    # -- read-only data ---------------------------------------------------------------------------

    def reference_data(self) -> ReferenceData:
        """Every reference table (currencies ... countries and states), as one snapshot."""
        return load_reference_data(self.session)

    def catalog(self) -> list[CatalogPackage]:
        """Every package with its frequencies, currencies, services and list prices."""
        return load_catalog(self.session)

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def call_counts(self) -> dict[str, int]:
        """Requests sent, keyed like ``"GET Account"`` or ``"POST Account/Search"``."""
        return self.session.call_counts

    @property
    def login_count(self) -> int:
        """Successful logins so far (the first one plus every refresh)."""
        return self.session.tokens.logins

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()

    def __enter__(self) -> LogiSenseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LogiSenseClient({self.session.base_url!r})"
