"""LogiSense error envelopes and the simulator's stable error codes.

The real API lists every problem of a request, then closes the list with code 2000 ("Transaction
rolled back"). The public pages give no code table for the rules billsync cares about, so the
simulator uses the stable numbers below; docs/simulators-logisense.md lists them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

ROLLED_BACK = {"code": 2000, "message": "Errors found. Transaction rolled back"}

# 400: validation
REQUIRED = 11900101
INVALID_VALUE = 11900102
UNKNOWN_FIELD = 11900103
REFERENCE_NOT_FOUND = 11900104
CURRENCY_FIXED = 11900105
PARENT_CURRENCY = 11900106
PARENT_CYCLE = 11900107
PLAN_CURRENCY = 11900108
PLAN_NO_ITEMS = 11900109
SERVICE_NOT_IN_PACKAGE = 11900110
PACKAGE_INACTIVE = 11900111
BAD_QUERY = 11900112
MALFORMED_BODY = 11900113
# 409: conflicts
DUPLICATE_SFDCID = 11900201
DUPLICATE = 11900205
ACCOUNT_HAS_CHILDREN = 11900202
ACCOUNT_HAS_PLANS = 11900203
RECORD_IN_USE = 11900204
# 404 / 405
NOT_FOUND = 11900301
NO_SUCH_ROUTE = 11900302
METHOD_NOT_ALLOWED = 11900303
# 401 / 400: authentication
BAD_CREDENTIALS = 11900401
MISSING_TOKEN = 11900402
INVALID_TOKEN = 11900403
EXPIRED_TOKEN = 11900404
UNSUPPORTED_GRANT = 11900405
# 500: a defect of the simulator itself (never expected)
INTERNAL = 11900500
# injected faults: 11909000 + HTTP status (11909503, 11909429, 11909504, ...)
FAULT_BASE = 11909000


@dataclass(frozen=True)
class Problem:
    """One entry of an error envelope, with the HTTP status it implies."""

    code: int
    message: str
    status: int = 400


class ApiError(Exception):
    """A refused request: every problem found, rendered as one LogiSense error envelope."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems

    @property
    def status(self) -> int:
        """400 if any problem is a validation error, else the first problem's status."""
        statuses = [p.status for p in self.problems]
        return 400 if 400 in statuses else statuses[0]


def fail(code: int, message: str, status: int = 400) -> ApiError:
    """An ``ApiError`` with a single problem (for raising)."""
    return ApiError([Problem(code, message, status)])


def tracking_id() -> str:
    """A fresh trackingId, as every LogiSense response carries."""
    return str(uuid.uuid4())


def error_envelope(kind: str, problems: list[Problem]) -> dict[str, Any]:
    """The documented error body: all problems, then code 2000."""
    errors = [{"code": p.code, "message": p.message} for p in problems]
    return {"trackingId": tracking_id(), "type": kind, "errors": [*errors, ROLLED_BACK]}
