"""Command line entry point: ``python -m anyio_tools demo [--backend asyncio|trio]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._demo import run_demo

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen command; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m anyio_tools")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the demonstration conversation")
    demo.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    args = parser.parse_args(argv)
    return run_demo(backend=args.backend, out=sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
