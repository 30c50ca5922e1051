"""The Salesforce daily API usage as operator commands show it (``billsync queues``)."""

from __future__ import annotations

from dataclasses import dataclass

from billsync import clients
from billsync.config import Settings
from billsync.errors import BillsyncError


@dataclass(frozen=True)
class ApiUsageLine:
    """Used and limit of the org's daily API requests, and what billsync does about it."""

    used: int
    limit: int
    slow_share: float

    @property
    def share(self) -> float:
        """Used / limit."""
        return self.used / self.limit if self.limit else 0.0

    def text(self) -> str:
        """One line for humans."""
        line = f"Salesforce daily API requests: {self.used:,} of {self.limit:,} ({self.share:.0%})"
        if self.share >= 1.0:
            return line + "; REQUEST_LIMIT_EXCEEDED: entities wait until calls free up"
        if self.share >= self.slow_share:
            return line + "; backfill, drift and re-reads are slowed"
        return line


def read_api_usage(settings: Settings) -> ApiUsageLine | str | None:
    """The usage (one API call), a sentence saying why it is unknown, or None without an org."""
    if not settings.sf_instance_url:
        return None

    try:
        used, limit = clients.salesforce_client(settings).daily_api_requests()
    except BillsyncError as exc:
        usage_line = f"Salesforce daily API requests: unknown ({exc})"
        if "REQUEST_LIMIT_EXCEEDED" in str(exc):
            return usage_line.replace("unknown", "limit spent, entities wait")
        return usage_line
    return ApiUsageLine(used, limit, settings.sf_api_slow_share)
