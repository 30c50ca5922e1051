"""The LogiSense Billing adapter: a thread-safe urllib3 client with billsync's error types.

See docs/adapters-logisense.md for what it does, how it handles tokens, threads and failures, and
the mapping file that names what LogiSense's public documents leave open.
"""

from .catalog import (
    CatalogCurrency,
    CatalogFrequency,
    CatalogPackage,
    CatalogPrice,
    CatalogProduct,
    CatalogService,
    StatePrice,
)
from .client import LogiSenseClient
from .mapping import DEFAULT_MAPPING, LogiSenseMapping, load_mapping
from .reference import ReferenceData

__all__ = [
    "DEFAULT_MAPPING",
    "CatalogCurrency",
    "CatalogFrequency",
    "CatalogPackage",
    "CatalogPrice",
    "CatalogProduct",
    "CatalogService",
    "LogiSenseClient",
    "LogiSenseMapping",
    "ReferenceData",
    "StatePrice",
    "load_mapping",
]
