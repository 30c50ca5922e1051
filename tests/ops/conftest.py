"""Operator tests run on the embedded backend only (fast); ``cli`` is tests/conftest.py's."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Backend, embedded_backend


@pytest.fixture(params=["embedded"])
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Backend:
    """Operator tests run on the embedded default: in-memory broker and SQLite."""
    return embedded_backend(tmp_path)
