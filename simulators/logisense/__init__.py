"""A faithful in-memory simulator of the LogiSense Billing REST API (see
docs/simulators-logisense.md): ``LogiSenseSimulator`` for tests and the demo, ``main`` for
``billsync sim logisense``, ``seed`` for the seeded data.
"""

from __future__ import annotations

from . import seed
from .simulator import LogiSenseSimulator, main

__all__ = ["LogiSenseSimulator", "main", "seed"]
