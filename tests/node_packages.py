"""Node packages that some tests drive (the JavaScript Salesforce clients, Salesforce's
source-format library), installed from their committed lockfiles the first time they are needed.

Without Node or npm those tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CI = os.environ.get("CI") == "true"
NPM_TIMEOUT_S = 300


def need(message: str) -> None:
    """Skip locally, fail under CI: the tools a test needs must be there in CI."""
    if CI:
        pytest.fail(message + " (CI=true: these tests must run)")
    pytest.skip(message)


def installed(directory: Path, what: str) -> Path:
    """``directory`` (a package.json with its lockfile) with its packages installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        need(f"node and npm are needed for {what}")
    if not (directory / "node_modules").is_dir():
        done = subprocess.run(
            [str(npm), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            need(f"npm ci failed in {directory}: {done.stderr[-2000:]}")
    return directory
