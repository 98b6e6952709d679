"""``MCPToolset`` against the SDK's own low-level server over the in-memory transport (SPEC
DEC-11; issue #14).

Every test runs on asyncio and trio in virtual time (tests/conftest.py); waits are on events
and states, never on sleeps.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from anyio_tools import CallStatus, FunctionCall, ToolExecutor, ToolFlag
from anyio_tools.mcp import MCPToolset
from anyio_tools.testing import no_task_leaks

from .servers import OBJECT, Probe, scripted_server


@asynccontextmanager
async def connected(probe: Probe, **options: object) -> AsyncIterator[MCPToolset]:
    toolset = MCPToolset(id="scripted", server=scripted_server(probe), **options)  # type: ignore[arg-type]
    await toolset.setup()
    try:
        yield toolset
    finally:
        await toolset.aclose()


def item(name: str, call_id: str = "c1", **arguments: int) -> FunctionCall:
    import json

    return FunctionCall(call_id=call_id, name=name, arguments=json.dumps(arguments))


async def test_setup_lists_the_servers_tools_with_their_schemas() -> None:
    """DEC-11: each listed tool becomes a raw tool with the server's name, text and schema."""
    async with connected(Probe()) as toolset:
        names = [tool.name for tool in toolset.tools]  # type: ignore[union-attr]
        schema = toolset.get_tool("steps").schema()
    assert names == ["steps", "fail", "boom", "wait", "late", "silent", "grow"]
    assert schema == {"name": "steps", "description": "Report n steps.", "parameters": OBJECT}


async def test_progress_becomes_updates_in_wire_order_before_the_result() -> None:
    """#14: every progress notification is one update (message and progress/total), in
    order, all before the result."""
    async with connected(Probe()) as toolset, ToolExecutor() as executor:
        handle = await executor.start(toolset.get_tool("steps"), item("steps", n=30))
        updates = [update.message async for update in handle.updates()]
        result = await handle.result()
    assert updates == [f"step {i} ({i}/30)" for i in range(1, 31)]
    assert result.status is CallStatus.DONE
    assert result.output == "did 30 steps"


async def test_error_results_and_server_errors_become_tool_errors() -> None:
    """DEC-11: ``isError`` results and protocol errors reach the LLM as ToolError text."""
    async with connected(Probe()) as toolset, ToolExecutor() as executor:
        failed = await (await executor.start(toolset.get_tool("fail"), item("fail"))).result()
        boom = await (
            await executor.start(toolset.get_tool("boom"), item("boom", call_id="c2"))
        ).result()
    assert failed.status is CallStatus.ERROR
    assert failed.output == "bad input"
    assert boom.status is CallStatus.ERROR
    assert boom.output is not None
    assert "the server exploded" in boom.output


async def test_cancelling_the_call_cancels_the_server_tool() -> None:
    """#14: cancelling the call sends ``notifications/cancelled``; the server tool stops."""
    probe = Probe()
    with anyio.fail_after(60):
        async with connected(probe) as toolset, ToolExecutor() as executor:
            handle = await executor.start(toolset.get_tool("wait"), item("wait"))
            first = await handle.answer()
            await probe.started.wait()
            handle.cancel("the user changed their mind")
            result = await handle.result()
            await probe.cancelled.wait()
    assert first.non_blocking
    assert first.output.output.startswith("Progress from tool `wait`: waiting")
    assert result.status is CallStatus.CANCELLED
    assert result.reason == "the user changed their mind"


async def test_a_server_that_never_answers_still_ends_on_cancel() -> None:
    """#14 faults: a server that ignores the cancel does not keep the call alive."""
    probe = Probe()
    with anyio.fail_after(60):
        async with connected(probe) as toolset, ToolExecutor() as executor:
            handle = await executor.start(toolset.get_tool("silent"), item("silent"))
            await probe.started.wait()
            handle.cancel("no answer")
            result = await handle.result()
            probe.release.set()  # let the in-process server close
    assert result.status is CallStatus.CANCELLED


def _mcp_call_tasks() -> list[str]:
    names = [task.name for task in anyio.get_running_tasks()]
    return sorted(name for name in names if name.startswith(("mcp-request", "mcp-progress")))


async def test_a_call_runs_in_the_tools_task_and_forwards_progress_without_a_task() -> None:
    """#14 row 10: the request runs in the tool's own task, and progress becomes updates in
    the connection's read loop (``ctx.update_nowait``): no call starts a task of its own,
    with or without progress."""
    probe = Probe()
    with anyio.fail_after(60):
        async with connected(probe) as toolset, ToolExecutor() as executor:
            quiet = await executor.start(toolset.get_tool("silent"), item("silent"))
            await probe.started.wait()
            while_quiet = _mcp_call_tasks()
            probe.release.set()
            quiet_result = await quiet.result()
            probe.started = anyio.Event()
            chatty = await executor.start(toolset.get_tool("wait"), item("wait", "c2"))
            await probe.started.wait()
            assert (await chatty.answer()).non_blocking
            while_chatty = _mcp_call_tasks()
            chatty.cancel("done looking")
            chatty_result = await chatty.result()
            after = _mcp_call_tasks()
    assert while_quiet == []
    assert quiet_result.output == "finally"
    assert while_chatty == []
    assert chatty_result.status is CallStatus.CANCELLED
    assert after == []


async def test_progress_after_the_result_is_ignored_with_a_debug_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """#14 faults: progress arriving after the result is dropped (and logged at DEBUG)."""
    probe = Probe()
    caplog.set_level(logging.DEBUG, logger="anyio_tools.mcp")
    with anyio.fail_after(60):
        async with connected(probe) as toolset, ToolExecutor() as executor:
            handle = await executor.start(toolset.get_tool("late"), item("late"))
            updates = [update.message async for update in handle.updates()]
            result = await handle.result()
            probe.release.set()
            await probe.late_sent.wait()
            await anyio.wait_all_tasks_blocked()
    assert updates == ["in time"]
    assert result.output == "late done"
    assert any("ignored" in record.getMessage() for record in caplog.records)


async def test_tool_list_changes_are_followed() -> None:
    """#14: a ``tools/list_changed`` notification makes the toolset list the tools again."""
    probe = Probe()
    async with connected(probe) as toolset, ToolExecutor() as executor:
        await (await executor.start(toolset.get_tool("grow"), item("grow"))).result()
        with anyio.fail_after(60):
            while "extra0" not in [t.name for t in toolset.tools]:  # type: ignore[union-attr]
                await anyio.wait_all_tasks_blocked()
        assert toolset.get_tool("extra0").name == "extra0"


async def test_per_tool_options_set_flags_and_duplicate_policy() -> None:
    """DEC-11: options by tool name; unlisted tools stay plain blocking tools."""
    options = {"wait": {"flags": ToolFlag.CANCELLABLE, "on_duplicate": "reject"}}
    async with connected(Probe(), tool_options=options) as toolset:
        wait, steps = toolset.get_tool("wait"), toolset.get_tool("steps")
    assert wait.info.cancellable
    assert str(wait.info.on_duplicate) == "reject"
    assert not steps.info.cancellable


def test_unknown_tool_option_keys_are_refused() -> None:
    """STYLE 2.4: unknown keys are reported when the options are given."""
    with pytest.raises(ValueError, match=r"unknown options for MCP tool 'wait': colour"):
        MCPToolset(id="x", server=scripted_server(Probe()), tool_options={"wait": {"colour": 1}})  # type: ignore[typeddict-unknown-key]


def test_bad_tool_option_values_are_refused_at_once() -> None:
    """STYLE 2.8: a bad duplicate policy is a ValueError when the toolset is built."""
    with pytest.raises(ValueError, match=r"on_duplicate"):
        MCPToolset(
            id="x", server=scripted_server(Probe()), tool_options={"wait": {"on_duplicate": "no"}}
        )


async def test_a_closed_toolset_answers_with_a_clear_error_and_leaks_no_task() -> None:
    """DEC-11: a call after the toolset closed is a ToolError saying the server is unavailable."""
    with no_task_leaks():
        toolset = MCPToolset(id="scripted", server=scripted_server(Probe()))
        await toolset.setup()
        tool = toolset.get_tool("steps")
        await toolset.aclose()
        async with ToolExecutor() as executor:
            result = await (await executor.start(tool, item("steps", n=1))).result()
    assert result.status is CallStatus.ERROR
    assert result.output is not None
    assert "unavailable" in result.output


async def test_an_update_that_fails_ends_the_call_with_its_error_and_cancels_the_request() -> None:
    """#14, UPD-2: progress becomes updates in the read loop (``ctx.update_nowait``); an update
    whose template fails cancels the request (the server tool stops) and the call ends with
    that error, as a failing ``ctx.update()`` in the tool would."""
    probe = Probe()

    def broken(args: object) -> str:
        raise LookupError("the template broke")

    options = {"wait": {"update_template": broken}}
    with anyio.fail_after(60):
        async with connected(probe, tool_options=options) as toolset, ToolExecutor() as ex:
            handle = await ex.start(toolset.get_tool("wait"), item("wait"))
            result = await handle.result()
            await probe.cancelled.wait()
    assert result.status is CallStatus.ERROR
    assert isinstance(result.error, LookupError)
    assert str(result.error) == "the template broke"
