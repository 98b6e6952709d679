"""Row 10 of the benchmarks (issue #14): tool calls through MCP, anyio_tools on both sides
against the bare SDK on both sides.

Both setups serve one tool that returns its argument at once and make plain calls (no MCP
tasks) sequentially from one client: the bare SDK as a low-level ``Server`` called with
``Client.call_tool``; ours as ``build_mcp_server`` called through ``MCPToolset`` and
``ToolExecutor.call`` (which, like ``Client.call_tool``, waits for the end; the same calls
through ``ToolExecutor.execute`` are reported too, without a target). Over the
in-memory transport both run in the worker's loop; over streamable HTTP each server runs in
its own process (hypercorn on 127.0.0.1, as ``serve_mcp`` serves), started once per worker.

Over the in-memory transport a third setup, the *floor*, is the bare SDK plus only what
issue #14 asks of every call besides bookkeeping: a progress token on the request, and on each
side one checkpoint (SPEC INV-27) and one cancel scope around the work (a call is cancelled
alone, CAN-1), with the arguments validated by pydantic on the server. It says what share of
the ``<= 1.2x`` budget those alone use up (see ``benchmarks/README.md``, "Row 10's floor").

``run.py`` imports this module and merges `measure` into its rounds and `ROWS` into its
tables. ``python benchmarks/mcp_rows.py --serve bare|ours --port N`` is the server process.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pydantic
from mcp import Client
from mcp.server import Server
from mcp.server.context import ServerRequestContext

from anyio_tools import FunctionCall, RunContext, ToolExecutor, function_tool
from anyio_tools.mcp import MCPToolset, build_mcp_server
from anyio_tools.mcp._http import serve_http

ROOT = Path(__file__).resolve().parent.parent
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"x": {"type": "integer"}},
    "required": ["x"],
}


@function_tool
async def echo(x: int) -> int:
    """Return x."""
    return x


_CallTool = Callable[
    [ServerRequestContext[Any, Any], types.CallToolRequestParams], Awaitable[types.CallToolResult]
]


def _echo_server(name: str, call_tool: _CallTool) -> Server[Any]:
    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[types.Tool(name="echo", description="Return x.", input_schema=SCHEMA)]
        )

    return Server(name, on_list_tools=list_tools, on_call_tool=call_tool)


def bare_server() -> Server[Any]:
    """The same tool on the SDK's low-level server, without anyio_tools."""

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        x = (params.arguments or {}).get("x")
        return types.CallToolResult(content=[types.TextContent(type="text", text=str(x))])

    return _echo_server("bare", call_tool)


class _EchoArguments(pydantic.BaseModel):
    x: int


async def _echo(x: int) -> int:
    return x


def floor_server() -> Server[Any]:
    """The bare server plus what every call of ours must do: a checkpoint, a cancel scope,
    validated arguments (the floor: see the module's docstring)."""

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        await anyio.lowlevel.checkpoint()
        with anyio.CancelScope():  # the tool's function is awaited in it, as ours is
            x = await _echo(**_EchoArguments.model_validate(params.arguments or {}).model_dump())
        return types.CallToolResult(content=[types.TextContent(type="text", text=str(x))])

    return _echo_server("floor", call_tool)


_CHUNKS = 6
"""The setups run in alternating chunks, so a slow spell of a shared machine hits each."""


async def _alternating(setups: Sequence[Callable[[int], Awaitable[None]]], n: int) -> list[float]:
    for one in setups:
        await one(-1)  # warm-up
    spent = [0.0] * len(setups)
    per_chunk = max(1, n // _CHUNKS)
    for chunk in range(_CHUNKS):
        # The order rotates, so that no setup always runs right after the same other one
        # (over HTTP, the first calls after switching to another server process are dearer).
        for step in range(len(setups)):
            index = (chunk + step) % len(setups)
            one = setups[index]
            start = time.perf_counter()
            for i in range(per_chunk):
                await one(i)
            spent[index] += time.perf_counter() - start
    calls = per_chunk * _CHUNKS
    return [total / calls * 1e6 for total in spent]


async def _row(
    ours_server: Any, bare_server_spec: Any, n: int, floor_spec: Any = None
) -> tuple[float, ...]:
    async with (
        MCPToolset(id="bench", server=ours_server, use_tasks=False) as toolset,
        ToolExecutor() as executor,
        Client(bare_server_spec, mode="legacy", cache=None) as client,
        AsyncExitStack() as stack,
    ):
        tool = toolset.get_tool("echo")

        async def ours(i: int) -> None:
            call = FunctionCall(call_id=f"c{i}", name="echo", arguments=f'{{"x": {i}}}')
            await executor.call(tool, call)  # runs to its end, as the bare call does

        async def ours_execute(i: int) -> None:
            call = FunctionCall(call_id=f"e{i}", name="echo", arguments=f'{{"x": {i}}}')
            await executor.execute(tool, RunContext(function_call=call))

        async def bare(i: int) -> None:
            await client.call_tool("echo", {"x": i})

        setups = [ours, ours_execute, bare]
        if floor_spec is not None:
            floor_client = await stack.enter_async_context(
                Client(floor_spec, mode="legacy", cache=None)
            )

            async def floor(i: int) -> None:
                await anyio.lowlevel.checkpoint()
                with anyio.CancelScope():
                    await floor_client.call_tool("echo", {"x": i}, meta={"progress_token": i})

            setups.append(floor)
        ours_us, execute_us, bare_us, *floor_us = await _alternating(setups, n)
        return ours_us, bare_us, execute_us, *floor_us


async def memory_row(n: int) -> tuple[float, ...]:
    """Per-call µs over the in-memory transport: (ours, bare SDK, ours through execute(),
    the floor)."""
    return await _row(build_mcp_server([echo]), bare_server(), n, floor_server())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def _served(kind: str) -> AsyncIterator[str]:
    port = _free_port()
    command = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = await anyio.open_process(command, env=env, stderr=subprocess.DEVNULL)
    try:
        with anyio.fail_after(60):
            while True:
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", port)
                except OSError:
                    await anyio.sleep(0.05)
                    continue
                await stream.aclose()
                break
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        with anyio.move_on_after(10, shield=True):
            await process.wait()
        await process.aclose()


@asynccontextmanager
async def _both_served() -> AsyncIterator[tuple[str, str]]:
    # Both processes start at once: their start-up (imports) is most of a smoke run.
    async with AsyncExitStack() as stack:
        urls: dict[str, str] = {}

        async def start(kind: str) -> None:
            urls[kind] = await stack.enter_async_context(_served(kind))

        async with anyio.create_task_group() as tg:
            tg.start_soon(start, "ours")
            tg.start_soon(start, "bare")
        yield urls["ours"], urls["bare"]


async def http_row(n: int) -> tuple[float, ...]:
    """Per-call µs over streamable HTTP on loopback: (ours, bare SDK, ours through execute())."""
    async with _both_served() as (ours_url, bare_url):
        return await _row(ours_url, bare_url, n)


async def measure(n_memory: int, n_http: int) -> dict[str, float]:
    """One round of row 10: per-call µs and calls per second, ours and bare."""
    figures: dict[str, float] = {}
    for transport, row, n in (("memory", memory_row, n_memory), ("http", http_row, n_http)):
        ours, bare, execute, *floor = await row(n)
        if floor:
            figures[f"mcp.{transport}.floor_us"] = floor[0]
        figures[f"mcp.{transport}.call_us"] = ours
        figures[f"mcp.{transport}.execute_us"] = execute
        figures[f"mcp.{transport}.calls_per_s"] = 1e6 / ours
        figures[f"baseline.mcp.{transport}.call_us"] = bare
        figures[f"baseline.mcp.{transport}.calls_per_s"] = 1e6 / bare
    return figures


CALLS: dict[str, tuple[int, int]] = {"standard": (2000, 300), "quick": (500, 100), "smoke": (5, 3)}
"""Sequential calls per round, in-memory and over HTTP, by preset."""

KEYS = (
    *(
        f"{prefix}mcp.{transport}.{figure}"
        for prefix in ("", "baseline.")
        for transport in ("memory", "http")
        for figure in ("call_us", "calls_per_s")
    ),
    *(f"mcp.{transport}.execute_us" for transport in ("memory", "http")),
    "mcp.memory.floor_us",
)
"""Every figure `measure` reports."""

ROWS: list[tuple[str, str, str | None, str, Callable[[float], bool] | None]] = [
    (
        "10 MCP call, in-memory (µs)",
        "mcp.memory.call_us",
        "baseline.mcp.memory.call_us",
        "<= 1.2x",
        lambda r: r <= 1.2,
    ),
    (
        "10 same, client execute() (µs)",
        "mcp.memory.execute_us",
        "baseline.mcp.memory.call_us",
        "",
        None,
    ),
    (
        "10 floor: required part only (µs)",
        "mcp.memory.floor_us",
        "baseline.mcp.memory.call_us",
        "",
        None,
    ),
    (
        "10 MCP calls/s, in-memory",
        "mcp.memory.calls_per_s",
        "baseline.mcp.memory.calls_per_s",
        "",
        None,
    ),
    (
        "10 MCP call, HTTP loopback (µs)",
        "mcp.http.call_us",
        "baseline.mcp.http.call_us",
        "<= 1.2x",
        lambda r: r <= 1.2,
    ),
    (
        "10 same, client execute() (µs)",
        "mcp.http.execute_us",
        "baseline.mcp.http.call_us",
        "",
        None,
    ),
    (
        "10 MCP calls/s, HTTP loopback",
        "mcp.http.calls_per_s",
        "baseline.mcp.http.calls_per_s",
        "",
        None,
    ),
]
"""Report rows in ``run.py``'s format: label, key, baseline key, target, check(ratio)."""


def _serve(kind: str, port: int) -> None:
    # Both servers behind the HTTP server ``serve_mcp`` uses (hypercorn), on asyncio.
    server = build_mcp_server([echo]) if kind == "ours" else bare_server()
    app = server.streamable_http_app(host="127.0.0.1")
    anyio.run(functools.partial(serve_http, app, host="127.0.0.1", port=port))


def main(argv: Sequence[str] | None = None) -> int:
    """Run a server process (``--serve``) or print one round of row 10 as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=("bare", "ours"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--backend", default="asyncio")
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve, args.port)
        return 0
    figures = anyio.run(measure, args.calls, args.calls, backend=args.backend)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
