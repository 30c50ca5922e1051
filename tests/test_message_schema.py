"""The published JSON Schema is the one the workers validate against."""

from __future__ import annotations

import json
from pathlib import Path

from billsync.messages import json_schemas

PUBLISHED = Path(__file__).parent.parent / "docs" / "message-schema.json"


def test_published_schema_matches_the_code() -> None:
    assert json.loads(PUBLISHED.read_text()) == json.loads(json.dumps(json_schemas()))
