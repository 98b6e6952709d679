"""Command line entry point: ``python -m anyio_tools demo|serve-mcp|schema ...``.

- ``demo [--backend asyncio|trio] [--speed N] [--llm scripted|openai]``: the demonstration.
- ``serve-mcp module:toolset --transport stdio|http``: serve tools over MCP (``mcp`` extra).
- ``schema module:toolset --format openai|anthropic|mcp``: print the tools' schemas.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Sequence

import anyio

from ._cli_tools import SCHEMA_FORMATS, load_tools, schemas
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
    serve = commands.add_parser("serve-mcp", help="serve tools over MCP (needs the mcp extra)")
    serve.add_argument("tools", help="module:attribute naming a tool, a toolset or a list")
    serve.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    serve.add_argument("--host", default="127.0.0.1", help="http: the address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="http: the port to listen on")
    serve.add_argument("--path", default="/mcp", help="http: the endpoint's path")
    serve.add_argument(
        "--backend", choices=("asyncio", "trio"), default="asyncio", help="the event loop"
    )
    schema = commands.add_parser("schema", help="print the tools' schemas as JSON")
    schema.add_argument("tools", help="module:attribute naming a tool, a toolset or a list")
    schema.add_argument("--format", choices=SCHEMA_FORMATS, default="openai")
    args = parser.parse_args(argv)
    if args.command == "demo":
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
    try:
        items = load_tools(args.tools)
        if args.command == "schema":
            print(schemas(items, args.format))
            return 0
    except ValueError as exc:
        parser.error(str(exc))
    # The optional extra: only this command needs the SDK.
    from .mcp import serve_mcp

    run = functools.partial(
        serve_mcp,
        items,
        transport=args.transport,
        host=args.host,
        port=args.port,
        path=args.path,
    )
    anyio.run(run, backend=args.backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
