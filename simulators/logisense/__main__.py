"""``python -m simulators.logisense --port N --username U --password P --client-id ID``."""

from __future__ import annotations

import argparse
import sys

from .simulator import main


def run(argv: list[str] | None = None) -> int:
    """Parse the command line, then serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m simulators.logisense")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--username", default="billsync")
    parser.add_argument("--password", default="pw")
    parser.add_argument("--client-id", default="billsync")
    args = parser.parse_args(argv)
    return main(args.port, args.username, args.password, args.client_id, host=args.host)


if __name__ == "__main__":
    sys.exit(run())
