"""The simulator's SOQL engine: parse a query with a lark grammar, run it over a queryable store.

The REST ``/query`` route needs Salesforce's answers (record shape, relationship nesting, error
codes and messages) for the subset of SOQL that billsync and its tests send, fast enough for a
simulator serving about a thousand requests a second. Parsed queries are cached by their text;
``Id = '...'`` and ``Id IN (...)`` conjuncts read records through the store's ``get`` instead of
scanning. The engine knows nothing of how the simulator stores records: it reads them through
:class:`QueryableStore`. Values are data only: nothing in a query is ever evaluated as code.

This module is the engine's public face; the work is done by one module per step:

- ``soql_parse`` (with the grammar ``soql.lark``): text to the immutable tree of ``soql_tree``;
- ``soql_errors``: the error type and Salesforce's wording for refused queries;
- ``soql_binding``: query names bound to the store's objects, fields and relationships;
- ``soql_values``: how stored values compare with literals (types, dates, ids);
- ``soql_plan``: a query bound to one object, its filter compiled;
- ``soql_run``: reading, ordering, slicing and shaping the records.
"""

from __future__ import annotations

from simulators.salesforce.soql.binding import QueryableStore
from simulators.salesforce.soql.errors import SoqlError
from simulators.salesforce.soql.parse import parse
from simulators.salesforce.soql.run import QueryResult, run_query

__all__ = ["QueryResult", "QueryableStore", "SoqlError", "parse", "run_query"]
