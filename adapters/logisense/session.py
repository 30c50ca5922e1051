"""HTTP to LogiSense: one pooled urllib3 client, the login, and the translation of failures.

This is the only module of the LogiSense adapter that touches ``urllib3`` or catches its
exceptions. It speaks urllib3 directly rather than through ``requests``: a worker is CPU-bound and
``requests``' own per-call work (preparing the request, merging settings, hooks) was about half of
the CPU its LogiSense calls cost. One thread-safe ``PoolManager`` (a ``ProxyManager`` behind a
proxy) per session keeps up to ``pool_size`` keep-alive connections; every call carries a connect
and a read timeout so that a stuck server turns into a retryable error instead of a stuck worker.
Certificates are always verified, against the given CA bundle or certifi's. Nothing is read from
the environment: no ``REQUESTS_CA_BUNDLE``, no ``HTTPS_PROXY`` (the proxy is resolved once by
``adapters/proxies.py`` and handed in). Redirects are not followed: a 3xx is a refusal.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode

import certifi
import urllib3
from urllib3.exceptions import (
    HTTPError,
    LocationValueError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as HTTPTimeout
from urllib3.util import Url, make_headers, parse_url

from adapters.call_observers import CallObservers, outcome_of
from adapters.http_failures import origin, why
from billsync.errors import AuthenticationFailed, ConfigError, PermanentError, TransientError

from .envelopes import error_messages, refusal
from .mapping import LogiSenseMapping
from .token import Grant, TokenKeeper, grant_from

log = logging.getLogger(__name__)

JSON_ACCEPT = {"Accept": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON_BODY = {"Content-Type": "application/json"}

#: Retry only failed connects (nothing was sent, so even a POST is safe to resend). Statuses are
#: never retried here, nor is Retry-After slept on: a 429 or 503 goes back to the caller at once
#: as a TransientError, and the retry policy decides. Read errors are re-raised as they are (a
#: timeout stays a timeout).
CONNECT_RETRY = urllib3.Retry(
    total=1,
    connect=1,
    read=False,
    status=0,
    other=0,
    redirect=0,
    status_forcelist=(),
    respect_retry_after_header=False,
    raise_on_status=False,
)


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

    Safe to share between threads: the token is shared behind a lock (``TokenKeeper``), the
    connection pools are urllib3's (thread-safe), and ``call_counts`` is updated under a lock.
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
        self._bad_url = _url_problem(self.base_url)
        self._timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
        self.http = _pool_manager(verify=verify, proxy=proxy, pool_size=pool_size)
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
        if response.status == 401:
            token = self.tokens.refused(token)
            response = self._send(key, method, url, token, body, noun, extra)
            if response.status == 401:
                raise AuthenticationFailed(
                    f"LogiSense refused a fresh token on the {noun} request (401); check that "
                    "BILLSYNC_LS_USERNAME may use the Resource Server API"
                )
        if response.status >= 300:
            raise refusal(
                response.status,
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
        """Close the pooled connections (calls after this open new ones)."""
        self.http.clear()

    # -- HTTP -----------------------------------------------------------------------------------

    def version(self, resource: str) -> int:
        """The API version ``resource`` is spoken in (the mapping may override it per resource)."""
        return self.names.versions.get(resource, self.api_version)

    def needs_update_request(self, resource: str) -> bool:
        """Whether a PUT/PATCH on ``resource`` must carry the ``UpdateRequest`` header."""
        return self.version(resource) < self.names.server.update_request_below_version

    def _root(self, resource: str) -> str:
        return self.names.resource_root.format(version=self.version(resource))

    def _send(
        self,
        key: str,
        method: str,
        url: str,
        token: str,
        body: Any,
        noun: str,
        extra: dict[str, str],
    ) -> urllib3.BaseHTTPResponse:
        headers = {**JSON_ACCEPT, **extra, "Authorization": f"Bearer {token}"}
        if body is None:
            return self._request(key, noun, method, url, headers, None)
        try:
            data = json.dumps(body, allow_nan=False).encode()
        except ValueError:
            raise PermanentError(
                f"the {noun} request carries a number that is not finite (NaN or infinity): "
                "correct the value in Salesforce"
            ) from None
        return self._request(key, noun, method, url, {**headers, **JSON_BODY}, data)

    def _request(
        self,
        key: str,
        noun: str,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
    ) -> urllib3.BaseHTTPResponse:
        with self._lock:
            self._counts[key] += 1
        started = time.perf_counter()
        try:
            if self._bad_url:
                raise LocationValueError(self._bad_url)
            response = self.http.urlopen(
                method,
                url,
                body=body,
                headers=headers,
                retries=CONNECT_RETRY,
                timeout=self._timeout,
                redirect=False,
            )
        except HTTPError as exc:
            outcome = "timeout" if _timed_out(exc) else "unreachable"
            self.observers.notify("logisense", key, outcome, time.perf_counter() - started)
            raise _transport_failure(exc, url, noun, self.timeout_s) from None
        self.observers.notify(
            "logisense", key, outcome_of(response.status), time.perf_counter() - started
        )
        log.debug(
            "LogiSense %s -> %d in %.1f ms",
            key,
            response.status,
            (time.perf_counter() - started) * 1000,
        )
        return response

    def _parse(self, response: urllib3.BaseHTTPResponse, noun: str) -> Any:
        if not response.data:
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                f"LogiSense answered the {noun} request ({response.status}) with a body "
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
            response = self._post_form(url, form)
            if response.status < 300:
                return grant_from(_json_or_none(response), now=time.monotonic())
            if response.status >= 500 or response.status in (408, 429):
                raise refusal(
                    response.status,
                    _json_or_none(response),
                    noun="login",
                    retry_after=response.headers.get("Retry-After"),
                )
            log.debug("LogiSense refused the refresh token (%d); logging in", response.status)
        response = self._post_form(url, self._credentials.form())
        status = response.status
        body = _json_or_none(response)
        if status < 300:
            return grant_from(body, now=time.monotonic())
        if status >= 500 or status in (408, 429):
            raise refusal(
                status, body, noun="login", retry_after=response.headers.get("Retry-After")
            )
        raise AuthenticationFailed(self._refused_message(status, body))

    def _post_form(self, url: str, form: dict[str, str]) -> urllib3.BaseHTTPResponse:
        headers = {**JSON_ACCEPT, **FORM}
        body = urlencode(form).encode()
        return self._request("POST Access/Login", "login", "POST", url, headers, body)

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


def _pool_manager(*, verify: bool | str, proxy: str | None, pool_size: int) -> urllib3.PoolManager:
    """The session's connection pools: keep-alive, ``pool_size`` connections a host, certificates
    verified against ``verify`` (a CA bundle's path) or certifi's bundle when it is True."""
    tls: dict[str, Any] = (
        {"cert_reqs": "CERT_NONE"}  # only ever asked for explicitly (verify=False)
        if verify is False
        else {
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": verify if isinstance(verify, str) else certifi.where(),
        }
    )
    if proxy:
        url = parse_url(proxy if "://" in proxy else f"http://{proxy}")
        return urllib3.ProxyManager(
            Url(url.scheme, host=url.host, port=url.port).url,
            num_pools=2,
            maxsize=pool_size,
            proxy_headers=_proxy_auth(url),
            **tls,
        )
    return urllib3.PoolManager(num_pools=2, maxsize=pool_size, **tls)


def _proxy_auth(url: Url) -> dict[str, str]:
    """``Proxy-Authorization`` from the proxy URL's ``user:password@``, if it has one."""
    if not url.auth:
        return {}
    user, _, password = url.auth.partition(":")
    return make_headers(proxy_basic_auth=f"{unquote(user)}:{unquote(password)}")


def _url_problem(base_url: str) -> str | None:
    """Why ``base_url`` cannot be requested (no http(s) scheme, no host), or None."""
    try:
        url = parse_url(base_url)
    except LocationValueError as exc:
        return str(exc)
    if url.scheme not in ("http", "https"):
        return f"{base_url!r} does not start with https:// or http://"
    if not url.host:
        return f"{base_url!r} names no host"
    return None


def _json_or_none(response: urllib3.BaseHTTPResponse) -> Any:
    try:
        return response.json() if response.data else None
    except ValueError:
        return None


def _cause(exc: HTTPError) -> BaseException:
    """What went wrong under urllib3's "max retries exceeded" wrapper."""
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, BaseException) else exc


def _timed_out(exc: HTTPError) -> bool:
    """A connect or read timeout (urllib3 counts a refused connection as a connect timeout)."""
    cause = _cause(exc)
    return isinstance(cause, HTTPTimeout) and not isinstance(cause, NewConnectionError)


def _transport_failure(exc: HTTPError, url: str, noun: str, timeout_s: float) -> Exception:
    """A urllib3 exception as billsync's error: config mistakes are permanent, the rest retry."""
    cause = _cause(exc)
    if isinstance(cause, LocationValueError):
        return ConfigError(f"BILLSYNC_LS_BASE_URL is not a usable URL: {cause}")
    if _timed_out(exc):
        return TransientError(f"LogiSense did not answer the {noun} request within {timeout_s:g} s")
    if isinstance(cause, SSLError):
        return TransientError(f"TLS failed on the {noun} request (check the CA to trust): {exc}")
    if isinstance(cause, NewConnectionError | ProxyError | ProtocolError | OSError):
        target = origin(url)
        return TransientError(
            f"cannot reach LogiSense{' at ' + target if target else ''} for the {noun} request: "
            f"{why(exc)}"
        )
    return TransientError(f"the {noun} request to LogiSense failed: {type(cause).__name__}: {exc}")
