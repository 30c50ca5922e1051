"""Doctor check of the local clock against Salesforce's (its ``Date`` header).

Change events carry Salesforce commit times; the replay-retention fallback, the ingest lag and the
push latency compare them with this machine's clock, so a skewed clock skews all three.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

from billsync.doctor.report import CheckResult, fail, ok

MAX_SKEW_S = 5.0
FIX = "synchronise this machine's clock (NTP: timedatectl set-ntp true, or chrony)"


def check(server_date: str | None, now: float | None = None) -> CheckResult:
    """Compare ``server_date`` (an HTTP ``Date``, one-second resolution) with the local clock."""
    if not server_date:
        return CheckResult("clock", "skip", "no Salesforce answer to compare the clock with")
    try:
        server = parsedate_to_datetime(server_date).timestamp()
    except (TypeError, ValueError):
        return CheckResult("clock", "skip", f"unreadable Date header {server_date!r}")
    skew = (time.time() if now is None else now) - server
    detail = f"local clock {skew:+.1f} s from Salesforce's"
    if abs(skew) > MAX_SKEW_S + 1.0:  # the header is rounded down to the second
        return fail("clock", detail + f" (more than {MAX_SKEW_S:g} s)", FIX)
    return ok("clock", detail)
