"""Our tools served by ``build_mcp_server`` and consumed by ``MCPToolset`` in an
``AgentSession`` over the in-memory transport (SPEC DEC-11, UPD-1..10, CAN-4; issue #14).

Every test runs on asyncio and trio in virtual time; waits are on events and states.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from anyio_tools import FunctionCallOutput, ReplyUpdated, RunContext, ToolFlag, function_tool
from anyio_tools.mcp import MCPToolset, build_mcp_server
from anyio_tools.runtime import Agent, AgentSession
from anyio_tools.testing import tool_task_names
from tests.runtime.helpers import Recorder, call, llm

server_log: list[str] = []
gates: dict[str, anyio.Event] = {}


@pytest.fixture(autouse=True)
def reset() -> None:
    server_log.clear()
    gates.clear()
    gates["more"] = anyio.Event()
    gates["started"] = anyio.Event()


@function_tool
async def index(ctx: RunContext[None], count: int) -> str:
    """Index documents, reporting progress."""
    await ctx.update(f"1/{count} indexed")
    await gates["more"].wait()
    for done in range(2, count + 1):
        await ctx.update(f"{done}/{count} indexed")
    return f"indexed {count}"


@function_tool(flags=ToolFlag.CANCELLABLE)
async def watch(ctx: RunContext[None]) -> str:
    """Watch until cancelled."""
    await ctx.update("watching")
    gates["started"].set()
    try:
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        server_log.append("watch cancelled")
        raise
    return "unreachable"


def mcp_session(script: dict[str, Any], **toolset_options: Any) -> AgentSession[None]:
    toolset = MCPToolset(id="remote", server=build_mcp_server([index, watch]), **toolset_options)
    return AgentSession(llm=llm(script, reply="REPLY"), tools=[toolset])  # type: ignore[list-item]


def outputs(session: AgentSession[None]) -> dict[str, str]:
    return {i.call_id: i.output for i in session.history.items if isinstance(i, FunctionCallOutput)}


async def test_updates_become_progress_become_updates_and_the_reply_comes_once() -> None:
    """#14 round trip: server updates reach the session in order, the first one answers the
    LLM at once, and every later entry is voiced in exactly one deferred reply."""
    session = mcp_session({"go": [call("index", count=4)]})
    events = Recorder(session)
    async with session:
        await session.start(Agent(instructions="x"))
        await session.run(user_input="go")
        first = outputs(session)["call_1"]
        gates["more"].set()
        with anyio.fail_after(60):
            while not any("call_1_final" in e.update_ids for e in events.of(ReplyUpdated)):
                await session.wait_for_idle()
                await anyio.sleep(1)
    assert first.startswith("Progress from tool `index`: 1/4 indexed")
    got = outputs(session)
    updates = [got[f"call_1_update_{k}"] for k in (1, 2, 3)]
    assert [u.split(": ", 1)[1].splitlines()[0] for u in updates] == [
        "2/4 indexed",
        "3/4 indexed",
        "4/4 indexed",
    ]
    assert got["call_1_final"] == "indexed 4"
    voiced = [i for e in events.of(ReplyUpdated) if e.status == "scheduled" for i in e.update_ids]
    assert sorted(voiced) == sorted(
        ["call_1_update_1", "call_1_update_2", "call_1_update_3", "call_1_final"]
    )
    assert events.ended() == {"call_1": ["done"]}
    assert tool_task_names() == []


async def test_llm_cancel_reaches_the_server_tool() -> None:
    """#14 round trip, CAN-4: the LLM's cancel tool cancels the MCP call; the server tool is
    cancelled and the call ends ``cancelled`` on both sides."""
    script = {
        "watch": [call("watch")],
        "stop": [call("anyio_tools_cancel_task", call_id="call_1")],
    }
    session = mcp_session(script, tool_options={"watch": {"flags": ToolFlag.CANCELLABLE}})
    events = Recorder(session)
    async with session:
        await session.start(Agent(instructions="x"))
        await session.run(user_input="watch")
        with anyio.fail_after(60):
            await gates["started"].wait()
        await session.run(user_input="stop")
        assert outputs(session)["call_2"] == "call `call_1` was cancelled"
        with anyio.fail_after(60):
            while not server_log:
                await anyio.wait_all_tasks_blocked()
    assert server_log == ["watch cancelled"]
    assert events.ended()["call_1"] == ["cancelled"]


class Support(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="support", name="support")


async def test_a_session_mcp_toolset_survives_a_handoff() -> None:
    """SCO-3, HND-1 (6), #14: an MCP call made on the session keeps running across a handoff
    and its final result reaches the new agent."""
    support = Support()

    @function_tool
    async def transfer() -> Agent:
        """Hand off to support."""
        return support

    script = {"go": [call("index", count=2)], "transfer": [call("transfer")]}
    session = mcp_session(script)
    events = Recorder(session)
    async with session:
        await session.start(Agent(instructions="main", tools=[transfer], name="main"))  # type: ignore[list-item]
        await session.run(user_input="go")
        await session.run(user_input="transfer")
        assert session.current_agent is support
        gates["more"].set()
        with anyio.fail_after(60):
            while not any("call_1_final" in e.update_ids for e in events.of(ReplyUpdated)):
                await session.wait_for_idle()
                await anyio.sleep(1)
    ids = [getattr(i, "call_id", None) for i in support.chat_ctx.items]
    assert "call_1_final" in ids
    assert events.ended()["call_1"] == ["done"]


async def test_an_agent_mcp_toolset_connects_per_activation() -> None:
    """SCO-1, #14: on an agent, the toolset is set up with the agent's activity and its
    calls run there."""
    toolset = MCPToolset(id="remote", server=build_mcp_server([index, watch]))
    session: AgentSession[None] = AgentSession(llm=llm({"go": [call("index", count=1)]}))
    async with session:
        await session.start(Agent(instructions="x", tools=[toolset]))
        gates["more"].set()
        await session.run(user_input="go")
    assert outputs(session)["call_1"].startswith("Progress from tool `index`: 1/1 indexed")
