"""A stub broker for the fast tier, in the spirit of Dramatiq's ``StubBroker``: ``publish`` hands
messages straight to the intake (as the consumer does after parsing them), and ``join`` runs the
engine in the caller's thread until no entity is due. No broker, no threads, no sleeping on
timers: a test reads top to bottom."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from adapters.store import figures
from workers.sync.engine import SyncEngine
from workers.sync.intake import Intake


class StubBroker:
    """Delivers messages to one worker's intake and drives its engine synchronously."""

    def __init__(self, intake: Intake, engine: SyncEngine, *, batch_size: int = 16) -> None:
        self.intake = intake
        self.engine = engine
        self.batch_size = batch_size
        self.delivered = 0

    def publish(self, messages: Sequence[Any]) -> None:
        """Merge ``messages`` as a consumer would (one transaction), and process what is due."""
        result = self.intake.apply(list(messages))
        self.delivered += len(messages)
        if result.due:
            self.engine.process_batch(sorted(result.due))

    def join(self, *, timeout: float = 10.0) -> int:
        """Advance due entities until none is due (retries whose time has not come are left);
        returns how many advances ran."""
        advanced = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            claims = self.engine.claim_due(self.batch_size)
            if not claims:
                with self.engine.ctx.sessions() as session:
                    if figures.due_work(session).count == 0:
                        return advanced
                time.sleep(0.005)  # due but still leased: the lease is being given back
                continue
            advanced += self.engine.process_batch(claims)
        raise TimeoutError(f"entities still due after {timeout}s")
