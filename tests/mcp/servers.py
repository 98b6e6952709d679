"""MCP servers for the tests, written against the SDK's low-level ``Server`` (not ours), and a
probe that lets a test see what a server tool is doing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

OBJECT: dict[str, Any] = {"type": "object", "properties": {"n": {"type": "integer"}}}


class Probe:
    """What the tests observe of (and release in) a server."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.cancelled = anyio.Event()
        self.release = anyio.Event()
        self.late_sent = anyio.Event()
        self.extra_tools: list[types.Tool] = []
        self.calls = 0


def scripted_server(probe: Probe) -> Server[Any]:
    """A server with one tool per behaviour the client must handle."""
    listed = [
        types.Tool(name="steps", description="Report n steps.", input_schema=OBJECT),
        types.Tool(name="fail", description="Return an error result.", input_schema=OBJECT),
        types.Tool(name="boom", description="Raise a protocol error.", input_schema=OBJECT),
        types.Tool(name="wait", description="Run until cancelled.", input_schema=OBJECT),
        types.Tool(name="late", description="Progress after the result.", input_schema=OBJECT),
        types.Tool(name="silent", description="Never answer.", input_schema=OBJECT),
        types.Tool(name="grow", description="Add a tool.", input_schema=OBJECT),
    ]

    @asynccontextmanager
    async def lifespan(_: Server[Any]) -> AsyncIterator[anyio.abc.TaskGroup]:
        async with anyio.create_task_group() as tg:
            yield tg
            tg.cancel_scope.cancel()

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[*listed, *probe.extra_tools])

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        probe.calls += 1
        n = int((params.arguments or {}).get("n", 0))
        name = params.name
        if name == "steps":
            for i in range(1, n + 1):
                await ctx.session.report_progress(i, n, f"step {i}")
            return _text(f"did {n} steps")
        if name == "fail":
            return types.CallToolResult(content=[_content("bad input")], is_error=True)
        if name == "boom":
            raise MCPError(code=-32000, message="the server exploded")
        if name == "wait":
            await ctx.session.report_progress(1, None, "waiting")
            probe.started.set()
            try:
                await anyio.sleep_forever()
            finally:
                probe.cancelled.set()
        if name == "late":
            token = (ctx.meta or {}).get("progress_token")
            session = ctx.session
            task_group: anyio.abc.TaskGroup = ctx.lifespan_context

            async def send_late() -> None:
                await probe.release.wait()
                await session.send_progress_notification(token or "", 2, message="too late")
                probe.late_sent.set()

            task_group.start_soon(send_late)
            await ctx.session.report_progress(1, None, "in time")
            return _text("late done")
        if name == "silent":
            probe.started.set()
            with anyio.CancelScope(shield=True):
                await probe.release.wait()
            return _text("finally")
        if name == "grow":
            probe.extra_tools.append(
                types.Tool(name=f"extra{len(probe.extra_tools)}", input_schema=OBJECT)
            )
            await ctx.session.send_tool_list_changed()
            return _text("grown")
        return _text(f"unknown {name}")

    return Server("scripted", lifespan=lifespan, on_list_tools=list_tools, on_call_tool=call_tool)


def _content(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


def _text(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[_content(text)])
