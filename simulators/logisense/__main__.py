"""``python -m simulators.logisense --port N --username U --password P --client-id ID``."""

from __future__ import annotations

import argparse
import sys

from adapters.logisense.mapping import load_mapping

from .simulator import main


def run(argv: list[str] | None = None) -> int:
    """Parse the command line, then serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m simulators.logisense")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--username", default="billsync")
    parser.add_argument("--password", default="pw")
    parser.add_argument("--client-id", default="billsync")
    parser.add_argument("--mapping", default=None, help="a LogiSense mapping file (TOML)")
    parser.add_argument("--unique-sfdcid", action="store_true")
    args = parser.parse_args(argv)
    return main(
        args.port,
        args.username,
        args.password,
        args.client_id,
        host=args.host,
        mapping=load_mapping(args.mapping),
        unique_sfdcid=args.unique_sfdcid,
    )


if __name__ == "__main__":
    sys.exit(run())
