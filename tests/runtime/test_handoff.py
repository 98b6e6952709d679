"""Agents as scopes: handoff drains activity work, session work survives (SPEC HND-1, HND-3,
SCO-1..3, DEL-3, DEL-5; issue #4 acceptance)."""

from __future__ import annotations

import anyio
import pytest

from anyio_tools import (
    CallEnded,
    ReplyDropped,
    ReplyUpdated,
    RunContext,
    ToolFlag,
    function_tool,
)
from anyio_tools.runtime import Agent, AgentSession, AsyncToolset, LLMError, SessionError
from anyio_tools.testing import no_task_leaks, tool_task_names

from .helpers import Recorder, call, llm, said

gates: dict[str, anyio.Event] = {}


def make_booking(*, cancellable: bool) -> object:
    flags = ToolFlag.CANCELLABLE if cancellable else ToolFlag.NONE

    @function_tool(on_duplicate="confirm", flags=flags)
    async def book_flight(ctx: RunContext[None], origin: str, destination: str) -> str:
        """Book a flight."""
        await ctx.update(f"looking up {origin} to {destination}")
        await gates["book"].wait()
        await ctx.update("found one")
        return "booked AF006"

    return book_flight


class Support(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="support", name="support")


SUPPORT = Support()


@function_tool
async def transfer() -> Agent:
    """Hand off to support."""
    return SUPPORT


SCRIPT = {
    "book": [call("book_flight", origin="CDG", destination="JFK")],
    "transfer": [call("transfer")],
}


@pytest.mark.virtual_time
async def test_session_toolset_survives_handoff_and_reply_reaches_new_agent() -> None:
    """The seed example: HND-1 (6), DEL-5, SCO-3, scenario 33/34."""
    gates["book"] = anyio.Event()
    booking = make_booking(cancellable=True)
    session: AgentSession[None] = AgentSession(
        llm=llm(SCRIPT, reply="booked!"),
        tools=[AsyncToolset(id="booking", tools=[booking])],  # type: ignore[list-item]
    )
    events = Recorder(session)
    main = Agent(instructions="main", tools=[transfer], name="main")
    async with session:
        await session.start(main)
        await session.run(user_input="book")
        await session.run(user_input="transfer")
        assert session.current_agent is SUPPORT
        gates["book"].set()
        with anyio.fail_after(60):
            while not [e for e in events.of(ReplyUpdated) if e.status == "completed"]:
                await session.wait_for_idle()
                await anyio.sleep(1)
    assert events.ended() == {"call_1": ["done"], "call_2": ["done"]}
    ids = [getattr(i, "call_id", None) for i in SUPPORT.chat_ctx.items]
    assert "call_1_update_1" in ids
    assert "call_1_final" in ids
    assert said(SUPPORT.chat_ctx)[-1] == "booked!"
    assert events.of(ReplyDropped) == []
    assert tool_task_names() == []


async def test_agent_tools_are_cancelled_or_awaited_at_handoff() -> None:
    """HND-1 (3), HND-4, INV-18: cancellable cancelled; non-cancellable awaited, replies dropped."""
    gates["book"] = anyio.Event()

    @function_tool(flags=ToolFlag.CANCELLABLE)
    async def spin(ctx: RunContext[None]) -> None:
        """Spin until cancelled."""
        await ctx.update("spinning")
        await anyio.sleep_forever()

    pinned = make_booking(cancellable=False)
    script = {**SCRIPT, "spin": [call("spin")]}
    session: AgentSession[None] = AgentSession(llm=llm(script))
    events = Recorder(session)
    main = Agent(instructions="main", tools=[transfer, spin, pinned], name="main")  # type: ignore[list-item]
    async with session:
        await session.start(main)
        await session.run(user_input="spin")
        await session.run(user_input="book")
        session.update_agent(SUPPORT)
        await anyio.wait_all_tasks_blocked()
        assert events.ended() == {"call_1": ["cancelled"]}
        gates["book"].set()  # the pinned call finishes during the drain
        await session.wait_for_agent(SUPPORT)
    assert events.ended() == {"call_1": ["cancelled"], "call_2": ["done"]}
    drops = events.of(ReplyDropped)
    assert [i for d in drops for i in d.update_ids] == ["call_2_update_1", "call_2_final"]
    assert {d.reason for d in drops} == {"activity_closed"}
    ids = [getattr(i, "call_id", None) for i in main.chat_ctx.items]
    assert "call_2_final" in ids  # the items stay in the old agent's chat (DEL-3)
    assert "call_2_final" in [getattr(i, "call_id", None) for i in session.history.items]
    assert tool_task_names() == []


async def test_session_close_with_calls_in_flight_leaves_nothing() -> None:
    """HND-3, INV-1, INV-22: every call ends once; no task is left running."""
    gates["book"] = anyio.Event()
    gates["pin"] = anyio.Event()
    booking = make_booking(cancellable=True)

    @function_tool
    async def pinned(ctx: RunContext[None]) -> str:
        """Not cancellable; finishes when released."""
        await ctx.update("working")
        await gates["pin"].wait()
        return "finished"

    script = {**SCRIPT, "pin": [call("pinned")]}
    session: AgentSession[None] = AgentSession(
        llm=llm(script),
        tools=[AsyncToolset(id="s", tools=[booking, pinned])],  # type: ignore[list-item]
    )
    events = Recorder(session)
    with no_task_leaks():  # INV-22: nothing started in the block outlives it
        async with anyio.create_task_group() as tg, session:
            await session.start(Agent(instructions="x"))
            await session.run(user_input="book")
            await session.run(user_input="pin")

            async def release() -> None:
                gates["pin"].set()  # released while the session drains

            tg.start_soon(release)
    assert events.ended() == {"call_1": ["cancelled"], "call_2": ["done"]}
    assert tool_task_names() == []


async def test_llm_failure_is_an_event_and_run_raises_llm_error() -> None:
    """Issue #4 item 4, issue #11 item 11: an LLM that raises gives a SessionError, run()
    raises LLMError (cause chained, the run's result attached); the session goes on."""

    class Boom(Exception):
        pass

    def script(request: object) -> str:
        raise Boom("model down")

    from anyio_tools.runtime import ScriptedLLM

    session: AgentSession[None] = AgentSession(llm=ScriptedLLM(script))
    events = Recorder(session)
    async with session:
        await session.start(Agent(instructions="x"))
        with pytest.raises(LLMError, match="the LLM failed during this run") as caught:
            await session.run(user_input="hello")
        assert isinstance(caught.value.__cause__, Boom)
        result = caught.value.result
        assert [type(e.error) for e in events.of(SessionError)] == [Boom]
        assert [type(e) for e in result.events if isinstance(e, SessionError)] == [SessionError]
        assert said(session.history) == ["hello"]
        assert result.items[-1].content == "hello"  # type: ignore[union-attr]
        session.say("still here")
        await session.wait_for_idle()
    assert said(session.history)[-1] == "still here"


async def test_unknown_tool_is_answered_with_an_error() -> None:
    """EXE-2: an unknown tool name gets an error answer listing the tools; no events."""
    session: AgentSession[None] = AgentSession(llm=llm({"go": [call("nope")]}))
    events = Recorder(session)
    async with session:
        await session.start(Agent(instructions="x", tools=[transfer]))
        result = await session.run(user_input="go")
    outputs = [i for i in result.items if getattr(i, "output", None)]
    assert "unknown tool `nope`" in outputs[0].output  # type: ignore[union-attr]
    assert "`transfer`" in outputs[0].output  # type: ignore[union-attr]
    assert events.of(CallEnded) == []
