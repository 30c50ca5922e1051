"""The result of one doctor check, and running a group of them safely."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

from billsync.errors import BillsyncError

Status = Literal["ok", "warn", "skip", "fail"]


@dataclass(frozen=True)
class CheckResult:
    """One line of the report: what was checked, what was found and, when it fails, the fix.

    ``warn`` and ``skip`` pass (the deployment works) but say something worth knowing.
    """

    name: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def passed(self) -> bool:
        """Everything but ``fail`` passes."""
        return self.status != "fail"

    def as_dict(self) -> dict[str, Any]:
        """For ``--json``."""
        return {**asdict(self), "passed": self.passed}


def ok(name: str, detail: str) -> CheckResult:
    """A passed check."""
    return CheckResult(name, "ok", detail)


def fail(name: str, detail: str, fix: str) -> CheckResult:
    """A failed check with what to do about it."""
    return CheckResult(name, "fail", detail, fix)


def guarded(
    name: str, checks: Callable[[], Iterable[CheckResult]], fix: str
) -> Iterator[CheckResult]:
    """The results of ``checks``; an error escaping them becomes one failed check ``name``."""
    try:
        yield from checks()
    except BillsyncError as exc:
        yield fail(name, str(exc), fix)
    except Exception as exc:  # a check must never crash the report
        yield fail(name, f"unexpected error: {type(exc).__name__}: {exc}", fix)
