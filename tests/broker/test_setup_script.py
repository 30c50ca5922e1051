"""scripts/rabbitmq-setup caps the broker's message size (max_message_size) and validates its
input; checked with --dry-run, which changes nothing on the shared broker."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "rabbitmq-setup"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **env},
    )


def test_the_setup_caps_the_message_size() -> None:
    done = _run("--dry-run")
    assert done.returncode == 0, done.stderr
    assert "max_message_size" in done.stdout and "16777216" in done.stdout
    assert "max_message_size" in _run("--dry-run", RABBITMQ_MAX_MESSAGE_SIZE="2097152").stdout
    assert "max_message_size" not in _run("--dry-run", RABBITMQ_MAX_MESSAGE_SIZE="0").stdout


def test_the_setup_refuses_a_size_that_is_not_a_number() -> None:
    done = _run("--dry-run", RABBITMQ_MAX_MESSAGE_SIZE="16MB")
    assert done.returncode == 2
    assert "number of bytes" in done.stderr
