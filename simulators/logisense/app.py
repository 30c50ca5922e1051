"""The WSGI application: werkzeug routing to login, reads, searches and writes, in LogiSense's
envelopes. Fault injection and stats wrap it (``simulators.runtime.FaultInjector``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from simulators.runtime import json_response

from . import errors as e
from . import operations, search
from .errors import ApiError, error_envelope, tracking_id
from .schema import Schema
from .state import LogiSenseState
from .tokens import TokenAuthority

LOG = logging.getLogger(__name__)
MAX_BODY = 8 * 1024 * 1024
VERSION = "v<int(min=1, max=10):version>"
ERROR_TYPE = {
    "list": "read",
    "get": "read",
    "detail": "read",
    "paged": "read",
    "search": "search",
    "create": "create",
    "update": "update",
    "patch": "patch",
    "delete": "delete",
    "login": "login",
    "metadata": "read",
}
ACTIONS = {"create": "created", "update": "updated", "patch": "updated", "delete": "deleted"}
_VERSION_RE = re.compile(r"/api/v\d+/")
_ID_RE = re.compile(r"/\d+(?=/|$)")

StartResponse = Callable[..., Any]


def route_name(method: str, path: str) -> str:
    """The stats name of a path, version and ids folded: ``/ResourceServer/api/v*/Account/{id}``."""
    return _ID_RE.sub("/{id}", _VERSION_RE.sub("/api/v*/", path, count=1))


def fault_body(status: int) -> tuple[bytes, str]:
    """An injected fault, in LogiSense's error envelope."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    problem = e.Problem(e.FAULT_BASE + status, f"{phrase} (injected fault)", status)
    return json.dumps(error_envelope("fault", [problem])).encode(), "application/json"


def build_map(schema: Schema) -> Map:
    """Every route of ``schema``'s resources, compiled once."""
    rules = [
        Rule(
            f"/AuthorizationServer/api/{VERSION}/Access/Login", endpoint="|login", methods=["POST"]
        )
    ]
    for path, res in schema.by_path.items():
        base = f"/ResourceServer/api/{VERSION}/{path}"
        table = [
            ("/Metadata", "metadata", "GET"),
            ("", "list", "GET"),
            ("", "create", "POST"),
            ("/Paged", "paged", "GET"),
            ("/Search", "search", "POST"),
            ("/<int:identity>", "get", "GET"),
            ("/<int:identity>", "update", "PUT"),
            ("/<int:identity>", "patch", "PATCH"),
            ("/<int:identity>", "delete", "DELETE"),
            ("/<int:identity>/Detail", "detail", "GET"),
        ]
        rules += [
            Rule(base + suffix, endpoint=f"{path}|{verb}", methods=[method])
            for suffix, verb, method in table
            if verb in res.verbs
        ]
    return Map(rules, strict_slashes=False)


class LogiSenseApp:
    """Routes one request; every refusal is an ``ApiError`` rendered as an error envelope."""

    def __init__(
        self,
        state: LogiSenseState,
        tokens: TokenAuthority,
        credentials: tuple[str, str, str],
        token_ttl: Callable[[], float | None],
    ) -> None:
        self.state = state
        self.tokens = tokens
        self.username, self.password, self.client_id = credentials
        self.token_ttl = token_ttl
        self._urls = build_map(state.schema).bind("logisense.local")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        kind = "read"
        try:
            try:
                endpoint, args = self._urls.match(environ.get("PATH_INFO", ""), method)
            except NotFound:
                raise e.fail(e.NO_SUCH_ROUTE, "no such resource or route", 404) from None
            except MethodNotAllowed:
                raise e.fail(e.METHOD_NOT_ALLOWED, f"{method} is not allowed here", 405) from None
            path, verb = endpoint.split("|")
            kind = ERROR_TYPE[verb]
            if verb == "login":
                return json_response(start_response, 200, self._login(environ))
            self._authorize(environ)
            if verb in ("update", "patch"):
                self._update_request(environ, int(args["version"]))
            body = self._dispatch(path, verb, args.get("identity"), environ)
            return json_response(start_response, 200, body)
        except ApiError as err:
            return json_response(start_response, err.status, error_envelope(kind, err.problems))
        except Exception as exc:  # a simulator defect: still answer in the envelope, and say so
            LOG.exception("unexpected error serving %s %s", method, environ.get("PATH_INFO"))
            problem = e.Problem(e.INTERNAL, f"internal error: {type(exc).__name__}", 500)
            return json_response(start_response, 500, error_envelope(kind, [problem]))

    # -- auth ----------------------------------------------------------------------------------

    def _login(self, environ: dict[str, Any]) -> dict[str, Any]:
        raw = _read(environ).decode("utf-8", "replace")
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        grant = form.get("grant_type", "password")
        if grant == "refresh_token":
            who = self.tokens.refresh(form.get("refresh_token", ""))
            if who is None:
                raise _auth_error(e.BAD_CREDENTIALS, "invalid refresh token")
            return self.tokens.issue(who[0], who[1], self.token_ttl()).as_json()
        if grant != "password":
            raise e.fail(e.UNSUPPORTED_GRANT, f"unsupported grant_type {grant!r}")
        secret = form.get("password") or form.get("client_secret")
        if (
            form.get("username") != self.username
            or secret != self.password
            or form.get("client_id") != self.client_id
        ):
            raise _auth_error(e.BAD_CREDENTIALS, "invalid username, password or client_id")
        return self.tokens.issue(self.username, self.client_id, self.token_ttl()).as_json()

    def _authorize(self, environ: dict[str, Any]) -> None:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _auth_error(e.MISSING_TOKEN, "Authorization: Bearer <token> is required")
        problem = self.tokens.check(token.strip())
        if problem == "expired":
            raise _auth_error(e.EXPIRED_TOKEN, "the access token has expired")
        if problem is not None:
            raise _auth_error(e.INVALID_TOKEN, "the access token is not valid")

    # -- resources -----------------------------------------------------------------------------

    def _dispatch(
        self, path: str, verb: str, identity: int | None, environ: dict[str, Any]
    ) -> dict[str, Any]:
        state = self.state
        if verb == "list":
            with state.lock:
                items = [state.render(path, r) for r in state.tables[path].values()]
            return _listing(len(items), items)
        if verb == "get" and identity is not None:
            return _listing(1, [self._one(path, identity)])
        if verb == "detail" and identity is not None:
            return _listing(1, [self._detail(path, identity)])
        if verb == "metadata":
            return _listing(1, [metadata(state.schema, state.schema.by_path[path])])
        if verb == "paged":
            number, size = _paging(environ)
            query = search.Query(page_number=number, page_size=size)
            return _listing(*search.run(state, path, query))
        if verb == "search":
            return _listing(*search.run(state, path, search.parse(state, path, _json(environ))))
        return self._write(path, verb, identity, environ)

    def _write(
        self, path: str, verb: str, identity: int | None, environ: dict[str, Any]
    ) -> dict[str, Any]:
        if verb == "create":
            instances = operations.create(self.state, path, _json(environ))
        elif verb == "delete" and identity is not None:
            instances = [operations.delete(self.state, path, identity)]
        else:
            body = _filtered(_json(environ), environ)
            patch = verb == "patch"
            instances = [operations.update(self.state, path, identity or 0, body, patch)]
        key = self.state.schema.by_path[path].key
        results = [
            {"identity": i["identity"], "action": ACTIONS[verb], "dtoTypeKey": key, "instance": i}
            for i in instances
        ]
        return {
            "trackingId": tracking_id(),
            "type": "update" if verb == "update" else verb,
            "results": {"totalCount": len(results), "items": results},
        }

    def _one(self, path: str, identity: int) -> dict[str, Any]:
        with self.state.lock:
            record = self.state.get(path, identity)
            if record is None:
                raise e.fail(e.NOT_FOUND, f"{path} {identity} does not exist", 404)
            return self.state.render(path, record)

    def _detail(self, path: str, identity: int) -> dict[str, Any]:
        state = self.state
        role = state.schema.role(path)
        children = {
            "account": [
                ("childAccounts", "account_parent", "parentAccountId"),
                ("contacts", "contact", state.mapping.contact.account_field),
                ("contactLinks", "account_contact", "accountId"),
                ("pricePlans", "price_plan", "accountId"),
            ],
            "package": [
                ("packageFrequencies", "package_frequency", "packageId"),
                ("packageServices", "package_service", "packageId"),
                ("packageCurrencies", "package_currency", "packageId"),
            ],
        }.get(role, [])
        with state.lock:
            out = self._one(path, identity)
            for key, child, link in children:
                child_path = state.path(child)
                out[key] = [
                    state.render(child_path, r)
                    for r in state.tables[child_path].values()
                    if r.get(link) == identity
                ]
            return out

    def _update_request(self, environ: dict[str, Any], version: int) -> None:
        """Before v4 a PUT/PATCH must say which fields it changes (``UpdateRequest``)."""
        header = environ.get("HTTP_UPDATEREQUEST")
        below = self.state.mapping.server.update_request_below_version
        if header is None and version < below:
            raise e.fail(
                e.BAD_QUERY,
                f"API v{version} needs an UpdateRequest header naming the fields to change",
            )
        if header is not None:
            environ["billsync.update_filters"] = _filters(header)


def metadata(schema: Schema, res: Any) -> dict[str, Any]:
    """``GET /{Resource}/Metadata``: the resource's fields, which are updatable, and its routes."""
    fields = [
        {
            "name": name,
            "type": spec.kind,
            "isRequired": spec.required,
            "isUpdatable": True,
            "reference": schema.path(spec.ref) if spec.ref else None,
        }
        for name, spec in res.fields.items()
    ] + [
        {"name": name, "type": "readonly", "isRequired": False, "isUpdatable": False}
        for name in res.read_only
    ]
    return {"name": res.path, "dtoTypeKey": res.key, "fields": fields, "verbs": sorted(res.verbs)}


def _filters(header: str) -> list[str]:
    try:
        value = json.loads(header)
        names = value["filters"]
    except (ValueError, KeyError, TypeError):
        raise e.fail(e.BAD_QUERY, 'UpdateRequest must be {"filters": ["field", ...]}') from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise e.fail(e.BAD_QUERY, 'UpdateRequest must be {"filters": ["field", ...]}')
    return names


def _filtered(body: Any, environ: dict[str, Any]) -> Any:
    """With an ``UpdateRequest`` header, the body may carry only the fields it names."""
    names = environ.get("billsync.update_filters")
    if names is None or not isinstance(body, dict):
        return body
    extra = sorted(set(body) - set(names))
    if extra:
        raise e.fail(e.BAD_QUERY, f"fields {extra} are not in the UpdateRequest filters")
    return body


def _listing(total: int, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"trackingId": tracking_id(), "totalCount": total, "items": items}


def _auth_error(code: int, message: str) -> ApiError:
    return ApiError([e.Problem(code, message, 401)])


def _read(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise e.fail(e.MALFORMED_BODY, "bad Content-Length") from None
    if length > MAX_BODY:
        raise e.fail(e.MALFORMED_BODY, f"the body is larger than {MAX_BODY} bytes")
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _json(environ: dict[str, Any]) -> Any:
    raw = _read(environ)
    try:
        return json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise e.fail(e.MALFORMED_BODY, "the body is not valid JSON") from None


def _paging(environ: dict[str, Any]) -> tuple[int, int]:
    """Page details from the ``Pagination`` header (documented), else the query string."""
    header = environ.get("HTTP_PAGINATION")
    if header is not None:
        try:
            params = json.loads(header)
            if not isinstance(params, dict):
                raise ValueError
        except ValueError:
            raise e.fail(
                e.BAD_QUERY, 'Pagination must be {"pageNumber": N, "pageSize": N}'
            ) from None
    else:
        params = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    try:
        number = int(params.get("pageNumber", 1))
        size = int(params.get("pageSize", search.DEFAULT_PAGE_SIZE))
    except ValueError:
        raise e.fail(e.BAD_QUERY, "pageNumber and pageSize must be integers") from None
    if number < 1 or not 1 <= size <= search.MAX_TOP:
        raise e.fail(e.BAD_QUERY, f"pageNumber >= 1 and 1 <= pageSize <= {search.MAX_TOP}")
    return number, size
