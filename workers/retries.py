"""The one retry policy: exponential backoff with full jitter, a cap and an attempt limit.

Backoff is a pure function of the attempt number (and a random draw), so that every process
computes the same schedule; the schedule itself is stored as ``next_attempt_at`` in the database,
which survives restarts of any process and works the same on every broker transport.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before attempt ``n + 1``, and when to give up."""

    max_attempts: int = 8
    base_s: float = 1.0
    cap_s: float = 300.0

    def delay(
        self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Full jitter between half and all of ``base * 2**(attempt-1)``, capped; a server's
        ``Retry-After`` is a floor.
        """
        ceiling = min(self.cap_s, self.base_s * (2 ** max(0, attempt - 1)))
        draw = (rng or random).uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            draw = max(draw, min(retry_after, self.cap_s))
        return draw

    def exhausted(self, attempt: int) -> bool:
        """Whether ``attempt`` failed attempts mean giving up."""
        return attempt >= self.max_attempts
