"""What billsync needs in a Salesforce org, read from the SFDX project in ``salesforce/``.

The metadata files are the one source of truth: an admin deploys them (``sf project deploy
start``), ``billsync doctor`` checks a live org against them, and the tests hold the simulator's
schema and the code's SOQL to them. Only the parts billsync relies on are read: custom objects and
fields (with the SOAP type that ``describe`` reports), the CDC channel members and the permission
set.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from billsync.errors import ConfigError

NAMESPACE = "http://soap.sforce.com/2006/04/metadata"
SOURCE_DIR = Path("salesforce") / "force-app" / "main" / "default"
PERMISSION_SET = "billsync_Integration"

#: Metadata field type -> the type ``describe`` reports for it.
DESCRIBE_TYPES = {
    "Checkbox": "boolean",
    "Text": "string",
    "LongTextArea": "textarea",
    "TextArea": "textarea",
    "Currency": "currency",
    "Number": "double",
    "Lookup": "reference",
    "MasterDetail": "reference",
    "Picklist": "picklist",
    "Date": "date",
    "DateTime": "datetime",
    "Email": "email",
    "Phone": "phone",
}


@dataclass(frozen=True)
class FieldSpec:
    """One custom field as deployed: its metadata type and what ``describe`` should say of it."""

    object: str
    name: str
    kind: str
    length: int | None = None
    required: bool = False
    external_id: bool = False
    unique: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    help_text: str = ""
    #: ``defaultValue`` as written (a checkbox's "true"/"false"); "" when none.
    default: str = ""

    @property
    def describe_type(self) -> str:
        """The ``type`` a describe call reports for this field."""
        return DESCRIBE_TYPES.get(self.kind, self.kind.lower())


@dataclass(frozen=True)
class ObjectSpec:
    """An object billsync uses: custom (defined here) or standard (only its custom fields here)."""

    name: str
    custom: bool
    platform_event: bool = False
    fields: dict[str, FieldSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectAccess:
    """Object permissions of the integration user's permission set."""

    read: bool
    create: bool
    edit: bool
    delete: bool
    view_all: bool


@dataclass(frozen=True)
class OrgMetadata:
    """The parsed SFDX project."""

    objects: dict[str, ObjectSpec]
    change_events: tuple[str, ...]
    object_access: dict[str, ObjectAccess]
    field_access: dict[str, tuple[bool, bool]]

    def fields(self) -> list[FieldSpec]:
        """Every custom field, object by object."""
        return [f for obj in self.objects.values() for f in obj.fields.values()]

    @property
    def cdc_entities(self) -> tuple[str, ...]:
        """Objects selected for Change Data Capture (``AccountChangeEvent`` -> ``Account``)."""
        return tuple(_entity_of(name) for name in self.change_events)


def _entity_of(change_event: str) -> str:
    base = change_event.removesuffix("ChangeEvent")
    return base + "c" if base.endswith("__") else base


def _q(tag: str) -> str:
    return f"{{{NAMESPACE}}}{tag}"


def _text(node: ET.Element, tag: str, default: str = "") -> str:
    found = node.find(_q(tag))
    return (found.text or "").strip() if found is not None else default


def _flag(node: ET.Element, tag: str) -> bool:
    return _text(node, tag).lower() == "true"


def parse(path: Path, root_tag: str) -> ET.Element:
    """Parse one metadata file; it must be ``root_tag`` in the metadata namespace."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ConfigError(f"unreadable Salesforce metadata file {path}: {exc}") from None
    if root.tag != _q(root_tag):
        raise ConfigError(f"{path}: expected <{root_tag}> in namespace {NAMESPACE}, got {root.tag}")
    return root


def _field(object_name: str, path: Path) -> FieldSpec:
    root = parse(path, "CustomField")
    kind = _text(root, "type")
    length = _text(root, "length")
    values = root.findall(f"{_q('valueSet')}/{_q('valueSetDefinition')}/{_q('value')}")
    return FieldSpec(
        object=object_name,
        name=_text(root, "fullName"),
        kind=kind,
        length=int(length) if length else None,
        required=_flag(root, "required") or kind == "MasterDetail",
        external_id=_flag(root, "externalId"),
        unique=_flag(root, "unique"),
        reference_to=_text(root, "referenceTo") or None,
        relationship_name=_text(root, "relationshipName") or None,
        picklist=tuple(_text(v, "fullName") for v in values),
        help_text=_text(root, "inlineHelpText"),
        default=_text(root, "defaultValue"),
    )


def _object(directory: Path) -> ObjectSpec:
    name = directory.name
    definition = directory / f"{name}.object-meta.xml"
    custom = definition.exists()
    if custom:
        parse(definition, "CustomObject")
    fields = {
        spec.name: spec
        for spec in (
            _field(name, p) for p in sorted((directory / "fields").glob("*.field-meta.xml"))
        )
    }
    return ObjectSpec(name, custom, name.endswith("__e"), fields)


def _access(root: ET.Element) -> tuple[dict[str, ObjectAccess], dict[str, tuple[bool, bool]]]:
    objects = {
        _text(node, "object"): ObjectAccess(
            read=_flag(node, "allowRead"),
            create=_flag(node, "allowCreate"),
            edit=_flag(node, "allowEdit"),
            delete=_flag(node, "allowDelete"),
            view_all=_flag(node, "viewAllRecords"),
        )
        for node in root.findall(_q("objectPermissions"))
    }
    fields = {
        _text(node, "field"): (_flag(node, "readable"), _flag(node, "editable"))
        for node in root.findall(_q("fieldPermissions"))
    }
    return objects, fields


def load(source: Path) -> OrgMetadata:
    """Read ``source`` (``.../force-app/main/default``); ConfigError when it is not there."""
    if not (source / "objects").is_dir():
        raise ConfigError(
            f"no Salesforce metadata at {source}; set BILLSYNC_SF_METADATA_DIR to the "
            "salesforce/force-app/main/default folder of billsync's source"
        )
    objects = {d.name: _object(d) for d in sorted((source / "objects").iterdir()) if d.is_dir()}
    members = tuple(
        _text(parse(p, "PlatformEventChannelMember"), "selectedEntity")
        for p in sorted((source / "platformEventChannelMembers").glob("*-meta.xml"))
        if _text(parse(p, "PlatformEventChannelMember"), "eventChannel") == "ChangeEvents"
    )
    permission_file = source / "permissionsets" / f"{PERMISSION_SET}.permissionset-meta.xml"
    object_access, field_access = _access(parse(permission_file, "PermissionSet"))
    return OrgMetadata(objects, members, object_access, field_access)


def default_source(configured: str | None = None) -> Path:
    """Where the metadata is: the configured folder, else beside the source tree or the cwd."""
    if configured:
        return Path(configured)
    beside_source = Path(__file__).resolve().parents[1] / SOURCE_DIR
    if beside_source.is_dir():
        return beside_source
    return Path(os.getcwd()) / SOURCE_DIR
