"""OAuth token endpoint and session checks.

``POST /services/oauth2/token`` accepts the client-credentials grant (and the username-password
grant with the same client id and secret) and issues a session id. Sessions expire after
``Faults.token_ttl_s`` when that knob is set (read at check time, so a test can shorten the life of
a session already issued), otherwise after two hours, as an org's default session timeout.

Refused credentials answer **401** with Salesforce's body (``{"error": "invalid_client",
"error_description": ...}``): SPEC's interface contract says both simulators accept only the
credentials they were given, 401 otherwise (the real token endpoint uses 400 here; billsync's
adapter treats both alike). A malformed request (an unknown grant type) stays 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SESSION_TTL_S = 2 * 3600.0
TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"


class OAuthError(Exception):
    """A refused token request, rendered as ``{"error", "error_description"}`` with ``status``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class SessionRegistry:
    """Issued session ids and when they were issued."""

    client_id: str
    client_secret: str
    org_id: str
    user_id: str
    ttl_s: Callable[[], float | None]
    seed: int = 0
    clock: Callable[[], float] = time.time
    _issued: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed ^ 0x5F)

    def issue(self, form: dict[str, str], instance_url: str) -> dict[str, Any]:
        """Check a token request and answer it as Salesforce does."""
        grant = form.get("grant_type", "")
        if grant not in ("client_credentials", "password"):
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            raise OAuthError("invalid_client", "invalid client credentials", status=401)
        if grant == "password" and not form.get("username"):
            raise OAuthError("invalid_grant", "authentication failure", status=401)
        now = self.clock()
        with self._lock:
            token = f"{self.org_id[:15]}!" + "".join(self._rng.choices(TOKEN_ALPHABET, k=96))
            self._issued[token] = now
        issued_at = str(int(now * 1000))
        signature = hmac.new(
            self.client_secret.encode(), f"{instance_url}{issued_at}".encode(), hashlib.sha256
        ).digest()
        return {
            "access_token": token,
            "instance_url": instance_url,
            "id": f"{instance_url}/id/{self.org_id}/{self.user_id}",
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(signature).decode(),
        }

    def valid(self, authorization: str | None) -> bool:
        """True when an ``Authorization: Bearer|OAuth <token>`` header names a live session."""
        if not authorization:
            return False
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "oauth"):
            return False
        issued = self._issued.get(token.strip())
        if issued is None:
            return False
        ttl = self.ttl_s()
        return self.clock() - issued < (DEFAULT_SESSION_TTL_S if ttl is None else ttl)

    def clear(self) -> None:
        """Forget every session."""
        with self._lock:
            self._issued.clear()
