"""What a session does when a part of it fails or misbehaves: toolsets that cannot start, LLMs
that raise, hang or raise a stray cancellation, hostile listeners, tools named like built-ins
(issues #11 and #12; SPEC HND-1, HND-3, HOST-*, RUN-1..3, DEC-10, INV-22, INV-23, INV-27).

Determinism: every test runs on asyncio and trio in virtual time; it waits on states and
events, and wraps what could hang in ``anyio.fail_after`` (a deadlock then fails at once).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncGenerator

import anyio
import pytest

from anyio_tools import RunContext, ToolFlag, Toolset, function_tool
from anyio_tools.runtime import (
    Agent,
    AgentSession,
    AgentStartError,
    AsyncToolset,
    LLMChunk,
    LLMError,
    LLMRequest,
    SessionError,
    TextDelta,
)
from anyio_tools.testing import no_task_leaks

from .helpers import Recorder, call, llm, said


@pytest.mark.virtual_time
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


@pytest.mark.virtual_time
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


class DownServer(Toolset):
    """A toolset whose server is down: `setup()` raises."""

    async def setup(self) -> None:
        await anyio.lowlevel.checkpoint()
        raise ConnectionRefusedError("server down")


def unreachable_agent() -> Agent:
    return Agent(instructions="remote", name="remote", tools=[DownServer(id="mcp")])


async def test_start_raises_when_the_agent_cannot_start_and_the_session_stays_usable() -> None:
    """Issue #11 item 6, #12 item 5: start() raises AgentStartError (cause chained) instead of
    hanging; a SessionError is emitted; start() works again afterwards."""
    session: AgentSession[None] = AgentSession(llm=llm({"hello": "hi"}))
    events = Recorder(session)
    remote = unreachable_agent()
    with anyio.fail_after(60), no_task_leaks():  # INV-22
        async with session:
            with pytest.raises(AgentStartError, match="'remote' failed to start") as caught:
                await session.start(remote)
            assert isinstance(caught.value.__cause__, ConnectionRefusedError)
            assert [(e.source, type(e.error)) for e in events.of(SessionError)] == [
                ("activity", ConnectionRefusedError)
            ]
            with pytest.raises(AgentStartError):
                session.current_agent  # noqa: B018 - the property raises
            with pytest.raises(AgentStartError):
                await session.wait_for_agent(remote)
            main = Agent(instructions="main", name="main")
            await session.start(main)
            result = await session.run(user_input="hello")
    assert [getattr(item, "content", None) for item in result.items] == ["hello", "hi"]


async def test_handoff_to_an_agent_that_cannot_start_does_not_hang_later_turns() -> None:
    """Issue #12 item 5, HND-1: a handoff to an agent whose activity fails to start emits a
    SessionError; the run that asked for it, later runs and turns raise or end instead of
    waiting forever; handing off to a working agent recovers."""
    remote = unreachable_agent()

    @function_tool
    async def transfer() -> Agent:
        """Hand off to the remote agent."""
        return remote

    main = Agent(instructions="main", name="main", tools=[transfer])
    session: AgentSession[None] = AgentSession(
        llm=llm({"transfer": [call("transfer")], "hello": "hi"})
    )
    events = Recorder(session)
    with anyio.fail_after(60), no_task_leaks():  # INV-22
        async with session:
            await session.start(main)
            with pytest.raises(AgentStartError, match="'remote'") as caught:
                await session.run(user_input="transfer")
            assert isinstance(caught.value.__cause__, ConnectionRefusedError)
            assert [e.source for e in events.of(SessionError)] == ["activity"]
            with pytest.raises(AgentStartError):
                await session.run(user_input="hello")
            handle = session.say("anyone?")
            await handle.wait_for_playout()  # the turn ends instead of waiting for an agent
            session.update_agent(main)
            await session.wait_for_agent(main)
            result = await session.run(user_input="hello")
    assert [getattr(item, "content", None) for item in result.items] == ["hello", "hi"]
    assert "anyone?" not in said(session.history)


async def test_on_enter_is_cancelled_with_its_activity() -> None:
    """Issue #11 item 7, INV-22: an agent's on_enter runs in a task its activity owns; after
    a handoff it is cancelled and cannot speak into the next agent's chat."""
    ended: list[str] = []
    handoff_done = anyio.Event()

    class Greeter(Agent):
        def __init__(self, session: AgentSession[None]) -> None:
            super().__init__(instructions="greeter", name="greeter")
            self.session = session

        async def on_enter(self) -> None:
            try:
                await handoff_done.wait()
                self.session.say("greeter speaking late")
            finally:
                ended.append("on_enter")

    session: AgentSession[None] = AgentSession(llm=llm({}))
    other = Agent(instructions="other", name="other")
    with anyio.fail_after(60), no_task_leaks():  # INV-22
        async with session:
            await session.start(Greeter(session))
            session.update_agent(other)
            await session.wait_for_agent(other)
            assert ended == ["on_enter"]  # cancelled during the handoff
            handoff_done.set()
            await session.wait_for_idle()
            await anyio.wait_all_tasks_blocked()
    assert "greeter speaking late" not in said(other.chat_ctx)
    assert "greeter speaking late" not in said(session.history)


async def test_on_enter_failure_is_a_session_error() -> None:
    """Issue #11 item 7: an on_enter that raises, now run by the activity, still becomes a
    SessionError with source "on_enter"; the agent stays active."""

    class Broken(Agent):
        async def on_enter(self) -> None:
            await anyio.lowlevel.checkpoint()
            raise LookupError("no greeting")

    session: AgentSession[None] = AgentSession(llm=llm({"hello": "hi"}))
    events = Recorder(session)
    with anyio.fail_after(60):
        async with session:
            await session.start(Broken(instructions="x"))
            result = await session.run(user_input="hello")
    assert [(e.source, type(e.error)) for e in events.of(SessionError)] == [
        ("on_enter", LookupError)
    ]
    assert [getattr(item, "content", None) for item in result.items] == ["hello", "hi"]


class Hostile(BaseException):
    """Not an Exception: what a hostile plugin may raise."""


async def test_listener_raising_a_base_exception_is_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue #12 item 10, HOST-6: a listener that raises a BaseException (not KeyboardInterrupt
    or SystemExit) is logged like one raising an Exception; the session goes on."""
    session: AgentSession[None] = AgentSession(llm=llm({"hello": "hi"}))
    seen: list[object] = []

    def hostile(event: object) -> None:
        raise Hostile("listener gone wrong")

    session.on(None, hostile)
    session.on(None, seen.append)  # later listeners still get every event
    with anyio.fail_after(60):
        async with session:
            await session.start(Agent(instructions="x"))
            result = await session.run(user_input="hello")
    assert [getattr(item, "content", None) for item in result.items] == ["hello", "hi"]
    assert seen
    assert any("an event listener raised" in r.getMessage() for r in caplog.records)


def test_async_listener_is_refused() -> None:
    """Issue #12 item 10: an async listener would never run; on() refuses it with a TypeError
    that says what to do instead."""
    session: AgentSession[None] = AgentSession()

    async def listener(event: object) -> None:
        await anyio.lowlevel.checkpoint()

    class AsyncCallable:
        async def __call__(self, event: object) -> None:
            await anyio.lowlevel.checkpoint()

    with pytest.raises(TypeError, match=r"async function .* iterate session\.events\(\)"):
        session.on(None, listener)
    with pytest.raises(TypeError, match="async function"):
        session.on(SessionError, AsyncCallable())
    with pytest.raises(TypeError, match="expects a callable"):
        session.on(None, "print")  # type: ignore[arg-type]


class StrayLLM:
    """An LLM whose first stream raises a cancellation nobody asked for (asyncio only: awaiting
    a future someone else cancelled); on trio, which cannot produce one, it answers."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.requests = 0

    async def stream(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        self.requests += 1
        yield TextDelta("thinking...")
        if self.requests == 1 and self.backend == "asyncio":
            raise asyncio.CancelledError()
        yield TextDelta(" hi")


async def test_stray_cancellation_in_the_llm_stream_is_an_llm_error(
    anyio_backend_name: str,
) -> None:
    """Issue #12 item 1: a cancellation exception that no scope of ours asked for is an LLM
    failure: SessionError("llm"), the turn ends, run() raises LLMError; the session goes
    on. (Only asyncio can produce one; on trio the run is the normal one.)"""
    model = StrayLLM(anyio_backend_name)
    session: AgentSession[None] = AgentSession(llm=model)
    events = Recorder(session)
    with anyio.fail_after(60), no_task_leaks():  # INV-22
        async with session:
            await session.start(Agent(instructions="x"))
            if anyio_backend_name == "asyncio":
                with pytest.raises(LLMError) as caught:
                    await session.run(user_input="hello")
                assert isinstance(caught.value.__cause__, asyncio.CancelledError)
                assert [e.source for e in events.of(SessionError)] == ["llm"]
            result = await session.run(user_input="hello again")
    assert said(session.history)[-1] == "thinking... hi"
    assert [getattr(item, "content", None) for item in result.items][-1] == "thinking... hi"


async def test_stray_cancellation_in_the_speech_output_is_an_output_error(
    anyio_backend_name: str,
) -> None:
    """Issue #12 item 1: a stray cancellation raised by the speech output is an output failure
    (SessionError("output")); the message is still recorded and the session goes on."""

    class StrayOutput:
        async def play(self, text: str) -> None:
            await anyio.lowlevel.checkpoint()
            if anyio_backend_name == "asyncio" and text == "first":
                raise asyncio.CancelledError()

    session: AgentSession[None] = AgentSession(llm=llm({}), output=StrayOutput())
    events = Recorder(session)
    with anyio.fail_after(60):
        async with session:
            await session.start(Agent(instructions="x"))
            await session.say("first").wait_for_playout()
            await session.say("second").wait_for_playout()
    expected = ["output"] if anyio_backend_name == "asyncio" else []
    assert [e.source for e in events.of(SessionError)] == expected
    assert said(session.history) == ["first", "second"]


class HangingLLM:
    """An LLM whose first request never finishes; later ones answer at once."""

    def __init__(self) -> None:
        self.requests = 0

    async def stream(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        self.requests += 1
        if self.requests == 1:
            await anyio.sleep_forever()
        yield TextDelta("hi")


@pytest.mark.virtual_time
async def test_llm_that_hangs_is_abandoned_after_llm_timeout() -> None:
    """Issue #12 item 11: a request that passes llm_timeout ends its turn with a SessionError
    (TimeoutError) and run() raises LLMError after exactly llm_timeout (virtual time); the
    next turn is not stalled."""
    session: AgentSession[None] = AgentSession(llm=HangingLLM(), llm_timeout=5)
    events = Recorder(session)
    with anyio.fail_after(60), no_task_leaks():  # INV-22
        async with session:
            await session.start(Agent(instructions="x"))
            start = anyio.current_time()
            with pytest.raises(LLMError) as caught:
                await session.run(user_input="hello")
            assert anyio.current_time() - start == pytest.approx(5)
            result = await session.run(user_input="again")
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert "llm_timeout=5s" in str(caught.value.__cause__)
    assert [(e.source, type(e.error)) for e in events.of(SessionError)] == [("llm", TimeoutError)]
    assert [getattr(item, "content", None) for item in result.items] == ["again", "hi"]


@pytest.mark.parametrize("llm_timeout", [None, 60])
async def test_interrupting_a_generation_is_not_an_llm_error(llm_timeout: float | None) -> None:
    """Issue #12 item 1, CON-5: the cancellation of the turn's own scope (an interruption)
    still ends the generation quietly: no SessionError, no LLMError; also when the scope
    carries the LLM's time limit (issue #19 item 5: one scope for both)."""
    session: AgentSession[None] = AgentSession(llm=HangingLLM(), llm_timeout=llm_timeout)
    events = Recorder(session)
    with anyio.fail_after(60):
        async with session:
            await session.start(Agent(instructions="x"))
            handle = session.generate_reply(user_input="hello")
            await anyio.wait_all_tasks_blocked()
            session.user_started_speaking()
            await handle.wait_for_playout()
    assert events.of(SessionError) == []
    assert handle.interrupted


@pytest.mark.parametrize("bad", [0, -1, "5", True, math.nan])
def test_llm_timeout_is_validated(bad: object) -> None:
    """Issue #12 item 11: llm_timeout must be a number > 0 or None."""
    with pytest.raises(ValueError, match=r"llm_timeout must be a number > 0 or None, got"):
        AgentSession(llm_timeout=bad)  # type: ignore[arg-type]
    AgentSession(llm_timeout=None)
    AgentSession(llm_timeout=0.5)


async def test_speech_of_on_enter_stays_with_its_agent_after_a_handoff() -> None:
    """Issue #11 item 7, INV-22, HND-1 (2): speech queued by agent A's on_enter after it
    asked for a handoff belongs to A: it lands in A's chat (A drains after it), never in B's."""
    other = Agent(instructions="other", name="other")

    class Leaving(Agent):
        def __init__(self, session: AgentSession[None]) -> None:
            super().__init__(instructions="leaving", name="leaving")
            self.session = session

        async def on_enter(self) -> None:
            await anyio.lowlevel.checkpoint()
            self.session.update_agent(other)
            self.session.say("goodbye from leaving")

    session: AgentSession[None] = AgentSession(llm=llm({}))
    leaving = Leaving(session)
    with anyio.fail_after(60):
        async with session:
            await session.start(leaving)
            await session.wait_for_agent(other)
            await session.wait_for_idle()
    assert said(leaving.chat_ctx) == ["goodbye from leaving"]
    assert said(other.chat_ctx) == []


async def test_listener_keyboard_interrupt_and_system_exit_propagate() -> None:
    """Issue #12 item 10: KeyboardInterrupt and SystemExit raised by a listener are not
    contained: they leave emit() (and so the session)."""
    for exit_exc in (KeyboardInterrupt, SystemExit):
        session: AgentSession[None] = AgentSession()

        def quit_now(event: object, exc: type[BaseException] = exit_exc) -> None:
            raise exc("stop")

        session.on(SessionError, quit_now)
        with pytest.raises(exit_exc):
            session.emit(SessionError("test", ValueError("x")))
    await anyio.lowlevel.checkpoint()
