"""Fault injection: each ends with every call terminated exactly once and no task left
(issue #5 item 5; SPEC INV-1, INV-22, INV-23, DEL-3, DEL-8, FIL-7, SC-8)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import anyio
import pytest

from anyio_tools import (
    CallEnded,
    FunctionCallOutput,
    ReplyDropped,
    ReplyUpdated,
    RunContext,
    ToolError,
    ToolExecutor,
    ToolFlag,
    function_tool,
)
from anyio_tools.runtime import (
    Agent,
    AgentSession,
    AsyncToolset,
    LLMChunk,
    LLMError,
    LLMRequest,
    ScriptedCall,
    ScriptedLLM,
    ScriptedResponse,
    SessionError,
    TextDelta,
    TextOutput,
)
from anyio_tools.testing import FakeHost, tool_task_names
from tests.executor.helpers import make_ctx


def ends(events: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in events:
        if isinstance(e, CallEnded):
            counts[e.call_id] = counts.get(e.call_id, 0) + 1
    return counts


def tool_then_reply(tool: str) -> ScriptedLLM:
    def script(request: LLMRequest) -> ScriptedResponse | str:
        if request.extra_instructions is not None:
            return "reply"
        if request.tool_outputs:
            return "ok"
        return ScriptedResponse("", calls=[ScriptedCall(tool)])

    return ScriptedLLM(script)


@pytest.mark.virtual_time
async def test_tool_raising_inside_with_filler() -> None:
    """FIL-7, INV-23, INV-26: the tool's own exception is its answer, verbatim on both
    backends (a ``ToolError``, whose text reaches the LLM only if it is not wrapped); the
    filler task is gone."""

    @function_tool
    async def faulty(ctx: RunContext[None]) -> None:
        """Raise inside a filler block."""
        async with ctx.with_filler("hold on", delay=1):
            await anyio.sleep(5)
            raise ToolError("no seats left on that flight")

    session: AgentSession[None] = AgentSession(llm=tool_then_reply("faulty"))
    events: list[Any] = []
    session.on(None, events.append)
    async with session:
        await session.start(Agent(instructions="x", tools=[faulty]))
        await session.run(user_input="go")
        assert not [name for name in tool_task_names() if name.startswith("filler")]
    assert ends(events) == {"call_1": 1}
    assert [(e.status, e.message) for e in events if isinstance(e, CallEnded)] == [
        ("error", "no seats left on that flight")
    ]
    answers = [
        (item.output, item.is_error)
        for item in session.history.items
        if isinstance(item, FunctionCallOutput)
    ]
    assert answers == [("no seats left on that flight", True)]
    assert tool_task_names() == []


async def test_cancellation_between_update_and_return() -> None:
    """EXE-9, INV-1: cancelled after its update, nothing more reaches the chat."""
    parked = anyio.Event()

    @function_tool(flags=ToolFlag.CANCELLABLE)
    async def racer(ctx: RunContext[None]) -> str:
        """Update, then wait to be cancelled before returning."""
        await ctx.update("almost")
        parked.set()
        await anyio.sleep(10)
        return "late result"

    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(racer, make_ctx("c", "racer"))
        await parked.wait()
        assert await executor.cancel("c")
    assert ends(host.events) == {"c": 1}
    assert host.current.chat_ctx.items == []


async def test_handoff_while_the_deliverer_waits_for_idle() -> None:
    """DEL-3, HND-1: activity-scoped entries waiting for idle drop when the owner leaves."""
    host = FakeHost()
    owner = host.current
    host.owner = owner
    host.set_busy(True)

    @function_tool
    async def chatty(ctx: RunContext[None]) -> None:
        """Two updates."""
        await ctx.update("one")
        await ctx.update("two")

    async with ToolExecutor(host) as executor:
        await executor.execute(chatty, make_ctx("c", "chatty"))
        await anyio.wait_all_tasks_blocked()
        host.handoff(type(owner)("next"))
        await anyio.wait_all_tasks_blocked()
    assert [e.reason for e in host.events if isinstance(e, ReplyDropped)] == ["activity_closed"]
    assert tool_task_names() == []


async def test_session_close_while_a_reply_is_being_generated() -> None:
    """DEL-8: a reply in flight at close gets exactly one outcome; nothing is left. (The
    result comes while the follow-up step streams, so that turn does not cover it, LED-7.)"""
    stall = anyio.Event()
    streaming = anyio.Event()

    class StallingLLM:
        async def stream(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
            if request.extra_instructions is not None:
                await stall.wait()  # never set: the reply is still generating at close
            if request.tool_outputs:
                streaming.set()
            if request.tool_outputs or request.extra_instructions:
                yield TextDelta("ok")
                return
            from anyio_tools.runtime import ToolCallRequest

            yield ToolCallRequest("call_1", "two_step")

    @function_tool
    async def two_step(ctx: RunContext[None]) -> str:
        """Update, then finish while the follow-up step streams."""
        await ctx.update("first")
        await streaming.wait()
        return "second"

    session: AgentSession[None] = AgentSession(
        llm=StallingLLM(), tools=[AsyncToolset(id="s", tools=[two_step])], close_timeout=5
    )
    events: list[Any] = []
    session.on(None, events.append)
    async with session:
        await session.start(Agent(instructions="x"))
        async with session.events() as stream:
            session.generate_reply(user_input="go")
            async for event in stream:  # a run would wait for the stalled reply: don't
                if isinstance(event, ReplyUpdated):
                    break
        await anyio.wait_all_tasks_blocked()
        assert [e.status for e in events if isinstance(e, ReplyUpdated)] == ["scheduled"]
    outcomes = [e.status for e in events if isinstance(e, ReplyUpdated)]
    assert outcomes == ["scheduled", "interrupted"]
    assert ends(events) == {"call_1": 1}
    assert tool_task_names() == []


async def test_llm_raising_during_a_deferred_reply() -> None:
    """Issue #4 item 4: the reply fails as a session error; its outcome is still reported.
    (The result comes while the follow-up step streams, so that turn does not cover it.)"""
    streaming = anyio.Event()

    def script(request: LLMRequest) -> ScriptedResponse | str:
        if request.extra_instructions is not None:
            raise ConnectionError("model unavailable")
        if request.tool_outputs:
            streaming.set()  # the request was built: the result comes after it (LED-7)
            return "ok"
        return ScriptedResponse("", calls=[ScriptedCall("two_step")])

    @function_tool
    async def two_step(ctx: RunContext[None]) -> str:
        """Update, then finish while the follow-up step streams."""
        await ctx.update("first")
        await streaming.wait()
        return "second"

    # "ok" takes 0.1 s to say: the tool (woken as the follow-up step's request is built)
    # returns before that turn is done, whatever order the scheduler picks (RUN-1, RUN-3).
    session: AgentSession[None] = AgentSession(
        llm=ScriptedLLM(script), output=TextOutput(chars_per_second=20)
    )
    events: list[Any] = []
    session.on(None, events.append)
    async with session:
        await session.start(Agent(instructions="x", tools=[two_step]))
        with pytest.raises(LLMError) as caught:  # RUN-1: the reply belongs to the run (#11)
            await session.run(user_input="go")
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert [type(e.error) for e in events if isinstance(e, SessionError)] == [ConnectionError]
    assert [e.status for e in events if isinstance(e, ReplyUpdated)] == ["scheduled", "skipped"]
    assert tool_task_names() == []


async def test_output_failing_during_playout() -> None:
    """Issue #4 item 4: a failing output is a session error, not a crash."""

    class BrokenOutput:
        async def play(self, text: str) -> None:
            raise OSError("speaker unplugged")

    session: AgentSession[None] = AgentSession(llm=ScriptedLLM({}), output=BrokenOutput())
    events: list[Any] = []
    session.on(None, events.append)
    async with session:
        await session.start(Agent(instructions="x"))
        await session.say("hello").wait_for_playout()
    assert [type(e.error) for e in events if isinstance(e, SessionError)] == [OSError]
    assert tool_task_names() == []


async def test_template_callable_that_raises() -> None:
    """DEL-3: a reply template that raises drops the batch (host_error); the call ends once."""

    def broken(args: Any) -> str:
        raise ValueError("template bug")

    @function_tool
    async def chatty(ctx: RunContext[None]) -> None:
        """Two updates."""
        await ctx.update("one")
        await ctx.update("two")

    host = FakeHost()
    host.set_busy(True)
    options = {"reply_at_tail_template": broken, "reply_maybe_covered_template": broken}
    async with ToolExecutor(host, options=options) as executor:
        await executor.execute(chatty, make_ctx("c", "chatty"))
        await anyio.wait_all_tasks_blocked()
        host.set_busy(False)
        await anyio.wait_all_tasks_blocked()
    assert [(e.update_ids, e.reason) for e in host.events if isinstance(e, ReplyDropped)] == [
        (("c_update_1",), "host_error")
    ]
    assert ends(host.events) == {"c": 1}


@pytest.mark.virtual_time
async def test_tool_ignoring_cancellation_for_a_while() -> None:
    """SC-8, CAN-8: closing waits (shielded, bounded) for a tool's shielded cleanup."""
    cleaned = anyio.Event()
    parked = anyio.Event()

    @function_tool(flags=ToolFlag.CANCELLABLE)
    async def stubborn(ctx: RunContext[None]) -> None:
        """Clean up for two seconds after cancellation."""
        await ctx.update("working")
        try:
            parked.set()
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(2)
                cleaned.set()

    host = FakeHost()
    async with ToolExecutor(host) as executor:
        await executor.execute(stubborn, make_ctx("c", "stubborn"))
        await parked.wait()
        start = anyio.current_time()
    assert cleaned.is_set()
    assert anyio.current_time() - start >= 2
    assert [e.status for e in host.events if isinstance(e, CallEnded)] == ["cancelled"]
    assert tool_task_names() == []
