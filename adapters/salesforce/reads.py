"""Two reads beside ``SalesforceClient``'s own: ``COUNT()`` queries and ``queryAll`` (deleted and
merged records). Kept in their own module so that the REST client itself stays as it is; they go
through its ``_call`` (login refresh, error translation, the API call count)."""

from __future__ import annotations

from functools import partial
from typing import Any

from simple_salesforce import Salesforce

from adapters.salesforce.rest import SalesforceClient, _strip


def count(salesforce: SalesforceClient, soql: str) -> int:
    """``totalSize`` of a ``SELECT COUNT() ...`` query."""
    answer = salesforce._call("count", partial(_query, soql=soql, include_deleted=False))
    return int(answer.get("totalSize", 0)) if isinstance(answer, dict) else 0


def query_all(salesforce: SalesforceClient, soql: str) -> list[dict[str, Any]]:
    """The records of one ``queryAll`` page (deleted records included; callers batch ids)."""
    answer = salesforce._call("queryAll", partial(_query, soql=soql, include_deleted=True))
    records = answer.get("records", []) if isinstance(answer, dict) else []
    return [_strip(r) for r in records]


def _query(sf: Salesforce, *, soql: str, include_deleted: bool) -> Any:
    return sf.query(soql, include_deleted=include_deleted)
