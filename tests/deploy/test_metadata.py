"""The Salesforce metadata in ``salesforce/`` is valid metadata XML and covers what billsync uses.

The list of what billsync uses is derived from the code (the field map, the SOQL of the workers,
the catalog keys, the CDC channels and the write allowlist), and the simulator's schema is held to
the same files, so the deployed org, the simulator and the code cannot drift apart.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from adapters.salesforce.rest import WRITABLE_OBJECTS
from billsync import org_metadata
from billsync.config import Settings
from simulators.salesforce.schema import SCHEMA
from simulators.salesforce.soql.parse import parse
from simulators.salesforce.soql.tree import BoolOp, FieldPath, Not, Query, SemiJoin
from statemachine.fieldmap import FieldMap
from workers.catalog import mirror as catalog_mirror
from workers.sync import opportunities

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "salesforce"
SOURCE = PROJECT / "force-app" / "main" / "default"


@pytest.fixture(scope="module")
def metadata() -> org_metadata.OrgMetadata:
    return org_metadata.load(SOURCE)


def test_every_file_is_metadata_xml_in_the_metadata_namespace() -> None:
    files = sorted(PROJECT.rglob("*-meta.xml"))
    assert len(files) > 30
    for path in files:
        root = ET.parse(path).getroot()
        assert root.tag.startswith("{http://soap.sforce.com/2006/04/metadata}"), path
        kind = root.tag.split("}")[1]
        suffix = path.name.split(".")[-2].removesuffix("-meta")
        expected = {
            "field": "CustomField",
            "object": "CustomObject",
            "platformEventChannelMember": "PlatformEventChannelMember",
            "permissionset": "PermissionSet",
            "flow": "Flow",
            "quickAction": "QuickAction",
            "connectedApp": "ConnectedApp",
        }[suffix]
        assert kind == expected, path
        if kind in ("CustomField", "CustomObject"):
            assert root.find("{*}label") is not None, path
        if kind == "CustomField":
            assert root.find("{*}inlineHelpText") is not None, f"{path} has no help text"
            assert root.findtext("{*}fullName") == path.name.split(".")[0], path


def test_the_quick_action_runs_the_flow_that_publishes_the_sync_request() -> None:
    action = ET.parse(SOURCE / "quickActions" / "Opportunity.Send_to_billing.quickAction-meta.xml")
    flow_name = action.getroot().findtext("{*}flowDefinition")
    assert action.getroot().findtext("{*}label") == "Send to billing"
    flow = ET.parse(SOURCE / "flows" / f"{flow_name}.flow-meta.xml").getroot()
    create = flow.find("{*}recordCreates")
    assert create is not None and create.findtext("{*}object") == "LogiSense_Sync_Request__e"
    assignment = create.find("{*}inputAssignments")
    assert assignment is not None and assignment.findtext("{*}field") == "Record_Id__c"
    assert assignment.findtext("{*}value/{*}elementReference") == "recordId"


def _paths(query: Query, sobject: str) -> set[tuple[str, str]]:
    """(object, field) for every field a query names, following relationships via the schema."""
    found: set[tuple[str, str]] = set()
    for item in query.select:
        if isinstance(item, FieldPath):
            found.add(_resolve(sobject, item.names))
        elif isinstance(item, Query):
            child = SCHEMA[sobject].children[item.sobject][0]
            found |= _paths(item, child)
    found |= _condition_paths(query.where, sobject)
    return found


def _condition_paths(condition: object, sobject: str) -> set[tuple[str, str]]:
    if condition is None:
        return set()
    if isinstance(condition, BoolOp):
        return set().union(*(_condition_paths(c, sobject) for c in condition.operands))
    if isinstance(condition, Not):
        return _condition_paths(condition.operand, sobject)
    found = {_resolve(sobject, condition.field.names)}  # type: ignore[attr-defined]
    if isinstance(condition, SemiJoin):
        found |= _paths(condition.query, condition.query.sobject)
    return found


def _resolve(sobject: str, names: tuple[str, ...]) -> tuple[str, str]:
    for relationship in names[:-1]:
        target = next(
            f.reference_to
            for f in SCHEMA[sobject].fields.values()
            if f.relationship_name == relationship
        )
        assert target is not None
        sobject = target
    return sobject, names[-1]


def code_uses() -> set[tuple[str, str]]:
    """Every (object, field) billsync reads or writes, from its own constants and SOQL."""
    field_map = FieldMap()
    used = {
        (name, f)
        for name in ("Account", "Contact", "Opportunity", "AccountContactRelation")
        for f in field_map.salesforce_fields(name)
    }
    for soql in (opportunities.OPPORTUNITY_SOQL, opportunities.SERVICES_SOQL):
        query = parse(soql.format(id="006000000000001AAA"))
        used |= _paths(query, query.sobject)
    keys = {
        "Product2": [catalog_mirror.PRODUCT_KEY, *catalog_mirror.PRODUCT_FIELDS],
        "Product_Service__c": [
            catalog_mirror.SERVICE_KEY,
            catalog_mirror.PACKAGE_SERVICE_ID,
            "Name",
            "Product__c",
            catalog_mirror.STATE_PRICES,
            "IsActive__c",
            *catalog_mirror.PRICE_FIELDS,
        ],
        "LogiSense_Reference__c": [catalog_mirror.REFERENCE_KEY, "Type__c", "IsActive__c"],
        "LogiSense_Sync_Request__e": ["Record_Id__c"],
    }
    used |= {(obj, f) for obj, names in keys.items() for f in names}
    return used


def test_every_custom_field_and_object_billsync_uses_is_in_the_metadata(
    metadata: org_metadata.OrgMetadata,
) -> None:
    used = code_uses()
    assert ("Opportunity_Product_Service__c", "Opportunity__c") in used  # the SOQL was read
    custom = {(o, f) for o, f in used if f.endswith("__c")}
    assert len(custom) >= 20
    missing = sorted(
        f"{o}.{f}"
        for o, f in custom
        if o not in metadata.objects or f not in metadata.objects[o].fields
    )
    assert missing == []
    # Every reference type the catalog mirrors is a value Type__c accepts (a restricted picklist).
    types = metadata.objects["LogiSense_Reference__c"].fields["Type__c"].picklist
    assert set(catalog_mirror.REFERENCE_TYPES) <= set(types)
    custom_objects = {o for o, _ in used if o.endswith(("__c", "__e"))}
    for name in custom_objects | {o for o in WRITABLE_OBJECTS if o.endswith(("__c", "__e"))}:
        assert metadata.objects[name].custom, f"{name} has no object definition"


def test_every_field_billsync_uses_exists_in_the_simulated_org() -> None:
    unknown = sorted(f"{o}.{f}" for o, f in code_uses() if f not in SCHEMA[o].fields)
    assert unknown == []


def test_no_custom_object_looks_up_opportunity_line_items(
    metadata: org_metadata.OrgMetadata,
) -> None:
    # Salesforce offers no lookup or master-detail to OpportunityLineItem.
    assert all(f.reference_to != "OpportunityLineItem" for f in metadata.fields())
    assert all(
        f.reference_to != "OpportunityLineItem" for o in SCHEMA.values() for f in o.fields.values()
    )


def test_the_simulators_custom_fields_are_exactly_the_metadatas(
    metadata: org_metadata.OrgMetadata,
) -> None:
    simulated = {
        (o.name, f.name)
        for o in SCHEMA.values()
        for f in o.fields.values()
        if f.name.endswith("__c")
    }
    deployed = {(f.object, f.name) for f in metadata.fields()}
    assert simulated == deployed
    for spec in metadata.fields():
        sim = SCHEMA[spec.object].fields[spec.name]
        where = f"{spec.object}.{spec.name}"
        assert sim.type == spec.describe_type, where
        assert sim.required == spec.required, where
        assert sim.external_id == spec.external_id, where
        assert sim.reference_to == spec.reference_to, where
        if spec.reference_to:
            assert sim.relationship_name == spec.name.removesuffix("__c") + "__r", where
        assert sim.picklist == spec.picklist, where
        if spec.kind == "Text":
            assert (sim.length or 255) == spec.length, where
        if spec.kind == "Checkbox":
            assert sim.default is (spec.default == "true"), where
        if spec.kind == "MasterDetail":
            children = SCHEMA[spec.reference_to or ""].children
            assert children[f"{spec.relationship_name}__r"] == (spec.object, spec.name), where
    simulated_objects = {o.name for o in SCHEMA.values() if o.custom}
    assert simulated_objects == {o.name for o in metadata.objects.values() if o.custom}


def test_cdc_is_selected_for_every_object_billsync_streams(
    metadata: org_metadata.OrgMetadata,
) -> None:
    streamed = {
        c.removeprefix("/data/").removesuffix("ChangeEvent")
        for c in Settings().sf_channels
        if c.startswith("/data/")
    }
    assert streamed == {"Account", "Contact", "AccountContactRelation", "Opportunity"}
    assert streamed <= set(metadata.cdc_entities)


def test_the_permission_set_reads_what_billsync_reads_and_edits_only_the_mirrors(
    metadata: org_metadata.OrgMetadata,
) -> None:
    access = metadata.object_access
    read = {o for o, _ in code_uses()} - {"AccountContactRelation", "OpportunityLineItem"}
    read -= {"PricebookEntry"}  # controlled by Pricebook2 and Product2
    for name in read:
        assert access[name].read, name
    for name, granted in access.items():
        assert not granted.delete, name
        if granted.edit:
            assert name in WRITABLE_OBJECTS, name
    for name in ("Account", "Contact", "Opportunity"):
        assert access[name].view_all, f"{name}: change events need View All"
    for spec in metadata.fields():
        key = f"{spec.object}.{spec.name}"
        if spec.required:  # always accessible; Salesforce refuses them in a permission set
            assert key not in metadata.field_access, key
            continue
        readable, editable = metadata.field_access[key]
        assert readable, key
        assert editable == (spec.object in WRITABLE_OBJECTS), key
