"""HTTP to LogiSense: pooled per-thread sessions, the login, and the translation of failures.

This is the only module of the LogiSense adapter that touches ``requests`` or catches its
exceptions. ``requests`` costs ~1.5 ms of CPU a call on our machines, so each thread keeps its own
``Session`` (a ``requests.Session`` is not safe to share) with keep-alive connections, and every
call carries a timeout so that a stuck server turns into a retryable error instead of a stuck
worker. ``trust_env`` is off: these machines set ``REQUESTS_CA_BUNDLE``, which would silently
override ``verify`` (requests issue #3829), and proxies from the environment are not wanted on a
billing integration either.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from adapters.call_observers import CallObservers, outcome_of
from adapters.http_failures import where, why
from adapters.proxies import session_proxies
from billsync.errors import AuthenticationFailed, ConfigError, TransientError

from .envelopes import error_messages, refusal
from .mapping import LogiSenseMapping
from .token import Grant, TokenKeeper, grant_from

log = logging.getLogger(__name__)

JSON_ACCEPT = {"Accept": "application/json"}


@dataclass(frozen=True)
class Credentials:
    """A LogiSense login; ``repr`` never shows the password or the client secret."""

    username: str
    client_id: str
    password: str | None = None
    client_secret: str | None = None

    def form(self) -> dict[str, str]:
        """The form fields of ``Access/Login``: the password grant, or the client secret instead."""
        form = {"username": self.username, "grant_type": "password", "client_id": self.client_id}
        if self.password is not None:
            form["password"] = self.password
        else:
            form["client_secret"] = self.client_secret or ""
        return form

    def secrets(self) -> list[str]:
        """Values that must never reach a message or a log line."""
        return [s for s in (self.password, self.client_secret) if s]

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, client_id={self.client_id!r}, ...)"


class LogiSenseSession:
    """Sends one LogiSense request with a valid bearer token and returns its JSON, or raises.

    Safe to share between threads: the token is shared behind a lock (``TokenKeeper``), the HTTP
    sessions are per thread, and ``call_counts`` is updated under a lock.
    """

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        names: LogiSenseMapping,
        api_version: int,
        timeout_s: float,
        pool_size: int,
        verify: bool | str = True,
        proxy: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.names = names
        self.api_version = api_version
        self.timeout_s = timeout_s
        self._credentials = credentials
        self._pool_size = pool_size
        self._verify = verify
        self._proxies = session_proxies(proxy)  # explicit: trust_env is off (adapters/proxies.py)
        self._local = threading.local()
        self._sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.tokens = TokenKeeper(self._login)
        #: Told of every request: system, ``key``, outcome and seconds (the metrics listen).
        self.observers = CallObservers()

    # -- public -------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        resource: str,
        *,
        noun: str,
        identity: int | None = None,
        action: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """``method`` on ``resource[/identity][/action]``; the parsed JSON body (None if empty).

        A PUT or PATCH on a resource served by an API version older than the mapping's
        ``update_request_below_version`` carries the ``UpdateRequest`` header naming the fields
        it changes (LogiSense requires it before v4). A 401 triggers one fresh login and one
        resend; a second 401 is ``AuthenticationFailed``. Every other failure is translated by
        ``envelopes.refusal`` or ``_transport_failure``.
        """
        path = resource + (f"/{identity}" if identity is not None else "")
        path += f"/{action}" if action else ""
        url = f"{self.base_url}/{self._root(resource)}/{path}"
        key = f"{method} {resource}" + (f"/{action}" if action else "")
        extra = dict(headers or {})
        if (
            method in ("PUT", "PATCH")
            and isinstance(body, dict)
            and self.needs_update_request(resource)
        ):
            extra["UpdateRequest"] = json.dumps({"filters": sorted(body)})
        token = self.tokens.token()
        response = self._send(key, method, url, token, body, noun, extra)
        if response.status_code == 401:
            token = self.tokens.refused(token)
            response = self._send(key, method, url, token, body, noun, extra)
            if response.status_code == 401:
                raise AuthenticationFailed(
                    f"LogiSense refused a fresh token on the {noun} request (401); check that "
                    "BILLSYNC_LS_USERNAME may use the Resource Server API"
                )
        if response.status_code >= 300:
            raise refusal(
                response.status_code,
                _json_or_none(response),
                noun=noun,
                retry_after=response.headers.get("Retry-After"),
            )
        return self._parse(response, noun)

    @property
    def call_counts(self) -> dict[str, int]:
        """Requests sent so far, keyed ``"METHOD Resource[/Action]"`` (ids folded out)."""
        with self._lock:
            return dict(self._counts)

    def close(self) -> None:
        """Close every thread's pooled connections (threads still running get new ones)."""
        for session in list(self._sessions):
            session.close()

    # -- HTTP -----------------------------------------------------------------------------------

    def version(self, resource: str) -> int:
        """The API version ``resource`` is spoken in (the mapping may override it per resource)."""
        return self.names.versions.get(resource, self.api_version)

    def needs_update_request(self, resource: str) -> bool:
        """Whether a PUT/PATCH on ``resource`` must carry the ``UpdateRequest`` header."""
        return self.version(resource) < self.names.server.update_request_below_version

    def _root(self, resource: str) -> str:
        return self.names.resource_root.format(version=self.version(resource))

    def _http(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False
            session.verify = self._verify
            session.proxies.update(self._proxies)
            # Retry only failed connects (nothing was sent, so even a POST is safe to resend).
            # Statuses are never retried here, nor is Retry-After slept on: a 429 or 503 goes
            # back to the caller at once as a TransientError, and the retry policy decides.
            retry = Retry(
                total=1,
                connect=1,
                read=False,  # re-raise read errors as they are (a timeout stays a Timeout)
                status=0,
                other=0,
                redirect=0,
                status_forcelist=(),
                respect_retry_after_header=False,
                raise_on_status=False,
            )
            adapter = HTTPAdapter(
                pool_connections=2, pool_maxsize=self._pool_size, max_retries=retry
            )
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
            self._sessions.add(session)
        return session

    def _send(
        self,
        key: str,
        method: str,
        url: str,
        token: str,
        body: Any,
        noun: str,
        extra: dict[str, str],
    ) -> requests.Response:
        headers = {**JSON_ACCEPT, **extra, "Authorization": f"Bearer {token}"}
        return self._request(key, noun, method, url, headers=headers, json=body)

    def _request(
        self, key: str, noun: str, method: str, url: str, **kwargs: Any
    ) -> requests.Response:
        with self._lock:
            self._counts[key] += 1
        started = time.perf_counter()
        try:
            response = self._http().request(method, url, timeout=self.timeout_s, **kwargs)
        except requests.RequestException as exc:
            outcome = "timeout" if isinstance(exc, requests.Timeout) else "unreachable"
            self.observers.notify("logisense", key, outcome, time.perf_counter() - started)
            raise _transport_failure(exc, noun, self.timeout_s) from None
        self.observers.notify(
            "logisense", key, outcome_of(response.status_code), time.perf_counter() - started
        )
        log.debug(
            "LogiSense %s -> %d in %.1f ms",
            key,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    def _parse(self, response: requests.Response, noun: str) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                f"LogiSense answered the {noun} request ({response.status_code}) with a body "
                "that is not JSON"
            ) from None

    # -- login ----------------------------------------------------------------------------------

    def _login(self, previous: Grant | None = None) -> Grant:
        """A new token: the ``refresh_token`` grant first when there is one, else a login.

        A refused refresh (the refresh token expired or was revoked) falls back to a full login
        at once; refused credentials are permanent, outages are transient.
        """
        url = f"{self.base_url}/{self.names.login_path.format(version=self.api_version)}"
        if previous is not None and previous.refresh_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": previous.refresh_token,
                "client_id": self._credentials.client_id,
            }
            response = self._request(
                "POST Access/Login", "login", "POST", url, data=form, headers=JSON_ACCEPT
            )
            if response.status_code < 300:
                return grant_from(_json_or_none(response), now=time.monotonic())
            if response.status_code >= 500 or response.status_code in (408, 429):
                raise refusal(
                    response.status_code,
                    _json_or_none(response),
                    noun="login",
                    retry_after=response.headers.get("Retry-After"),
                )
            log.debug("LogiSense refused the refresh token (%d); logging in", response.status_code)
        response = self._request(
            "POST Access/Login",
            "login",
            "POST",
            url,
            data=self._credentials.form(),
            headers=JSON_ACCEPT,
        )
        status = response.status_code
        body = _json_or_none(response)
        if status < 300:
            return grant_from(body, now=time.monotonic())
        if status >= 500 or status in (408, 429):
            raise refusal(
                status, body, noun="login", retry_after=response.headers.get("Retry-After")
            )
        raise AuthenticationFailed(self._refused_message(status, body))

    def _refused_message(self, status: int, body: Any) -> str:
        creds = self._credentials
        secret = (
            "BILLSYNC_LS_PASSWORD" if creds.password is not None else "BILLSYNC_LS_CLIENT_SECRET"
        )
        detail = "; ".join(error_messages(body)) or "no reason given"
        for value in creds.secrets():
            detail = detail.replace(value, "***")
        return (
            f"LogiSense refused the login of user {creds.username!r} ({status}): {detail}; "
            f"check BILLSYNC_LS_USERNAME, {secret} and BILLSYNC_LS_CLIENT_ID"
        )


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def _transport_failure(exc: requests.RequestException, noun: str, timeout_s: float) -> Exception:
    """A requests exception as billsync's error: config mistakes are permanent, the rest retry."""
    if isinstance(
        exc,
        requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema,
    ):
        return ConfigError(f"BILLSYNC_LS_BASE_URL is not a usable URL: {exc}")
    if isinstance(exc, requests.Timeout):
        return TransientError(f"LogiSense did not answer the {noun} request within {timeout_s:g} s")
    if isinstance(exc, requests.exceptions.SSLError):
        return TransientError(f"TLS failed on the {noun} request (check the CA to trust): {exc}")
    if isinstance(exc, requests.ConnectionError):
        target = where(exc)
        return TransientError(
            f"cannot reach LogiSense{' at ' + target if target else ''} for the {noun} request: "
            f"{why(exc)}"
        )
    return TransientError(f"the {noun} request to LogiSense failed: {type(exc).__name__}: {exc}")
