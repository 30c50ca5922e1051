"""The CLI's console parses no markup, so styled words (bench verdicts) are rich ``Text``: they
print as words, never as ``[green]...[/green]`` tags."""

from __future__ import annotations

import pytest

from billsync.bench.report import Figure, table
from billsync.cli.common import console


def test_the_bench_table_prints_its_verdicts_as_words(capsys: pytest.CaptureFixture[str]) -> None:
    figures = [
        Figure("a", "throughput [x]", 120.0, "msg/s", ">= 100", True),
        Figure("b", "latency", 9.0, "s", "<= 5", False),
        Figure("c", "reference", 1.0, "", "", None),
        Figure("d", "broken", None, "", "<= 1", None, error="[red]boom"),
    ]
    console.print(table(figures))
    out = capsys.readouterr().out
    assert "met" in out and "NOT met" in out and "ref" in out
    assert "throughput [x]" in out and "[red]boom" in out
    for tag in ("[green]", "[/green]", "[/red]", "[dim]"):
        assert tag not in out
