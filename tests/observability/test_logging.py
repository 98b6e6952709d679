"""The debug trail of a call's life (issue #17 item 3): one line per lifecycle step of a call
and of a reply, under ``anyio_tools.*`` loggers, each naming the call; nothing at warning or
above in normal operation."""

from __future__ import annotations

import logging
import re

import anyio
import pytest

from anyio_tools import CallEnded, ReplyStatus, ReplyUpdated, RunContext, function_tool
from anyio_tools.runtime import Agent, AgentSession
from tests.runtime.helpers import Recorder, call, llm


async def test_the_debug_log_tells_every_step_of_each_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue #17 item 3: from the debug log alone, each call of a scripted conversation can
    be followed from its dispatch to the outcome of the reply that voiced its last update."""
    done = anyio.Event()

    @function_tool
    async def book(ctx: RunContext[None], day: str) -> str:
        """Book a table."""
        await ctx.update(f"looking on {day}")
        await anyio.sleep(1)
        await ctx.update("found one")
        done.set()
        return "booked"

    session: AgentSession[None] = AgentSession(
        llm=llm({"go": [call("book", day="mon"), call("book", day="tue")]}, reply="REPLY")
    )
    events = Recorder(session)
    finals_voiced = anyio.Event()

    voiced: list[str] = []

    def on_reply(event: ReplyUpdated) -> None:
        if event.status is not ReplyStatus.SCHEDULED:
            voiced.extend(i for i in event.update_ids if i.endswith("_final"))
        if len(voiced) == 2:
            finals_voiced.set()

    session.on(ReplyUpdated, on_reply)
    with caplog.at_level(logging.DEBUG, logger="anyio_tools"), anyio.fail_after(600):
        async with session:
            await session.start(Agent(instructions="x", tools=[book]))
            await session.run(user_input="go")
            await done.wait()
            await finals_voiced.wait()
    assert all(r.name.startswith("anyio_tools") for r in caplog.records)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    call_ids = [e.call_id for e in events.of(CallEnded)]
    assert len(call_ids) == 2
    for cid in call_ids:
        trail = [
            r.getMessage()
            for r in caplog.records
            if re.search(rf"\b{cid}(_\w+)?\b", r.getMessage())
        ]
        steps = [
            rf"^call {cid}: dispatched by turn ",
            rf"^call {cid}: admitted \(tool book\)",
            rf"^call {cid}: update {cid} 'looking on ",
            rf"^call {cid}: answered by its first update",
            rf"^call {cid}: update {cid}_update_1 'found one'",
            rf"^update {cid}_update_1: queued for a deferred reply",
            rf"^update {cid}_final: queued for a deferred reply",
            rf"^call {cid}: ended done",
            rf"^reply \S+: completed for updates .*{cid}_final",
        ]
        position = 0
        for step in steps:
            found = [i for i, line in enumerate(trail) if i >= position and re.search(step, line)]
            assert found, f"no line matches {step!r} (in order) in {trail}"
            position = found[0]
        assert any(
            re.search(rf"^reply \S+: scheduled for updates .*{cid}_update_1", t) for t in trail
        )
