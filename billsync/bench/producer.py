"""The reliability suite's producer, run as its own process: a stream of account changes.

It creates ``--accounts`` accounts (every tenth a child of the one before; every 25th invalid, with
no currency, so that it must fail with a reason), then renames random accounts at ``--rate`` per
second for ``--seconds``. Every batch is re-sent until the broker confirms it, so a broker restart
costs duplicates, never losses. At the end it writes what Salesforce now holds (the expected final
state) as JSON to ``--out``::

    python -m billsync.bench.producer --broker URL --prefix P --accounts 300 --rate 50 \\
        --seconds 20 --out expected.json
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

from adapters.broker.publisher import ConfirmedPublisher, open_publisher
from adapters.broker.topology import Topology
from billsync.bench.workload import account_id, account_name, new_account, rename
from billsync.messages import ChangeMessage, encode

log = logging.getLogger("billsync.bench.producer")
BATCH = 50
TICK_S = 0.1


def is_invalid(number: int) -> bool:
    """Accounts the rules must refuse (no currency)."""
    return number % 25 == 0


def parent_of(number: int) -> int | None:
    """Every tenth account is a child of the one before it."""
    return number - 1 if number % 10 == 0 else None


class ResilientPublisher:
    """Sends batches and waits for their confirms, reconnecting until they are confirmed."""

    def __init__(self, url: str, topology: Topology) -> None:
        self.url = url
        self.topology = topology
        self.publisher: ConfirmedPublisher | None = None
        self.resends = 0
        self.published = 0

    def send(self, batch: list[ChangeMessage]) -> None:
        """Publish ``batch``; returns once every message of it is confirmed."""
        while True:
            try:
                if self.publisher is None:
                    self.publisher = open_publisher(self.url, self.topology)
                for message in batch:
                    self.publisher.publish(encode(message), routing_key=self.topology.routing_key)
                self.publisher.flush(timeout=10)
                self.published += len(batch)
                return
            except Exception as exc:
                log.warning("publish failed (%s); resending the batch", exc)
                self.resends += 1
                self.close()
                time.sleep(0.5)

    def close(self) -> None:
        """Drop the connection (ignoring a broker that is already gone)."""
        if self.publisher is not None:
            try:
                self.publisher.close()
            except Exception:
                log.debug("closing a broken publisher failed", exc_info=True)
            self.publisher = None


def produce(
    publisher: ResilientPublisher, *, accounts: int, rate: float, seconds: float, seed: int
) -> dict[str, Any]:
    """Run the stream; returns the expected final state."""
    chooser = random.Random(seed)
    revisions = dict.fromkeys(range(1, accounts + 1), 0)
    numbers = list(revisions)
    for offset in range(0, accounts, BATCH):
        batch = [
            new_account(n, parent=parent_of(n), CurrencyIsoCode=None if is_invalid(n) else "USD")
            for n in numbers[offset : offset + BATCH]
        ]
        publisher.send(batch)
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < seconds:
        due = int((time.monotonic() - started) * rate) - sent
        batch = []
        for _ in range(max(0, due)):
            number = chooser.choice(numbers)
            revisions[number] += 1
            batch.append(rename(number, revisions[number]))
        if batch:
            publisher.send(batch)
            sent += len(batch)
        time.sleep(TICK_S)
    return {
        "accounts": {
            account_id(n): {
                "name": account_name(n, revisions[n]),
                "valid": not is_invalid(n),
                "parent": account_id(p) if (p := parent_of(n)) else None,
            }
            for n in numbers
        },
        "renames": sent,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s producer %(message)s")
    publisher = ResilientPublisher(args.broker, Topology(prefix=args.prefix))
    try:
        expected = produce(
            publisher,
            accounts=args.accounts,
            rate=args.rate,
            seconds=args.seconds,
            seed=args.seed,
        )
    finally:
        publisher.close()
    expected["published"] = publisher.published
    expected["resends"] = publisher.resends
    args.out.write_text(json.dumps(expected))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
