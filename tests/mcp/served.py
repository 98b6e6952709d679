"""Tools that the stdio and HTTP tests serve from a subprocess:
``python -m anyio_tools serve-mcp tests.mcp.served:tools``."""

from __future__ import annotations

import os

import anyio

from anyio_tools import RunContext, function_tool


@function_tool
async def steps(ctx: RunContext[None], n: int) -> str:
    """Report n steps, then finish."""
    for i in range(1, n + 1):
        await ctx.update(f"step {i}")
    return f"did {n} steps"


@function_tool
async def whoami() -> int:
    """Return the server's process id."""
    return os.getpid()


@function_tool
async def hang(ctx: RunContext[None]) -> str:
    """Report once, then run until cancelled."""
    await ctx.update("hanging")
    await anyio.sleep_forever()
    return "unreachable"


tools = [steps, whoami, hang]
