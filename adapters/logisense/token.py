"""The bearer token every thread shares: one login at a time, refreshed before it expires.

LogiSense tokens last ``expires_in`` seconds (30 minutes at most). Refreshing at 80 % of that,
under a lock with a double check, means that 32 threads noticing the age together cause one login,
not 32, and that no data call waits on an expired token in steady state. A 401 from a data call
(the server revoked or shortened the token) forces one more login, again only once for all threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from billsync.errors import AuthenticationFailed, TransientError

log = logging.getLogger(__name__)

REFRESH_FRACTION = 0.8
DEFAULT_EXPIRES_IN = 1800.0
MIN_LIFETIME_S = 0.05
REFRESH_RETRY_S = 5.0


@dataclass(frozen=True)
class Grant:
    """One login's outcome: the token, when to replace it and when it dies (``time.monotonic``)."""

    access_token: str
    refresh_at: float
    expires_at: float
    refresh_token: str | None = None

    def __repr__(self) -> str:
        return f"Grant(access_token='***', refresh_at={self.refresh_at:.1f})"


def grant_from(body: object, *, now: float) -> Grant:
    """Read a login response; a body without ``access_token`` counts as a refused login."""
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise AuthenticationFailed("LogiSense login answered without an access_token")
    try:
        expires_in = float(body.get("expires_in") or DEFAULT_EXPIRES_IN)
    except (TypeError, ValueError):
        expires_in = DEFAULT_EXPIRES_IN
    lifetime = max(MIN_LIFETIME_S, expires_in)
    refresh = body.get("refresh_token")
    return Grant(
        body["access_token"],
        now + lifetime * REFRESH_FRACTION,
        now + lifetime,
        refresh if isinstance(refresh, str) and refresh else None,
    )


class TokenKeeper:
    """Holds the current grant; ``login(previous)`` gets a new one (refreshing ``previous``)."""

    def __init__(self, login: Callable[[Grant | None], Grant]) -> None:
        self._login = login
        self._lock = threading.Lock()
        self._grant: Grant | None = None
        self.logins = 0

    def token(self) -> str:
        """A token that is not due for refresh; logs in first when needed (once for all threads)."""
        grant = self._grant
        if grant is not None and time.monotonic() < grant.refresh_at:
            return grant.access_token
        with self._lock:
            grant = self._grant
            if grant is not None and time.monotonic() < grant.refresh_at:
                return grant.access_token
            try:
                return self._fresh_grant().access_token
            except TransientError:
                # An early refresh that hit an outage: the old token still has time left, so use
                # it and try again a little later (not on every call, each under the lock).
                now = time.monotonic()
                if grant is not None and now < grant.expires_at:
                    retry_at = now + min(REFRESH_RETRY_S, (grant.expires_at - now) / 2)
                    self._grant = replace(grant, refresh_at=retry_at)
                    return grant.access_token
                raise

    def refused(self, token: str) -> str:
        """The server refused ``token`` (401): log in again unless another thread already did."""
        with self._lock:
            grant = self._grant
            if grant is None or grant.access_token == token:
                grant = self._fresh_grant()
            return grant.access_token

    def _fresh_grant(self) -> Grant:
        try:
            grant = self._login(self._grant)
        except (AuthenticationFailed, TransientError):
            self._grant = None
            raise
        self._grant = grant
        self.logins += 1
        log.debug("LogiSense login done (login #%d)", self.logins)
        return grant
