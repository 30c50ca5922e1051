"""``describe`` answers, built from the same metadata that validates writes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulators.salesforce.schema import FieldDef, ObjectDef
from simulators.salesforce.values import MAX_TEXT

if TYPE_CHECKING:
    from simulators.salesforce.store import OrgStore


def _label(name: str) -> str:
    return name.removesuffix("__c").removesuffix("__e").replace("_", " ")


def _length(fdef: FieldDef) -> int:
    if fdef.type in ("string", "picklist", "email", "phone", "textarea", "url"):
        return fdef.length or MAX_TEXT.get(fdef.type, 255)
    return 0


def describe_field(fdef: FieldDef) -> dict[str, Any]:
    """One entry of ``fields`` in a describe result (a minimal set of attributes)."""
    return {
        "name": fdef.name,
        "label": _label(fdef.name),
        "type": fdef.type,
        "custom": fdef.name.endswith("__c"),
        "nillable": not fdef.required and fdef.type != "boolean",
        "createable": fdef.createable,
        "updateable": fdef.updateable,
        "externalIdField": fdef.external_id,
        "unique": fdef.external_id,
        "idLookup": fdef.external_id or fdef.name == "Id",
        "referenceTo": [fdef.reference_to] if fdef.reference_to else [],
        "relationshipName": fdef.relationship_name,
        "defaultValue": fdef.default,
        "length": _length(fdef),
        "picklistValues": [
            {"value": v, "label": v, "active": True, "defaultValue": False} for v in fdef.picklist
        ],
    }


def describe(obj: ObjectDef, *, brief: bool = False) -> dict[str, Any]:
    """``GET sobjects/<Type>/describe`` (``brief``: the object part only)."""
    out: dict[str, Any] = {
        "name": obj.name,
        "label": _label(obj.name),
        "keyPrefix": obj.key_prefix,
        "custom": obj.custom,
        "createable": True,
        "updateable": not obj.platform_event,
        "deletable": not obj.platform_event,
        "queryable": not obj.platform_event,
        "urls": {"sobject": f"/services/data/v59.0/sobjects/{obj.name}"},
    }
    if not brief:
        out["fields"] = [describe_field(f) for f in obj.fields.values()]
        out["childRelationships"] = [
            {"childSObject": child, "field": field, "relationshipName": rel, "cascadeDelete": False}
            for rel, (child, field) in obj.children.items()
        ]
    return out


def global_describe(store: OrgStore) -> dict[str, Any]:
    """``GET sobjects``: every object, briefly."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [describe(o, brief=True) for o in store.schema.values()],
    }
