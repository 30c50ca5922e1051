"""Salesforce login: one access token per process, refreshed on demand, and the HTTPS sessions.

Four modes, chosen by which credentials are given (SPEC §6):

- ``jwt``: the OAuth 2.0 JWT bearer flow, what production integrations use: an assertion
  (``iss`` = the Connected App's client id, ``sub`` = the integration user's username, ``aud`` =
  the login URL, ``exp`` three minutes ahead) signed RS256 with the private key whose
  certificate the Connected App holds; no secret or password is stored anywhere;
- ``client_credentials``: OAuth client credentials against ``{instance}/services/oauth2/token``;
- ``password``: the OAuth username-password flow (password + security token) at the same URL;
- ``session``: a session id given from outside, which cannot be renewed here.

Every token request goes to the instance (My Domain) URL, which serves the token endpoint for all
flows; the JWT's audience is the login URL (``https://login.salesforce.com``, or
``https://test.salesforce.com`` for a sandbox) as Salesforce requires.

Every ``requests.Session`` built here trusts ``ca_bundle`` (when given) and sets
``trust_env = False``, because requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override
``Session.verify`` for every call otherwise (see docs/adapters-salesforce.md).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

import jwt
import requests
from requests.adapters import HTTPAdapter

from adapters.http_failures import where, why
from adapters.proxies import session_proxies
from billsync.errors import AuthenticationFailed, ConfigError, PermanentError, TransientError

AuthMode = Literal["jwt", "client_credentials", "password", "session"]
TOKEN_PATH = "/services/oauth2/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
JWT_LIFETIME_S = 180  # Salesforce accepts an exp at most three minutes ahead
DEFAULT_TIMEOUT_S = 15.0
POOL_SIZE = 64


def new_https_session(ca_bundle: str | None, proxy: str | None = None) -> requests.Session:
    """A Session that verifies TLS against ``ca_bundle`` (or the system CAs), ignoring env vars.

    ``proxy`` is the outbound HTTPS proxy, passed explicitly because ``trust_env = False`` makes
    requests ignore ``HTTPS_PROXY`` (see adapters/proxies.py).

    Its connection pool holds ``POOL_SIZE`` connections, so that a worker's threads reuse
    connections instead of opening (and TLS-handshaking) a new one per call.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_bundle if ca_bundle else True
    session.proxies.update(session_proxies(proxy))
    session.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE))
    return session


def transport_error(exc: requests.RequestException, what: str) -> Exception:
    """Translate a requests failure (no HTTP answer) into billsync's error hierarchy."""
    if isinstance(exc, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return PermanentError(
            f"{what}: the server's TLS certificate is not trusted; "
            "set BILLSYNC_SF_CA_BUNDLE to its CA file"
        )
    if isinstance(exc, requests.Timeout):
        return TransientError(f"{what}: timed out")
    target = where(exc)
    return TransientError(
        f"{what}: cannot reach Salesforce{' at ' + target if target else ''}: {why(exc)}"
    )


class SalesforceAuth:
    """Holds the credentials and the current access token; ``refresh()`` logs in again.

    Thread-safe: REST calls and the streaming client share one token, and a refresh by one of
    them serves the others. ``session`` carries the login requests; the REST and streaming
    clients each take their own from ``new_session()``, so that call headers, counters, cookies
    and long polls stay apart.
    """

    def __init__(
        self,
        instance_url: str,
        *,
        session_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        username: str | None = None,
        password: str | None = None,
        security_token: str | None = None,
        jwt_key_file: str | None = None,
        login_url: str = DEFAULT_LOGIN_URL,
        ca_bundle: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        proxy: str | None = None,
    ) -> None:
        if not instance_url.startswith("https://"):
            raise ConfigError("BILLSYNC_SF_INSTANCE_URL must be an https:// URL")
        self.instance_url = instance_url.rstrip("/")
        self.ca_bundle = ca_bundle
        self.proxy = proxy
        self.timeout_s = timeout_s
        self.login_url = login_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._username = username
        self._password = password
        self._security_token = security_token or ""
        self._jwt_key_file = jwt_key_file
        self._jwt_key: Any = None
        if jwt_key_file:
            _require_jwt_identity(client_id, username)
            self.mode: AuthMode = "jwt"
        else:
            self.mode = _choose_mode(session_id, client_id, client_secret, username, password)
        self._token: str | None = session_id
        self._lock = threading.Lock()
        self.logins = 0
        self.session = self.new_session()

    def new_session(self) -> requests.Session:
        """A fresh HTTPS session with this instance's trust settings."""
        return new_https_session(self.ca_bundle, self.proxy)

    @property
    def can_refresh(self) -> bool:
        """False for a given session id: nothing here can renew it."""
        return self.mode != "session"

    @property
    def access_token(self) -> str:
        """The current token, logging in first if there is none yet."""
        token = self._token
        if token is None:
            return self.refresh(stale=None)
        return token

    def refresh(self, stale: str | None = None) -> str:
        """Log in again and return the new token.

        ``stale`` is the token that was refused: when another thread already replaced it, its
        replacement is returned without a second login.
        """
        with self._lock:
            if self._token is not None and stale is not None and self._token != stale:
                return self._token
            if not self.can_refresh:
                raise AuthenticationFailed(
                    "Salesforce refused the configured session id and it cannot be renewed; "
                    "configure client credentials or a username and password"
                )
            self._token = self._request_token()
            self.logins += 1
            return self._token

    def _request_token(self) -> str:
        url = self.instance_url + TOKEN_PATH
        try:
            response = self.session.post(url, data=self._grant(), timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise transport_error(exc, "Salesforce login") from None
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TransientError(f"Salesforce login: HTTP {response.status_code}")
        body = _json_or_empty(response)
        token = body.get("access_token") if response.status_code == 200 else None
        if not isinstance(token, str) or not token:
            reason = body.get("error") or f"HTTP {response.status_code}"
            detail = body.get("error_description")
            suffix = f" ({detail})" if isinstance(detail, str) else ""
            raise AuthenticationFailed(f"Salesforce login ({self.mode}) refused: {reason}{suffix}")
        return token

    def _grant(self) -> dict[str, str]:
        if self.mode == "jwt":
            return {"grant_type": JWT_BEARER, "assertion": self._assertion()}
        if self.mode == "client_credentials":
            return {
                "grant_type": "client_credentials",
                "client_id": self._client_id or "",
                "client_secret": self._client_secret or "",
            }
        grant = {
            "grant_type": "password",
            "username": self._username or "",
            "password": (self._password or "") + self._security_token,
        }
        if self._client_id:
            grant["client_id"] = self._client_id
        if self._client_secret:
            grant["client_secret"] = self._client_secret
        return grant

    def _assertion(self) -> str:
        """A fresh JWT for the bearer flow, signed with the Connected App's private key."""
        claims = {
            "iss": self._client_id,
            "sub": self._username,
            "aud": self.login_url,
            "exp": int(time.time()) + JWT_LIFETIME_S,
        }
        return jwt.encode(claims, self._signing_key(), algorithm="RS256")

    def _signing_key(self) -> Any:
        if self._jwt_key is None:
            self._jwt_key = load_private_key(str(self._jwt_key_file))
        return self._jwt_key

    def __repr__(self) -> str:
        return f"SalesforceAuth({self.instance_url!r}, mode={self.mode!r})"


def load_private_key(path: str) -> Any:
    """The RSA private key in a PEM file; ConfigError (naming the file, never its content)."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        with open(path, "rb") as handle:
            key = load_pem_private_key(handle.read(), password=None)
    except OSError as exc:
        raise ConfigError(
            f"BILLSYNC_SF_JWT_KEY_FILE: cannot read {path} ({exc.strerror}); point it at the "
            "PEM private key whose certificate the Connected App holds"
        ) from None
    except (ValueError, TypeError):
        raise ConfigError(
            f"BILLSYNC_SF_JWT_KEY_FILE: {path} is not an unencrypted PEM private key; export "
            "the key without a passphrase (openssl pkey -in KEY -out KEY.pem)"
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise ConfigError(
            f"BILLSYNC_SF_JWT_KEY_FILE: {path} holds no RSA key; Salesforce's JWT bearer flow "
            "signs with RS256, so the Connected App's certificate must be an RSA one"
        )
    return key


def _require_jwt_identity(client_id: str | None, username: str | None) -> None:
    missing = [
        name
        for name, value in (
            ("BILLSYNC_SF_CLIENT_ID", client_id),
            ("BILLSYNC_SF_USERNAME", username),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            "the JWT bearer login (BILLSYNC_SF_JWT_KEY_FILE) also needs "
            + " and ".join(missing)
            + ": the Connected App's consumer key and the integration user's username"
        )


def _choose_mode(
    session_id: str | None,
    client_id: str | None,
    client_secret: str | None,
    username: str | None,
    password: str | None,
) -> AuthMode:
    if username and password:
        return "password"
    if client_id and client_secret:
        return "client_credentials"
    if session_id:
        return "session"
    raise ConfigError(
        "no Salesforce credentials: set BILLSYNC_SF_JWT_KEY_FILE, BILLSYNC_SF_CLIENT_ID and "
        "BILLSYNC_SF_USERNAME (JWT bearer), or BILLSYNC_SF_CLIENT_ID and "
        "BILLSYNC_SF_CLIENT_SECRET, or BILLSYNC_SF_USERNAME, BILLSYNC_SF_PASSWORD and "
        "BILLSYNC_SF_SECURITY_TOKEN, or BILLSYNC_SF_SESSION_ID"
    )


def _json_or_empty(response: requests.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
