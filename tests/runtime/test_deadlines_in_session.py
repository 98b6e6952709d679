"""Deadlines in a live session: while waiting in ``foreground()``, inside ``with_filler()``,
and from the session's options (issue #16: DLN-3, DLN-4, DLN-6; SPEC CTX-7, CTX-8, CAN-9)."""

from __future__ import annotations

import anyio

from anyio_tools import CallEnded, CallStatus, FunctionCallOutput, RunContext, function_tool
from anyio_tools.runtime import Agent, AgentSession, AsyncToolset
from anyio_tools.testing import running_task_names

from .helpers import Recorder, call, llm, said


def outputs(chat: object) -> dict[str, str]:
    return {
        i.call_id: i.output
        for i in chat.items  # type: ignore[attr-defined]
        if isinstance(i, FunctionCallOutput)
    }


async def test_deadline_fires_while_waiting_in_foreground() -> None:
    """DLN-6, CTX-7 (e): a call stuck waiting for the floor ends at its deadline with the
    timeout text as its `_final` entry; nothing stays held; its task is gone. The deadline
    comes from the session's options (DLN-3)."""
    entered: list[str] = []
    go = anyio.Event()

    @function_tool
    async def ask(ctx: RunContext[None]) -> None:
        """Wait for the floor while the user keeps talking."""
        await ctx.update("waiting")
        await go.wait()
        async with ctx.foreground():
            entered.append("held")

    session: AgentSession[None] = AgentSession(
        llm=llm({"go": [call("ask")]}), tool_handling={"async_options": {"timeout": 30}}
    )
    events = Recorder(session)
    ended_event = anyio.Event()
    session.on(None, lambda e: ended_event.set() if isinstance(e, CallEnded) else None)
    async with session:
        await session.start(Agent(instructions="x", tools=[ask]))
        t0 = anyio.current_time()
        await session.run(user_input="go")
        session.user_started_speaking()  # never idle while the call waits
        go.set()
        with anyio.fail_after(600):
            await ended_event.wait()
        elapsed = anyio.current_time() - t0
        assert not [n for n in running_task_names() if n.startswith(("tool-call", "filler"))]
        session.user_stopped_speaking()
    assert entered == []
    assert 30 <= elapsed <= 31
    (ended,) = events.of(CallEnded)
    assert ended.status is CallStatus.CANCELLED
    assert "time limit of 30 seconds" in outputs(session.history)[f"{ended.call_id}_final"]


async def test_deadline_fires_inside_with_filler_and_stops_the_filler() -> None:
    """DLN-6, CTX-8, FIL-7: the deadline cancels the body and the filler with it; the LLM's
    answer is the timeout text; filler speech stops."""

    @function_tool(timeout=10)
    async def book(ctx: RunContext[None]) -> str:
        """Book under a repeating filler, forever."""
        async with ctx.with_filler("still booking", delay=1, interval=3):
            await anyio.sleep_forever()
        return "never"

    session: AgentSession[None] = AgentSession(llm=llm({"go": [call("book")]}))
    events = Recorder(session)
    async with session:
        await session.start(Agent(instructions="x", tools=[book]))
        with anyio.fail_after(600):
            await session.run(user_input="go")
            await session.wait_for_idle()
        fillers = said(session.history).count("still booking")
        await anyio.sleep(30)  # nothing fires once the call ended
        assert said(session.history).count("still booking") == fillers
        assert not [n for n in running_task_names() if n.startswith(("tool-call", "filler"))]
    assert fillers >= 2
    (ended,) = events.of(CallEnded)
    assert ended.status is CallStatus.CANCELLED
    assert "time limit of 10 seconds" in outputs(session.history)[ended.call_id]


async def test_a_toolset_timeout_beats_the_session_one() -> None:
    """DLN-3, OPT-2: a tool in an `AsyncToolset` with its own ``timeout`` option ends at
    that deadline, not at the session's."""

    @function_tool
    async def slow(ctx: RunContext[None]) -> str:
        """Take a minute."""
        await anyio.sleep(60)
        return "done"

    toolset = AsyncToolset(id="slow", tools=[slow], tool_handling={"async_options": {"timeout": 3}})
    session: AgentSession[None] = AgentSession(
        llm=llm({"go": [call("slow")]}), tool_handling={"async_options": {"timeout": 30}}
    )
    events = Recorder(session)
    async with session:
        await session.start(Agent(instructions="x", tools=[toolset]))
        t0 = anyio.current_time()
        with anyio.fail_after(600):
            await session.run(user_input="go")
        elapsed = anyio.current_time() - t0
    (ended,) = events.of(CallEnded)
    assert ended.status is CallStatus.CANCELLED
    assert 3 <= elapsed < 30
    assert "time limit of 3 seconds" in outputs(session.history)[ended.call_id]
