"""The SFDX project is read by Salesforce's own source-format library (the one behind
``sf project deploy start``): every file is recognised metadata and converts to Metadata API
format. Runs ``node salesforce/tools/check-source.js``; skipped locally when Node or the library
(``npm ci --prefix salesforce``) is missing, failed under ``CI=true``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from billsync import org_metadata
from tests.node_packages import installed

PROJECT = Path(__file__).resolve().parents[2] / "salesforce"
LIBRARY = PROJECT / "node_modules" / "@salesforce" / "source-deploy-retrieve"


def run_check(source: Path) -> subprocess.CompletedProcess[str]:
    installed(PROJECT, "Salesforce's source-format library")
    node = shutil.which("node")
    assert node is not None and LIBRARY.is_dir(), f"npm ci left no {LIBRARY}"
    script = PROJECT / "tools" / "check-source.js"
    return subprocess.run(
        [node, str(script), str(source)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_component_is_recognised_and_converts() -> None:
    result = run_check(PROJECT / "force-app")
    assert result.returncode == 0, result.stderr
    components = {
        tuple(line.split(" ", 1))
        for line in result.stdout.splitlines()
        if line.count(" ") == 1 and not line.startswith("<")
    }
    metadata = org_metadata.load(PROJECT / "force-app" / "main" / "default")
    expected = {
        ("CustomField", f"{f.object}.{f.name}")
        for f in metadata.fields()
        if not metadata.objects[f.object].custom
    }
    expected |= {("CustomObject", o.name) for o in metadata.objects.values() if o.custom}
    expected |= {
        ("PlatformEventChannelMember", f"ChangeEvents_{e}") for e in metadata.change_events
    }
    expected |= {
        ("PermissionSet", org_metadata.PERMISSION_SET),
        ("Flow", "Send_to_billing"),
        ("QuickAction", "Opportunity.Send_to_billing"),
    }
    assert components == expected
    assert "<version>59.0</version>" in result.stdout


@pytest.mark.parametrize(
    ("path", "text", "error"),
    [
        (
            "objects/Account/fields/LogiSense_Sync__c.field-meta.xml",
            "<CustomField xmlns=",
            "parsing",
        ),
        ("widgets/Thing.widget-meta.xml", "<Widget/>", "Could not infer a metadata type"),
    ],
)
def test_a_broken_or_unknown_file_is_refused(
    tmp_path: Path, path: str, text: str, error: str
) -> None:
    copy = tmp_path / "force-app"
    shutil.copytree(PROJECT / "force-app", copy)
    target = copy / "main" / "default" / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    result = run_check(copy)
    assert result.returncode == 1
    assert error in result.stderr and target.name in result.stderr
