"""Bearer tokens: JWT-shaped (header.payload.signature, base64url), signed with HMAC-SHA256.

Verification results are cached by token string, so a data request costs one dict lookup and a
clock read, not a signature check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

DEFAULT_TTL_S = 1800.0
MAX_CACHED = 50000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Grant:
    """A login's answer, rendered as the Authorization Server's JSON body."""

    access_token: str
    refresh_token: str
    issued: float
    expires: float

    def as_json(self) -> dict[str, Any]:
        """The token response body."""
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": round(self.expires - self.issued),
            "refresh_token": self.refresh_token,
            ".issued": formatdate(self.issued, usegmt=True),
            ".expires": formatdate(self.expires, usegmt=True),
        }


class TokenAuthority:
    """Issues and verifies access tokens; ``expire_all`` makes every issued token stale."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)
        self._valid_until: dict[str, float] = {}
        self._refresh: dict[str, str] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self.refreshes = 0  # refresh_token grants honoured (tests check clients use them)

    def issue(self, username: str, client_id: str, ttl_s: float | None) -> Grant:
        """A new access token (and refresh token) living ``ttl_s`` seconds (default 1800)."""
        ttl = DEFAULT_TTL_S if ttl_s is None else float(ttl_s)
        issued = time.time()
        payload = {
            "sub": username,
            "client_id": client_id,
            "iat": int(issued),
            "exp": int(issued + ttl),
            "jti": secrets.token_hex(8),
            "gen": self._generation,
        }
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        token = f"{header}.{body}.{self._sign(f'{header}.{body}')}"
        refresh = secrets.token_urlsafe(24)
        with self._lock:
            if len(self._valid_until) > MAX_CACHED:
                self._forget_expired()
            self._valid_until[token] = issued + ttl
            self._refresh[refresh] = username + "\0" + client_id
        return Grant(token, refresh, issued, issued + ttl)

    def refresh(self, refresh_token: str) -> tuple[str, str] | None:
        """(username, client_id) of a refresh token, consumed; None if unknown."""
        with self._lock:
            who = self._refresh.pop(refresh_token, None)
        if who is None:
            return None
        with self._lock:
            self.refreshes += 1
        username, client_id = who.split("\0", 1)
        return username, client_id

    def check(self, token: str) -> str | None:
        """None if the token is valid now, else "invalid" or "expired"."""
        until = self._valid_until.get(token)
        if until is None:
            until = self._verify(token)
            if until is None:
                return "invalid"
        if until <= time.time():
            return "expired"
        return None

    def expire_all(self) -> None:
        """Every token issued so far is expired from now on (the "expired tokens" fault)."""
        with self._lock:
            self._generation += 1
            self._valid_until = dict.fromkeys(self._valid_until, 0.0)

    def _verify(self, token: str) -> float | None:
        parts = token.split(".")
        if len(parts) != 3 or not hmac.compare_digest(
            self._sign(f"{parts[0]}.{parts[1]}"), parts[2]
        ):
            return None
        try:
            payload = json.loads(_unb64(parts[1]))
            stale = payload.get("gen") != self._generation
            return 0.0 if stale else float(payload["exp"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def _sign(self, message: str) -> str:
        return _b64(hmac.new(self._secret, message.encode(), hashlib.sha256).digest())

    def _forget_expired(self) -> None:
        now = time.time()
        self._valid_until = {t: u for t, u in self._valid_until.items() if u > now}
