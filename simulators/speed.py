"""Measuring a simulator's request rate (``python -m simulators.<name>.speed``).

The server runs in its own process (as ``billsync sim ...`` does) and the clients in others, each
with one keep-alive connection, so the figure is the server's and not the clients' or the GIL's.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

#: A client: called with its arguments and then the seconds to run; how many requests it made.
Client = Callable[..., int]


def arguments(prog: str, argv: list[str] | None) -> argparse.Namespace:
    """``--clients`` (concurrent connections) and ``--seconds`` (how long each runs)."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    return parser.parse_args(argv)


@contextmanager
def simulator_process(command: Sequence[str]) -> Iterator[str]:
    """Run a simulator in a process of its own; its base URL (the first line it prints)."""
    server = subprocess.Popen(list(command), stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait(timeout=10)


def repeat_for(seconds: float, request: Callable[[int], object]) -> int:
    """Make ``request(n)`` again and again for ``seconds``; how many were made."""
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        request(done)
        done += 1
    return done


def requests_per_second(
    client: Client, args: tuple[Any, ...], *, clients: int, seconds: float
) -> float:
    """Run ``client(*args, seconds)`` in ``clients`` processes at once; requests per second."""
    results: multiprocessing.Queue[int] = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=_counted, args=(client, args, seconds, results))
        for _ in range(clients)
    ]
    for proc in procs:
        proc.start()
    total = sum(results.get(timeout=seconds + 30) for _ in procs)
    for proc in procs:
        proc.join()
    return total / seconds


def _counted(
    client: Client, args: tuple[Any, ...], seconds: float, out: multiprocessing.Queue[int]
) -> None:
    out.put(client(*args, seconds))
