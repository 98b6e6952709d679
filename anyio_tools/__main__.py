"""Command line entry point: ``python -m anyio_tools demo [--backend asyncio|trio] [--llm ...]``."""

from __future__ import annotations

import argparse
import os
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
    demo.add_argument("--speed", type=float, default=1.0, help="time scale (2 = twice as fast)")
    demo.add_argument(
        "--llm",
        choices=("scripted", "openai"),
        default="scripted",
        help="the scripted LLM, or an OpenAI-compatible server (needs anyio_tools[openai])",
    )
    demo.add_argument("--model", help="model name for --llm openai (default: $OPENAI_MODEL)")
    demo.add_argument("--base-url", help="server URL for --llm openai (default: $OPENAI_BASE_URL)")
    args = parser.parse_args(argv)
    if not args.speed > 0:
        parser.error(f"--speed must be > 0, got {args.speed}")
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL")
    if args.llm == "openai" and not os.environ.get("OPENAI_API_KEY") and not base_url:
        parser.error(
            "--llm openai needs OPENAI_API_KEY, or --base-url (or OPENAI_BASE_URL) for a "
            "local server that needs no key"
        )
    return run_demo(
        backend=args.backend,
        out=sys.stdout,
        speed=args.speed,
        llm=args.llm,
        model=args.model,
        base_url=args.base_url,
    )


if __name__ == "__main__":
    sys.exit(main())
