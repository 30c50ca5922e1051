"""OAuth token endpoint and session checks.

``POST /services/oauth2/token`` answers three grants as a Connected App does:

- ``client_credentials``: the client id and secret;
- ``password``: the client id and secret plus the integration user's username and password
  (the password with the user's security token appended, as Salesforce requires from an
  untrusted network);
- ``urn:ietf:params:oauth:grant-type:jwt-bearer``: an RS256 JWT ``assertion`` whose signature is
  checked against the Connected App's certificate, with ``iss`` = client id, ``sub`` = username,
  ``aud`` = a login URL and an ``exp`` not passed.

Refusals answer as Salesforce's token endpoint does: HTTP **400** with
``{"error", "error_description"}`` (``invalid_client_id`` for an unknown client id,
``invalid_client`` for a wrong secret, ``invalid_grant`` for a wrong user, password or
assertion, ``unsupported_grant_type``). Sessions expire after ``Faults.token_ttl_s`` when that
knob is set (read at check time, so a test can shorten the life of a session already issued),
otherwise after two hours, as an org's default session timeout.
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

import jwt
from cryptography import x509

DEFAULT_SESSION_TTL_S = 2 * 3600.0
TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GRANTS = ("client_credentials", "password", JWT_BEARER)
#: Audiences Salesforce accepts in a JWT assertion besides the org's own URL.
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
JWT_LEEWAY_S = 180  # Salesforce allows three minutes of clock skew on ``exp``


class OAuthError(Exception):
    """A refused token request, rendered as ``{"error", "error_description"}`` with ``status``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def load_certificate_key(path: str) -> Any:
    """The public key of a PEM certificate (the Connected App's ``--jwt-cert``)."""
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read()).public_key()


@dataclass
class SessionRegistry:
    """Issued session ids and when they were issued; the Connected App and its one user.

    ``users`` maps a username to the password the password grant must carry (password and
    security token concatenated). ``jwt_key`` is the public key of the Connected App's
    certificate; without it the JWT bearer grant is refused.
    """

    client_id: str
    client_secret: str
    org_id: str
    user_id: str
    ttl_s: Callable[[], float | None]
    seed: int = 0
    clock: Callable[[], float] = time.time
    users: dict[str, str] = field(default_factory=dict)
    jwt_key: Any = None
    _issued: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed ^ 0x5F)

    def issue(self, form: dict[str, str], instance_url: str) -> dict[str, Any]:
        """Check a token request and answer it as Salesforce does."""
        grant = form.get("grant_type", "")
        if grant not in GRANTS:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        if grant == JWT_BEARER:
            self._check_assertion(form.get("assertion", ""), instance_url)
        else:
            self._check_client(form)
            if grant == "password":
                self._check_user(form.get("username", ""), form.get("password", ""))
        return self._token(instance_url)

    def _check_client(self, form: dict[str, str]) -> None:
        if form.get("client_id") != self.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(
            form.get("client_secret", "").encode(), self.client_secret.encode()
        ):
            raise OAuthError("invalid_client", "invalid client credentials")

    def _check_user(self, username: str, password: str) -> None:
        expected = self.users.get(username)
        if expected is None or not hmac.compare_digest(password.encode(), expected.encode()):
            raise OAuthError("invalid_grant", "authentication failure")

    def _check_assertion(self, assertion: str, instance_url: str) -> None:
        if self.jwt_key is None:
            raise OAuthError(
                "invalid_grant", "invalid assertion: no certificate is configured for this client"
            )
        try:
            claims = jwt.decode(
                assertion,
                key=self.jwt_key,
                algorithms=["RS256"],
                audience=[*LOGIN_AUDIENCES, instance_url],
                leeway=JWT_LEEWAY_S,
                options={"require": ["iss", "sub", "aud", "exp"]},
            )
        except jwt.InvalidAudienceError:
            raise OAuthError("invalid_grant", "audience is invalid") from None
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_grant", "expired authorization code") from None
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if claims.get("iss") != self.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if claims.get("sub") not in self.users:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")

    def _token(self, instance_url: str) -> dict[str, Any]:
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
