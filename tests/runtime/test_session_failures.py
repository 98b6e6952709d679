"""What a session does when a part of it fails or misbehaves: toolsets that cannot start, LLMs
that raise, hang or raise a stray cancellation, hostile listeners, tools named like built-ins
(issues #11 and #12; SPEC HND-1, HND-3, HOST-*, RUN-1..3, DEC-10, INV-22, INV-23, INV-27).

Determinism: every test runs on asyncio and trio in virtual time; it waits on states and
events, and wraps what could hang in ``anyio.fail_after`` (a deadlock then fails at once).
"""

from __future__ import annotations

import logging

import anyio
import pytest

from anyio_tools import RunContext, ToolFlag, function_tool
from anyio_tools.runtime import Agent, AgentSession, AsyncToolset

from .helpers import call, llm


async def test_handoff_drains_the_agent_toolsets_together() -> None:
    """HND-1 (3), CAN-7, issue #11 item 11: the executors of an activity drain concurrently:
    a cancellable call in a second toolset is cancelled at once, not after the first
    toolset's non-cancellable 10 s call ended."""
    cancelled_at: list[float] = []

    @function_tool
    async def slow(ctx: RunContext[None]) -> str:
        """Work for ten seconds (not cancellable)."""
        await ctx.update("working")
        await anyio.sleep(10)
        return "done"

    @function_tool(flags=ToolFlag.CANCELLABLE)
    async def spin(ctx: RunContext[None]) -> str:
        """Spin until cancelled."""
        await ctx.update("spinning")
        try:
            await anyio.sleep_forever()
        finally:
            cancelled_at.append(anyio.current_time())
        return "never"

    main = Agent(
        instructions="main",
        name="main",
        tools=[AsyncToolset(id="a", tools=[slow]), AsyncToolset(id="b", tools=[spin])],  # type: ignore[list-item]
    )
    other = Agent(instructions="other", name="other")
    session: AgentSession[None] = AgentSession(llm=llm({"go": [call("slow"), call("spin")]}))
    with anyio.fail_after(60):
        async with session:
            await session.start(main)
            await session.run(user_input="go")
            start = anyio.current_time()
            session.update_agent(other)
            await session.wait_for_agent(other)
            elapsed = anyio.current_time() - start
    assert [at - start for at in cancelled_at] == [0]
    assert 9 < elapsed < 11


async def test_close_timeout_warning_names_the_timeout_in_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """HND-3, issue #11 item 11: the warning says how long closing may take (close_timeout),
    not an absolute clock value."""

    @function_tool
    async def forever(ctx: RunContext[None]) -> str:
        """Never finish (not cancellable)."""
        await ctx.update("working")
        await anyio.sleep_forever()
        return "never"

    session: AgentSession[None] = AgentSession(
        llm=llm({"go": [call("forever")]}),
        tools=[AsyncToolset(id="s", tools=[forever])],  # type: ignore[list-item]
        close_timeout=3,
    )
    with anyio.fail_after(600), caplog.at_level(logging.WARNING, "anyio_tools.runtime"):
        async with session:
            await session.start(Agent(instructions="x"))
            await session.run(user_input="go")
            await anyio.sleep(100)  # moves the clock far from 0: an absolute value shows
    warnings = [r.getMessage() for r in caplog.records if "closing took longer" in r.getMessage()]
    assert warnings == ["closing took longer than close_timeout=3s; cancelling what is left"]


async def test_session_keeps_the_context_of_the_body_exception() -> None:
    """INV-23, STYLE 2.6, issue #11 item 11: the exception of the `async with` body leaves
    the session unwrapped, with its own __context__ (not the task group's exception group)."""

    async def body() -> None:
        async with AgentSession(llm=llm({})):
            try:
                raise KeyError("inner")
            except KeyError:
                raise ValueError("outer") from None

    with pytest.raises(ValueError, match="outer") as caught:
        await body()
    assert isinstance(caught.value.__context__, KeyError)
    assert caught.value.__suppress_context__
