"""Task-augmented calls (MCP 2025-11-25 tasks) both ways, over the in-memory transport (issue
#14).

Every test runs on asyncio and trio in virtual time; waits are on events and states (the
client's polls of ``tasks/get`` cost no real time).
"""

from __future__ import annotations

import json

import anyio
import mcp_types as types
import pytest
from mcp import Client

from anyio_tools import CallStatus, FunctionCall, RunContext, ToolExecutor, ToolFlag, function_tool
from anyio_tools.mcp import MCPToolset, build_mcp_server, memory_transport
from anyio_tools.mcp._tasks_client import _Raw
from anyio_tools.mcp._wire import WireTap

gates: dict[str, anyio.Event] = {}
server_log: list[str] = []


@pytest.fixture(autouse=True)
def reset() -> None:
    gates.clear()
    server_log.clear()
    gates["more"] = anyio.Event()
    gates["started"] = anyio.Event()


@function_tool
async def convert(ctx: RunContext[None], pages: int) -> str:
    """Convert pages, reporting progress."""
    await ctx.update("page 1")
    await gates["more"].wait()
    for page in range(2, pages + 1):
        await ctx.update(f"page {page}")
    return f"converted {pages}"


@function_tool(flags=ToolFlag.CANCELLABLE)
async def spin(ctx: RunContext[None]) -> str:
    """Spin until cancelled."""
    await ctx.update("spinning")
    gates["started"].set()
    try:
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        server_log.append("spin cancelled")
        raise
    return "unreachable"


def item(name: str, call_id: str, **arguments: int) -> FunctionCall:
    return FunctionCall(call_id=call_id, name=name, arguments=json.dumps(arguments))


async def test_the_server_runs_a_task_augmented_call_as_a_task() -> None:
    """#14: the first update answers ``tools/call`` with a ``working`` task carrying it as the
    status message; later updates set the message; the end completes the task, whose result
    ``tasks/result`` returns."""
    tap = WireTap(lambda: None)
    route = tap.open_route("t1", task=True)  # lets the SDK client read a CreateTaskResult
    server = build_mcp_server([convert])
    async with Client(tap.wrap(memory_transport(server)), mode="legacy", cache=None) as client:
        assert client.server_capabilities.tasks is not None
        params = {"name": "convert", "arguments": {"pages": 3}, "task": {"ttl": 60000}}
        params["_meta"] = {"progressToken": route.token}
        request = types.CallToolRequest(
            params=types.CallToolRequestParams.model_validate(params, by_alias=True)
        )
        created = types.CreateTaskResult.model_validate(
            (await client.session.send_request(request, _Raw)).model_dump(by_alias=True)
        ).task
        task_id = created.task_id

        async def get() -> types.GetTaskResult:
            return await client.session.send_request(
                types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=task_id)),
                types.GetTaskResult,
            )

        working = await get()
        gates["more"].set()
        payload = await client.session.send_request(
            types.GetTaskPayloadRequest(params=types.GetTaskPayloadRequestParams(task_id=task_id)),
            types.CallToolResult,
        )
        done = await get()
    assert (created.status, created.status_message, created.ttl) == ("working", "page 1", 60000)
    assert working.status == "working"
    assert payload.content[0].text == "converted 3"  # type: ignore[union-attr]
    assert (done.status, done.status_message) == ("completed", "page 3")


@pytest.mark.parametrize("use_tasks", [True, False])
async def test_status_messages_become_updates_in_order(use_tasks: bool) -> None:
    """#14: with tasks, the status messages are the updates, in order, the first one at once;
    without, the same updates come as progress."""
    server = build_mcp_server([convert])
    async with (
        MCPToolset(id="remote", server=server, use_tasks=use_tasks) as remote,
        ToolExecutor() as executor,
    ):
        handle = await executor.start(remote.get_tool("convert"), item("convert", "c1", pages=4))
        first = await handle.answer()
        gates["more"].set()
        updates = [update.message async for update in handle.updates()]
        result = await handle.result()
    assert first.non_blocking
    assert updates == ["page 1", "page 2", "page 3", "page 4"]
    assert result.status is CallStatus.DONE
    assert result.output == "converted 4"


async def test_cancelling_a_task_call_sends_tasks_cancel() -> None:
    """#14: cancelling the call cancels the task; the server tool stops, the call ends
    cancelled."""
    async with (
        MCPToolset(id="remote", server=build_mcp_server([spin])) as remote,
        ToolExecutor() as executor,
    ):
        handle = await executor.start(remote.get_tool("spin"), item("spin", "c1"))
        await handle.answer()
        with anyio.fail_after(60):
            await gates["started"].wait()
            handle.cancel("stop spinning")
            result = await handle.result()
            while not server_log:
                await anyio.wait_all_tasks_blocked()
    assert result.status is CallStatus.CANCELLED
    assert server_log == ["spin cancelled"]


async def test_a_cancel_before_the_task_exists_still_cancels_it() -> None:
    """#14: a call cancelled while its ``tools/call`` waits for the task still cancels the
    task the server creates (the request is not abandoned)."""
    async with (
        MCPToolset(id="remote", server=build_mcp_server([spin])) as remote,
        ToolExecutor() as executor,
    ):
        handle = await executor.start(remote.get_tool("spin"), item("spin", "c1"))
        handle.cancel("changed my mind")
        result = await handle.result()
        with anyio.fail_after(60):
            while gates["started"].is_set() and not server_log:
                await anyio.wait_all_tasks_blocked()
    assert result.status is CallStatus.CANCELLED
    assert server_log == (["spin cancelled"] if gates["started"].is_set() else [])
