"""The LogiSense Billing adapter: a thread-safe requests client with billsync's error types.

See docs/adapters-logisense.md for what it does, how it handles tokens, threads and failures, and
which LogiSense names it relies on.
"""

from .catalog import CatalogFrequency, CatalogPackage, CatalogPrice, CatalogService, StatePrice
from .client import LogiSenseClient
from .names import DEFAULT_NAMES, LogiSenseNames
from .reference import ReferenceData

__all__ = [
    "DEFAULT_NAMES",
    "CatalogFrequency",
    "CatalogPackage",
    "CatalogPrice",
    "CatalogService",
    "LogiSenseClient",
    "LogiSenseNames",
    "ReferenceData",
    "StatePrice",
]
