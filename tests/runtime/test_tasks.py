"""Sub-agent tasks: a pause handoff awaited by its parent (issue #18; SPEC CON-3, CON-4, HND-2,
DEL-2, conformance scenario 35)."""

from __future__ import annotations

import anyio
import pytest

from anyio_tools import (
    ReplyDropped,
    ReplyUpdated,
    RunContext,
    SessionClosedError,
    function_tool,
)
from anyio_tools.runtime import (
    ActivityState,
    Agent,
    AgentPaused,
    AgentResumed,
    AgentSession,
    AgentTask,
    AgentTaskError,
    AsyncToolset,
)
from anyio_tools.testing import tool_task_names

from .helpers import Recorder, call, llm, said, settle

gates: dict[str, anyio.Event] = {}


class Consent(AgentTask[bool]):
    """Asks the user for consent; its tool completes the task."""

    def __init__(self, name: str = "consent") -> None:
        super().__init__(instructions="ask for consent", name=name)

        @function_tool
        async def answer(yes: bool) -> str:
            """Record the user's answer."""
            self.complete(yes)
            return "noted"

        @function_tool
        async def refuse() -> str:
            """The user will not answer."""
            self.fail(ValueError("no answer"))
            return "noted"

        self._tools.extend([answer, refuse])


SCRIPT = {
    "book": [call("book")],
    "yes": [call("answer", yes=True)],
    "no": [call("answer", yes=False)],
    "refuse": [call("refuse")],
    "spin": [call("spin")],
    "fetch": [call("fetch")],
    "announce": [call("announce")],
}


def booking_agent(session: AgentSession[None], tasks: list[AgentTask[bool]]) -> Agent:
    results: list[object] = []

    @function_tool
    async def book(ctx: RunContext[None]) -> str:
        """Book, asking for consent meanwhile."""
        await ctx.update("booking started")
        try:
            consent = await session.run_task(tasks.pop(0))
        except (AgentTaskError, SessionClosedError) as exc:
            results.append(exc)
            raise
        results.append(consent)
        await gates["book"].wait()
        return f"booked with consent={consent}"

    @function_tool
    async def fetch(ctx: RunContext[None]) -> str:
        """A background job of the main agent."""
        await ctx.update("fetching")
        await gates["fetch"].wait()
        await ctx.update("fetched")
        return "fetched it"

    agent = Agent(instructions="book", tools=[book, fetch], name="main")
    agent.results = results  # type: ignore[attr-defined]
    return agent


def main_activity(session: AgentSession[None], agent: Agent) -> ActivityState:
    return session._attempts[id(agent)][1].state


@pytest.mark.virtual_time
async def test_task_result_reaches_the_awaiting_tool_and_parent_resumes() -> None:
    """CON-4 pause handoff, CON-3 PAUSED: run_task pauses A, runs the task, returns its result,
    and A is ACTIVE and current again."""
    gates["book"] = anyio.Event()
    session: AgentSession[None] = AgentSession(llm=llm(SCRIPT))
    events = Recorder(session)
    task = Consent()
    async with session:
        main = booking_agent(session, [task])
        await session.start(main)
        with anyio.fail_after(60):
            await session.run(user_input="book")
            while session.current_agent is not task:
                await settle()
        assert main_activity(session, main) is ActivityState.PAUSED
        assert events.of(AgentPaused) == [AgentPaused("main", "consent")]
        assert events.of(AgentResumed) == []
        with anyio.fail_after(60):
            await session.run(user_input="yes")
            while session.current_agent is not main:
                await settle()
        assert main_activity(session, main) is ActivityState.ACTIVE
        assert events.of(AgentResumed) == [AgentResumed("main", "consent")]
        assert main.results == [True]  # type: ignore[attr-defined]
        gates["book"].set()
    assert tool_task_names() == []


@pytest.mark.virtual_time
async def test_paused_owner_reply_waits_until_resume_scenario_35() -> None:
    """Scenario 35, DEL-2, HND-2: A's call keeps running while the task runs; its
    activity-scoped batch waits (no reply lands while A is paused, none in the task's chat)
    and is scheduled on A in one coalesced reply after A resumes."""
    gates["book"] = anyio.Event()
    gates["fetch"] = anyio.Event()
    session: AgentSession[None] = AgentSession(llm=llm(SCRIPT, reply="fetched!"))
    events = Recorder(session)
    task = Consent()
    async with session:
        main = booking_agent(session, [task])
        await session.start(main)
        with anyio.fail_after(60):
            await session.run(user_input="fetch")
            await session.run(user_input="book")
            while session.current_agent is not task:
                await settle()
            gates["fetch"].set()  # A's call finishes while A is paused
            while events.ended().get("call_1") != ["done"]:
                await settle()
            await session.wait_for_idle()
            await settle()
        assert events.of(ReplyUpdated) == []  # it waits: A is PAUSED (DEL-2)
        assert main_activity(session, main) is ActivityState.PAUSED
        with anyio.fail_after(60):
            await session.run(user_input="yes")
            while "fetched!" not in said(main.chat_ctx):
                await session.wait_for_idle()
                await settle()
        gates["book"].set()
    assert "fetched!" not in said(task.chat_ctx)
    assert len({e.speech_id for e in events.of(ReplyUpdated)}) == 1  # one coalesced reply
    dropped = [i for d in events.of(ReplyDropped) for i in d.update_ids]
    assert not [i for i in dropped if i.startswith("call_1")]
    assert main.results == [True]  # type: ignore[attr-defined]


@pytest.mark.virtual_time
async def test_session_scoped_reply_goes_to_the_task_agent_while_current() -> None:
    """HND-2, DEL-2: a session-scoped call's reply targets the task agent while it is current."""
    gates["s"] = anyio.Event()

    @function_tool
    async def spin(ctx: RunContext[None]) -> str:
        """A session-scoped job."""
        await ctx.update("spinning")
        await gates["s"].wait()
        return "spun"

    session: AgentSession[None] = AgentSession(
        llm=llm(SCRIPT, reply="spun!"),
        tools=[AsyncToolset(id="s", tools=[spin])],
    )
    task = Consent()
    gates["book"] = anyio.Event()
    async with session:
        main = booking_agent(session, [task])
        await session.start(main)
        with anyio.fail_after(60):
            await session.run(user_input="spin")
            await session.run(user_input="book")
            while session.current_agent is not task:
                await settle()
            gates["s"].set()
            while "spun!" not in said(task.chat_ctx):
                await session.wait_for_idle()
                await settle()
        assert "spun!" not in said(main.chat_ctx)
        gates["book"].set()


@pytest.mark.virtual_time
async def test_failed_task_raises_agent_task_error_with_its_cause() -> None:
    """Issue #18 item 1: AgentTask.fail() comes out of run_task as AgentTaskError, cause kept,
    and the parent resumes."""
    gates["book"] = anyio.Event()
    session: AgentSession[None] = AgentSession(llm=llm(SCRIPT))
    task = Consent()
    async with session:
        main = booking_agent(session, [task])
        await session.start(main)
        with anyio.fail_after(60):
            await session.run(user_input="book")
            while session.current_agent is not task:
                await settle()
            await session.run(user_input="refuse")
            while session.current_agent is not main:
                await settle()
        (error,) = main.results  # type: ignore[attr-defined]
        assert isinstance(error, AgentTaskError)
        assert isinstance(error.__cause__, ValueError)
        assert main_activity(session, main) is ActivityState.ACTIVE


@pytest.mark.virtual_time
async def test_nested_tasks_resume_in_order() -> None:
    """Issue #18 item 1: a task inside a task; each resumes its own parent."""
    inner = Consent(name="inner")
    outer_results: list[bool] = []

    class Outer(AgentTask[bool]):
        def __init__(self) -> None:
            super().__init__(instructions="outer", name="outer")

            @function_tool
            async def book(ctx: RunContext[None]) -> str:
                """Ask the inner task."""
                await ctx.update("asking")
                value = await session.run_task(inner)
                outer_results.append(value)
                self.complete(not value)
                return "done"

            self._tools.append(book)

    gates["book"] = anyio.Event()
    gates["book"].set()
    session: AgentSession[None] = AgentSession(llm=llm(SCRIPT))
    outer = Outer()
    async with session:
        main = booking_agent(session, [outer])
        await session.start(main)
        with anyio.fail_after(60):
            await session.run(user_input="book")  # main.book -> outer
            while session.current_agent is not outer:
                await settle()
            await session.run(user_input="book")  # outer.book -> inner
            while session.current_agent is not inner:
                await settle()
            assert main_activity(session, main) is ActivityState.PAUSED
            await session.run(user_input="yes")
            while session.current_agent is not main:
                await settle()
    assert outer_results == [True]
    assert main.results == [False]  # type: ignore[attr-defined]


@pytest.mark.virtual_time
async def test_handoff_from_inside_a_task_is_refused() -> None:
    """Issue #18 item 3: update_agent() while a task runs raises a clear RuntimeError."""
    gates["book"] = anyio.Event()
    session: AgentSession[None] = AgentSession(llm=llm(SCRIPT))
    task = Consent()
    async with session:
        main = booking_agent(session, [task])
        await session.start(main)
        with anyio.fail_after(60):
            await session.run(user_input="book")
            while session.current_agent is not task:
                await settle()
        with pytest.raises(RuntimeError, match="cannot hand off"):
            session.update_agent(Agent(instructions="x", name="other"))
        gates["book"].set()


@pytest.mark.virtual_time
async def test_session_close_while_task_runs_closes_both_task_first() -> None:
    """Issue #18 item 3, HND-3: closing closes the task's activity, then the paused one; the
    awaiting tool gets SessionClosedError; nothing is left running."""
    gates["book"] = anyio.Event()
    session: AgentSession[None] = AgentSession(llm=llm(SCRIPT))
    task = Consent()
    order: list[str] = []
    async with session:
        main = booking_agent(session, [task])
        await session.start(main)
        with anyio.fail_after(60):
            await session.run(user_input="book")
            while session.current_agent is not task:
                await settle()
        task_activity = session._attempts[id(task)][1]
        main_act = session._attempts[id(main)][1]

        async def watch(name: str, activity: object) -> None:
            await activity.wait_closed()  # type: ignore[attr-defined]
            order.append(name)

        session._task_group.start_soon(watch, "task", task_activity)  # type: ignore[union-attr]
        session._task_group.start_soon(watch, "main", main_act)  # type: ignore[union-attr]
        await settle()
    assert order == ["task", "main"]
    (error,) = main.results  # type: ignore[attr-defined]
    assert isinstance(error, SessionClosedError)
    assert tool_task_names() == []


async def test_run_task_rejects_bad_input() -> None:
    """Issue #18: a non-task is a TypeError; no active agent is a RuntimeError."""
    session: AgentSession[None] = AgentSession(llm=llm(SCRIPT))
    async with session:
        with pytest.raises(TypeError, match="expects an AgentTask"):
            await session.run_task(Agent(instructions="x"))  # type: ignore[arg-type]
        with pytest.raises(RuntimeError, match="needs an active agent"):
            await session.run_task(Consent())


@pytest.mark.virtual_time
async def test_paused_agent_foreground_waits_for_its_agent_to_resume() -> None:
    """HND-2, CTX-7 (f), issue #18 item 2: a paused agent's call asking for the foreground
    waits until its agent is ACTIVE again, and never speaks into the task's conversation."""
    gates["book"] = anyio.Event()
    gates["fg"] = anyio.Event()
    entered: list[ActivityState] = []
    session: AgentSession[None] = AgentSession(llm=llm(SCRIPT))
    task = Consent()
    main: Agent

    @function_tool
    async def announce(ctx: RunContext[None]) -> str:
        """Speak in the foreground later."""
        await ctx.update("will announce")
        await gates["fg"].wait()
        async with ctx.foreground():
            entered.append(main_activity(session, main))
            handle = ctx.session.say("announcement")  # type: ignore[attr-defined]
            await handle.wait_for_playout()
        return "announced"

    async with session:
        main = booking_agent(session, [task])
        main._tools.append(announce)
        await session.start(main)
        with anyio.fail_after(60):
            await session.run(user_input="announce")
            await session.run(user_input="book")
            while session.current_agent is not task:
                await settle()
            gates["fg"].set()
            await session.wait_for_idle()
            await settle()
            assert entered == []  # it waits: its agent is paused
            await session.run(user_input="yes")
            while "announcement" not in said(session.history):
                await settle()
            gates["book"].set()
    assert entered == [ActivityState.ACTIVE]
    assert "announcement" in said(main.chat_ctx)
    assert "announcement" not in said(task.chat_ctx)


@pytest.mark.virtual_time
async def test_cancelled_wait_closes_the_task_and_resumes_the_parent() -> None:
    """Issue #18 item 1: cancelling the code that awaits run_task closes the task's activity
    and resumes the paused agent; the cancellation goes on to the awaiting code."""
    outcome: list[str] = []
    task = Consent()
    session: AgentSession[None] = AgentSession(llm=llm(SCRIPT))

    @function_tool
    async def book(ctx: RunContext[None]) -> str:
        """Ask for consent, but give up after 5 seconds."""
        await ctx.update("booking")
        with anyio.move_on_after(5) as timer:
            await session.run_task(task)
        outcome.append("timed out" if timer.cancelled_caught else "answered")
        return "gave up"

    main = Agent(instructions="main", tools=[book], name="main")
    async with session:
        await session.start(main)
        with anyio.fail_after(60):
            await session.run(user_input="book")
            while not outcome:
                await settle()
                await anyio.sleep(1)
        assert session.current_agent is main
        assert main_activity(session, main) is ActivityState.ACTIVE
        assert session._attempts.get(id(task)) is None
    assert outcome == ["timed out"]
