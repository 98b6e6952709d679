"""``build_mcp_server``: our tools behind the SDK's server, over the in-memory transport (SPEC
DEC-11, DUP-1..7, EXE-13; issue #14).

Every test runs on asyncio and trio in virtual time; waits are on events and states.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import pytest
from mcp import Client

from anyio_tools import CallStatus, FunctionCall, RunContext, ToolExecutor, function_tool
from anyio_tools.mcp import MCPToolset, build_mcp_server, mcp_tool, memory_transport
from anyio_tools.mcp._server import _call

gates: dict[str, anyio.Event] = {}
server_log: list[str] = []


@pytest.fixture(autouse=True)
def reset() -> None:
    gates.clear()
    server_log.clear()
    gates["release"] = anyio.Event()
    gates["started"] = anyio.Event()


@function_tool
async def add(a: int, b: int = 1) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


@function_tool(on_duplicate="reject")
async def solo(ctx: RunContext[None]) -> str:
    """Run alone, until released."""
    await ctx.update("running")
    await gates["release"].wait()
    return "solo done"


@function_tool
async def pinned(ctx: RunContext[None]) -> str:
    """A tool that is not flagged cancellable."""
    await ctx.update("pinned")
    gates["started"].set()
    try:
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        server_log.append("pinned cancelled")
        raise
    return "unreachable"


@function_tool
async def burst(ctx: RunContext[None]) -> str:
    """Report three steps and end at once."""
    for step in ("one", "two", "three"):
        await ctx.update(step)
    return "burst done"


def item(name: str, call_id: str, arguments: dict[str, Any] | None = None) -> FunctionCall:
    return FunctionCall(call_id=call_id, name=name, arguments=json.dumps(arguments or {}))


async def test_the_tool_list_carries_our_schemas() -> None:
    """DEC-6: the MCP listing is each tool's non-strict schema, read by the bare SDK client."""
    server = build_mcp_server([add, solo])
    async with Client(memory_transport(server), mode="legacy", cache=None) as client:
        listed = (await client.list_tools()).tools
        result = await client.call_tool("add", {"a": 2})
        unknown = await client.call_tool("nope", {})
    assert [tool.name for tool in listed] == ["add", "solo"]
    assert listed[0].input_schema == add.schema()["parameters"]
    assert listed[0] == mcp_tool(add, tasks=True)
    assert listed[0].execution is not None
    assert listed[0].execution.task_support == "optional"
    assert result.content[0].text == "3"  # type: ignore[union-attr]
    assert not result.is_error
    assert unknown.is_error
    assert "unknown tool `nope`" in unknown.content[0].text  # type: ignore[union-attr]


@function_tool
async def recorded(ctx: RunContext[None], text: str, n: int = 0) -> str:
    """Return the arguments text the call item records."""
    return f"{ctx.function_call.arguments} n={n}"


async def test_served_arguments_are_validated_as_received_and_recorded_as_json() -> None:
    """EXE-5 (a), DEC-8, #14: the request's argument object is validated as it is (no text to
    parse); the call item records it as JSON; a wrong type is answered as the validation error;
    absent arguments are no arguments."""
    server = build_mcp_server([recorded])
    async with Client(memory_transport(server), mode="legacy", cache=None) as client:
        done = await client.call_tool("recorded", {"text": 'é "q"', "n": 2})
        wrong = await client.call_tool("recorded", {"text": "t", "n": "many"})
        missing = await client.call_tool("recorded", None)
    assert not done.is_error
    text = done.content[0].text  # type: ignore[union-attr]
    recorded_text, _, rest = text.rpartition(" ")
    assert json.loads(recorded_text) == {"text": 'é "q"', "n": 2}
    assert rest == "n=2"
    assert wrong.is_error
    assert "Invalid arguments for `recorded`: argument 'n'" in wrong.content[0].text  # type: ignore[union-attr]
    assert missing.is_error
    assert "missing required argument 'text'" in missing.content[0].text  # type: ignore[union-attr]


async def test_duplicate_policies_apply_per_client_session() -> None:
    """DUP-4, #14: a second ``solo`` on one connection is refused; another connection's runs."""
    server = build_mcp_server([solo])
    first = MCPToolset(id="first", server=server)
    second = MCPToolset(id="second", server=server)
    await first.setup()
    await second.setup()
    try:
        async with ToolExecutor() as executor:
            one = await executor.start(first.get_tool("solo"), item("solo", "a1"))
            await one.answer()
            again = await executor.start(first.get_tool("solo"), item("solo", "a2"))
            other = await executor.start(second.get_tool("solo"), item("solo", "b1"))
            refused = await again.result()
            assert (await other.answer()).non_blocking
            gates["release"].set()
            results = [await one.result(), await other.result()]
    finally:
        await second.aclose()  # like nested `async with` blocks: the last set up closes first
        await first.aclose()
    assert refused.status is CallStatus.DONE
    assert refused.output is not None
    assert "`solo` is already running" in refused.output
    assert [r.output for r in results] == ["solo done", "solo done"]


async def test_a_client_cancel_stops_an_uncancellable_tool_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """#14: a client's cancel cancels the call even when the tool is not flagged cancellable;
    the reason is logged (nobody would receive the result)."""
    toolset = MCPToolset(id="remote", server=build_mcp_server([pinned]))
    await toolset.setup()
    try:
        async with ToolExecutor() as executor:
            handle = await executor.start(toolset.get_tool("pinned"), item("pinned", "p1"))
            with anyio.fail_after(60):
                await gates["started"].wait()
                handle.cancel("stop")
                result = await handle.result()
                while not server_log:
                    await anyio.wait_all_tasks_blocked()
    finally:
        await toolset.aclose()
    assert result.status is CallStatus.CANCELLED
    assert server_log == ["pinned cancelled"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("not flagged cancellable" in text for text in warnings)


class _RecordingSession:
    def __init__(self) -> None:
        self.sent: list[tuple[float, str | None]] = []

    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        await anyio.lowlevel.checkpoint()
        self.sent.append((progress, message))


class _RequestContext:
    def __init__(self) -> None:
        self.session = _RecordingSession()


async def test_a_served_call_sends_its_updates_as_progress_before_its_result() -> None:
    """#14 row 10: a served call runs in the request's task (``ToolExecutor.call``); its
    updates go out as progress 1, 2, 3 in order, all sent before the request answers, by one
    task started with the first update; a call without updates starts none."""
    context = _RequestContext()
    async with ToolExecutor() as executor, anyio.create_task_group() as task_group:
        answer = await _call(context, task_group, executor, burst, item("burst", "b1"))  # type: ignore[arg-type]
        sent_before_answer = list(context.session.sent)
        quick_answer = await _call(context, task_group, executor, add, item("add", "a1", {"a": 4}))  # type: ignore[arg-type]
        senders = [t.name for t in anyio.get_running_tasks() if t.name.startswith("mcp-progress")]
    assert sent_before_answer == [(1, "one"), (2, "two"), (3, "three")]
    assert context.session.sent == sent_before_answer
    assert answer.content[0].text == "burst done"  # type: ignore[union-attr]
    assert quick_answer.content[0].text == "5"  # type: ignore[union-attr]
    assert not quick_answer.is_error
    assert senders == []


async def test_updates_just_before_a_quick_end_go_out_as_progress_before_the_result() -> None:
    """#14 row 10: through the toolset, a call that updates and ends at once still sends
    its progress, in order, before the result; a quick call without updates answers."""
    toolset = MCPToolset(id="remote", server=build_mcp_server([burst, add]))
    await toolset.setup()
    try:
        async with ToolExecutor() as executor:
            handle = await executor.start(toolset.get_tool("burst"), item("burst", "b1"))
            result = await handle.result()
            updates = [update.message async for update in handle.updates()]
            quick = await executor.start(toolset.get_tool("add"), item("add", "a1", {"a": 4}))
            quick_result = await quick.result()
    finally:
        await toolset.aclose()
    assert updates == ["one", "two", "three"]
    assert result.output == "burst done"
    assert quick_result.status is CallStatus.DONE
    assert quick_result.output == "5"
