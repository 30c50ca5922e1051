"""Doctor checks of the Salesforce org: login, API version, metadata, permissions, CDC, limits.

What the org must hold comes from billsync's SFDX project (``billsync.org_metadata``) and the
standard fields the code reads (the field map and the workers' SOQL). Everything is checked with
describe calls and one Tooling API query, as the integration user, so the answers reflect that
user's access: a field it cannot see is reported missing, as billsync would find it.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from adapters.salesforce.rest import WRITABLE_OBJECTS, SalesforceClient
from billsync.config import Settings
from billsync.doctor.report import CheckResult, fail, guarded, ok
from billsync.errors import AuthenticationFailed, NotFound
from billsync.org_metadata import FieldSpec, OrgMetadata, default_source, load
from statemachine.fieldmap import FieldMap

DEPLOY = "deploy billsync's metadata: sf project deploy start --source-dir salesforce/force-app"
PERMISSIONS = "assign the permission set billsync_Integration to the integration user"
#: Standard fields the workers read besides the field map (SOQL of opportunities and catalog).
STANDARD_READS: dict[str, tuple[str, ...]] = {
    "OpportunityLineItem": ("OpportunityId", "Quantity", "UnitPrice", "Product2Id"),
    "Pricebook2": ("Name", "IsActive", "IsStandard"),
    "Product2": ("Name", "IsActive", "Family", "ProductCode"),
    "PricebookEntry": ("Pricebook2Id", "Product2Id", "UnitPrice", "IsActive", "CurrencyIsoCode"),
}


def expected_fields(metadata: OrgMetadata) -> dict[str, dict[str, str | None]]:
    """Object -> field -> describe type expected (None: any type; a standard field)."""
    field_map = FieldMap()
    wanted: dict[str, dict[str, str | None]] = {}
    for name in ("Account", "Contact", "Opportunity", "AccountContactRelation"):
        wanted[name] = {f: None for f in field_map.salesforce_fields(name)}
    for name, fields in STANDARD_READS.items():
        wanted.setdefault(name, {}).update({f: None for f in fields})
    for spec in metadata.fields():
        wanted.setdefault(spec.object, {})[spec.name] = spec.describe_type
    return wanted


def checks(settings: Settings, client: SalesforceClient | None) -> Iterator[CheckResult]:
    """Every Salesforce check, in order; stops after a failed login."""
    if client is None:
        yield fail(
            "salesforce.login",
            "no Salesforce instance configured",
            "set BILLSYNC_SF_INSTANCE_URL and the credentials (docs/deploy.md, step 4)",
        )
        return
    login = _login(client)
    yield login
    if not login.passed:
        return
    yield from guarded("salesforce.api_version", lambda: [_version(settings, client)], DEPLOY)
    metadata = load(default_source(settings.sf_metadata_dir))
    describes: dict[str, dict[str, Any]] = {}
    for sobject, fields in expected_fields(metadata).items():
        check = partial(_object_checks, client, sobject, fields, metadata, describes)
        yield from guarded(f"salesforce.object.{sobject}", check, DEPLOY)
    yield from guarded(
        "salesforce.permissions", lambda: _permissions(metadata, describes), PERMISSIONS
    )
    yield from guarded("salesforce.cdc", lambda: [_cdc(settings, client)], _CDC_FIX)
    yield _limit(settings, client)


def _login(client: SalesforceClient) -> CheckResult:
    try:
        client.auth.access_token  # noqa: B018 - logs in
    except AuthenticationFailed as exc:
        return fail(
            "salesforce.login",
            str(exc),
            "check BILLSYNC_SF_CLIENT_ID/BILLSYNC_SF_CLIENT_SECRET (or the username, password and "
            "security token) against the Connected App, and that the app's run-as user is set",
        )
    except Exception as exc:
        return fail(
            "salesforce.login",
            f"cannot log in: {exc}",
            "check BILLSYNC_SF_INSTANCE_URL (the org's My Domain URL), the network and proxy "
            "(BILLSYNC_SF_PROXY / HTTPS_PROXY) and BILLSYNC_SF_CA_BUNDLE",
        )
    return ok("salesforce.login", f"logged in to {client.auth.instance_url} ({client.auth.mode})")


def _version(settings: Settings, client: SalesforceClient) -> CheckResult:
    versions = client.api_versions()
    wanted = settings.sf_api_version
    if wanted in versions:
        return ok("salesforce.api_version", f"API v{wanted} served (newest v{versions[-1]})")
    return fail(
        "salesforce.api_version",
        f"the org does not serve API v{wanted}",
        f"set BILLSYNC_SF_API_VERSION to one of {', '.join(versions[-5:])}",
    )


def _object_checks(
    client: SalesforceClient,
    sobject: str,
    fields: dict[str, str | None],
    metadata: OrgMetadata,
    describes: dict[str, dict[str, Any]],
) -> list[CheckResult]:
    return [_object(client, sobject, fields, metadata, describes)]


def _object(
    client: SalesforceClient,
    sobject: str,
    fields: dict[str, str | None],
    metadata: OrgMetadata,
    describes: dict[str, dict[str, Any]],
) -> CheckResult:
    name = f"salesforce.object.{sobject}"
    try:
        describe = client.describe(sobject)
    except NotFound:
        return fail(name, f"object {sobject} does not exist or is not visible", DEPLOY)
    describes[sobject] = describe
    found = {f["name"]: f for f in describe.get("fields", [])}
    spec = metadata.objects.get(sobject)
    problems = [
        problem
        for field, kind in fields.items()
        for problem in _field_problems(
            f"{sobject}.{field}", kind, found.get(field), spec.fields.get(field) if spec else None
        )
    ]
    if problems:
        fix = DEPLOY + f", then {PERMISSIONS}"
        if any(p.endswith("CurrencyIsoCode is missing") for p in problems):
            fix = "enable multiple currencies in the org (Setup > Company Information); " + fix
        return fail(name, "; ".join(problems), fix)
    return ok(name, f"{len(fields)} fields present with the expected types")


def _field_problems(
    where: str, kind: str | None, got: dict[str, Any] | None, want: FieldSpec | None
) -> list[str]:
    if got is None:
        return [f"{where} is missing"]
    if kind is not None and got.get("type") != kind:
        return [f"{where} is {got.get('type')}, expected {kind}"]
    problems = []
    if want is not None and want.reference_to not in (None, *(got.get("referenceTo") or [])):
        problems.append(f"{where} does not refer to {want.reference_to}")
    values = {v.get("value") for v in got.get("picklistValues") or []}
    lacking = [v for v in (want.picklist if want else ()) if v not in values]
    if lacking:
        problems.append(f"{where} lacks the values {', '.join(lacking)}")
    return problems


def _permissions(
    metadata: OrgMetadata, describes: dict[str, dict[str, Any]]
) -> Iterator[CheckResult]:
    """Object and field access as describe reports it for the integration user."""
    problems, extra = [], []
    for sobject, describe in sorted(describes.items()):
        event = sobject.endswith("__e")
        if not event and not describe.get("queryable", True):
            problems.append(f"cannot read {sobject}")
        if sobject in WRITABLE_OBJECTS:
            if not describe.get("createable") or (not event and not describe.get("updateable")):
                problems.append(f"cannot create and edit {sobject}")
            fields = {f["name"]: f for f in describe.get("fields", [])}
            spec = metadata.objects.get(sobject)
            for field in spec.fields.values() if spec else ():
                got = fields.get(field.name) or {"updateable": True}
                if not event and field.kind != "MasterDetail" and not got.get("updateable"):
                    problems.append(f"cannot edit {sobject}.{field.name}")
        elif describe.get("updateable") and sobject in ("Account", "Contact", "Opportunity"):
            extra.append(sobject)
    if problems:
        yield fail("salesforce.permissions", "; ".join(problems), PERMISSIONS)
        return
    detail = "reads every synced object, creates and edits the catalog and reference mirrors"
    if extra:
        yield CheckResult(
            "salesforce.permissions",
            "warn",
            f"{detail}; it may also edit {', '.join(extra)}, which billsync never writes",
            "give the integration user only billsync_Integration (least privilege)",
        )
        return
    yield ok("salesforce.permissions", detail)


_CDC_FIX = (
    "select the object in Setup > Change Data Capture, or deploy salesforce/ "
    "(platformEventChannelMembers); the user needs View All on it"
)


def _cdc(settings: Settings, client: SalesforceClient) -> CheckResult:
    members = client.tooling_query(
        "SELECT Id, DeveloperName, EventChannel, SelectedEntity FROM PlatformEventChannelMember"
    )
    selected = {str(m.get("SelectedEntity")) for m in members}
    streamed = [c.removeprefix("/data/") for c in settings.sf_channels if c.startswith("/data/")]
    off = [c for c in streamed if c not in selected and c != "ChangeEvents"]
    if off:
        objects = ", ".join(c.removesuffix("ChangeEvent") for c in off)
        return fail("salesforce.cdc", f"Change Data Capture is off for {objects}", _CDC_FIX)
    return ok("salesforce.cdc", f"Change Data Capture selected for {len(streamed)} channels")


def _limit(settings: Settings, client: SalesforceClient) -> CheckResult:
    usage = client.api_usage
    if usage.used is None or not usage.limit:
        return CheckResult("salesforce.api_limit", "skip", "no Sforce-Limit-Info header seen")
    share = usage.used / usage.limit
    detail = f"daily API requests {usage.used:,} of {usage.limit:,} ({share:.0%})"
    if share >= 1.0:
        return fail(
            "salesforce.api_limit",
            detail + ": REQUEST_LIMIT_EXCEEDED; entities wait (never fail) until calls free up",
            "wait for Salesforce's 24-hour window to free calls, or raise the org's API limit",
        )
    if share >= settings.sf_api_slow_share:
        return CheckResult(
            "salesforce.api_limit",
            "warn",
            detail + f": past {settings.sf_api_slow_share:.0%}, backfill, drift and re-reads slow",
            "lower other integrations' use of the API, or raise BILLSYNC_SF_API_SLOW_SHARE",
        )
    return ok("salesforce.api_limit", detail)
