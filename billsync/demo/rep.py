"""A sales rep working in the Salesforce simulator through its REST API: what the demo and the
tests use to make Salesforce change the way people change it (billsync itself never writes these
objects)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests

from billsync.errors import RemoteRejected


@dataclass
class Service:
    """One Opportunity Product Service: a LogiSense service id and the negotiated prices."""

    service: int
    recurring: float
    one_time: float = 0.0
    overage: float = 0.0
    quantity: float = 1.0
    states: list[dict[str, Any]] = field(default_factory=list)
    sf_service_id: str | None = None


@dataclass
class Line:
    """One OpportunityLineItem: a LogiSense package (sold with a frequency) and its services;
    the price is their sum. The product is found through the first service's package service id,
    the frequency's name and the currency ("Internet Essentials 1m USD")."""

    package: int
    services: list[Service]
    unit_price: float | None = None
    frequency: str = "1m"

    def total(self) -> float:
        """Sum of quantity x recurring + one-time (SPEC §3)."""
        return float(
            sum(
                Decimal(str(s.quantity)) * Decimal(str(s.recurring)) + Decimal(str(s.one_time))
                for s in self.services
            )
        )


class Rep:
    """REST calls with a token of the rep's own; ``/__sim/*`` admin calls."""

    def __init__(self, sim: Any, *, client_id: str, client_secret: str) -> None:
        self.sim = sim
        self.client_id = client_id
        self.client_secret = client_secret
        self.base_url: str = sim.base_url
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = sim.ca_file
        self._token: str | None = None

    def admin(self, name: str, body: dict[str, Any] | None = None) -> Any:
        """POST (with a body) or GET (without) one ``/__sim/<name>`` route."""
        url = f"{self.base_url}/__sim/{name}"
        answer = (
            self.http.get(url, timeout=10)
            if body is None
            else self.http.post(url, json=body, timeout=10)
        )
        answer.raise_for_status()
        return answer.json()

    def writes(self) -> int:
        """Data writes the org has served so far (``/__sim/stats``; logins left out)."""
        stats = self.admin("stats")
        return int(stats["writes_total"]) - int(
            stats["routes"].get("POST /services/oauth2/token", 0)
        )

    def token(self) -> str:
        """The rep's access token (client credentials)."""
        if self._token is None:
            answer = self.http.post(
                f"{self.base_url}/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
                timeout=10,
            )
            answer.raise_for_status()
            self._token = answer.json()["access_token"]
        return self._token

    def rest(self, method: str, path: str, body: Any = None) -> Any:
        """One REST call under ``/services/data/v59.0/``; raises on an error status."""
        answer = self.http.request(
            method,
            f"{self.base_url}/services/data/v59.0/{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=10,
        )
        if answer.status_code >= 400:
            raise RemoteRejected(
                f"{method} {path}: {answer.status_code} {answer.text}", status=answer.status_code
            )
        return answer.json() if answer.content else None

    def query(self, soql: str) -> list[dict[str, Any]]:
        """Every record of a SOQL query (the tests' queries are small)."""
        answer = self.http.get(
            f"{self.base_url}/services/data/v59.0/query",
            params={"q": soql},
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=10,
        )
        answer.raise_for_status()
        return list(answer.json()["records"])

    def create(self, sobject: str, fields: dict[str, Any]) -> str:
        """Create one record; its id."""
        return str(self.rest("POST", f"sobjects/{sobject}", fields)["id"])

    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        """Change fields of one record."""
        self.rest("PATCH", f"sobjects/{sobject}/{record_id}", fields)

    # -- catalog look-ups ---------------------------------------------------------------------

    def pricebook_id(self, name: str = "LogiSense") -> str:
        """The id of the price book called ``name``."""
        rows = self.query(f"SELECT Id FROM Pricebook2 WHERE Name = '{name}'")
        if not rows:
            raise LookupError(f"no price book {name!r}")
        return str(rows[0]["Id"])

    def product(self, service: int, currency: str, frequency: str = "1m") -> str:
        """The Product2 (one per package frequency and currency) that sells package service
        ``service`` with ``frequency`` in ``currency``."""
        rows = self.query(
            "SELECT Product__c FROM Product_Service__c WHERE "
            f"LogiSense_Package_Service_Id__c = '{service}' AND "
            f"Product__r.Name LIKE '% {frequency} {currency}'"
        )
        if not rows:
            raise LookupError(f"no product sells service {service} ({frequency}, {currency})")
        return str(rows[0]["Product__c"])

    def entry(self, product: str, currency: str, book: str = "LogiSense") -> str:
        """The PricebookEntry of Product2 ``product`` in ``book`` and ``currency``."""
        rows = self.query(
            "SELECT Id FROM PricebookEntry WHERE Pricebook2.Name = "
            f"'{book}' AND Product2Id = '{product}' AND CurrencyIsoCode = '{currency}'"
        )
        if not rows:
            raise LookupError(f"no entry for product {product} in {book} ({currency})")
        return str(rows[0]["Id"])

    def product_service(self, product: str, service: int) -> str:
        """The Product_Service__c of ``product`` mirroring LogiSense package service ``service``."""
        rows = self.query(
            "SELECT Id FROM Product_Service__c WHERE "
            f"Product__c = '{product}' AND LogiSense_Package_Service_Id__c = '{service}'"
        )
        if not rows:
            raise LookupError(f"no Product_Service__c for service {service} of {product}")
        return str(rows[0]["Id"])

    # -- the rep's own records ----------------------------------------------------------------

    def account(self, name: str, currency: str = "USD") -> str:
        """An Account to be synced (its fields also go into the change messages)."""
        return self.create("Account", {"Name": name, "CurrencyIsoCode": currency})

    def opportunity(
        self,
        account_id: str,
        lines: list[Line],
        *,
        stage: str = "Closed Won",
        currency: str = "USD",
        book: str = "LogiSense",
        name: str = "Deal",
    ) -> str:
        """An Opportunity with its line items and their Opportunity Product Services."""
        opp = self.create(
            "Opportunity",
            {
                "Name": name,
                "AccountId": account_id,
                "StageName": stage,
                "CloseDate": "2025-06-30",
                "CurrencyIsoCode": currency,
                "Pricebook2Id": self.pricebook_id(book),
            },
        )
        for line in lines:
            known = next(s.service for s in line.services if s.sf_service_id is None)
            product = self.product(known, currency, line.frequency)
            item = self.create(
                "OpportunityLineItem",
                {
                    "OpportunityId": opp,
                    "PricebookEntryId": self.entry(product, currency, book),
                    "Quantity": 1,
                    "UnitPrice": line.unit_price if line.unit_price is not None else line.total(),
                },
            )
            for service in line.services:
                fields = self._service(opp, item, product, service)
                self.create("Opportunity_Product_Service__c", fields)
        return opp

    def _service(self, opp: str, item: str, product: str, service: Service) -> dict[str, Any]:
        return {
            "Opportunity__c": opp,
            "Opportunity_Product_Id__c": item,
            "Product_Service__c": service.sf_service_id
            or self.product_service(product, service.service),
            "Quantity__c": service.quantity,
            "Recurring_Price__c": service.recurring,
            "One_Time_Price__c": service.one_time,
            "Overage_Price__c": service.overage,
            "State_Prices__c": json.dumps(service.states),
        }
