"""Outside checkers run as the CI runs them: skipped locally when missing, a failure under
CI=true (``.ci/run`` installs promtool from the distribution's ``prometheus`` package)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import CI


def require_tool(name: str) -> str:
    """The path of ``name``, or skip (locally) / fail (CI=true)."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed"
    if CI:
        pytest.fail(message + " (CI=true: .ci/run installs it)")
    pytest.skip(message)


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``promtool args...``; the completed process (check its return code)."""
    return subprocess.run(
        [require_tool("promtool"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_clean_metrics(text: str) -> None:
    """``promtool check metrics`` finds nothing to say about this exposition."""
    done = promtool("check", "metrics", stdin=text)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
