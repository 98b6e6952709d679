"""Sub-agent tasks, the edges: fillers and turns of a paused agent, `run_task` from a tool's
context and from agent code, handoffs refused inside a task (issue #18; SPEC HND-2, CON-3,
FIL-2, EXE-12, DEL-2). Virtual time; every wait is on a state."""

from __future__ import annotations

import anyio
import pytest

from anyio_tools import RunContext, function_tool
from anyio_tools.runtime import (
    ActivityState,
    Agent,
    AgentSession,
    AgentTask,
    ConversationItemAdded,
    SessionError,
)
from anyio_tools.testing import tool_task_names

from .helpers import Recorder, call, llm, said, settle

gates: dict[str, anyio.Event] = {}


class Consent(AgentTask[bool]):
    """Asks the user for consent; its tool completes the task."""

    def __init__(self) -> None:
        super().__init__(instructions="ask for consent", name="consent")

    @function_tool
    async def answer(self, yes: bool) -> str:
        """Record the user's answer."""
        self.complete(yes)
        return "noted"

    @function_tool
    async def elsewhere(self) -> Agent:
        """Hand the conversation to another agent (refused inside a task)."""
        return Agent(instructions="other", name="other")


SCRIPT = {
    "book": [call("book")],
    "both": [call("book"), call("slow")],
    "yes": [call("answer", yes=True)],
    "elsewhere": [call("elsewhere")],
}


def state_of(session: AgentSession[None], agent: Agent) -> ActivityState:
    return session._attempts[id(agent)][1].state


async def wait_until_current(session: AgentSession[None], agent: Agent) -> None:
    while session.current_agent is not agent:
        await settle()


@pytest.mark.virtual_time
async def test_filler_of_a_paused_agents_call_is_skipped_until_it_resumes() -> None:
    """HND-2, FIL-2 (3), issue #18 item 2: a filler of a call whose agent is paused under a
    task never speaks into the task's conversation, however long the task takes; once the
    agent is back, a full dwell of quiet later, it fills again (on the agent, not the task)."""
    gates["ask"] = anyio.Event()
    gates["book"] = anyio.Event()
    task = Consent()
    results: list[bool] = []

    @function_tool
    async def book(ctx: RunContext[None]) -> str:
        """Book, asking for consent meanwhile; a filler covers the slow booking."""
        await ctx.update("booking started")
        await gates["ask"].wait()
        async with ctx.with_filler("still booking", delay=2):
            results.append(await ctx.session.run_task(task))  # the SessionHandle Protocol
            await gates["book"].wait()
        return "booked"

    session: AgentSession[None] = AgentSession(llm=llm(SCRIPT))
    filled = anyio.Event()

    def on_item(event: ConversationItemAdded) -> None:
        if getattr(event.item, "content", None) == "still booking":
            filled.set()

    session.on(ConversationItemAdded, on_item)
    main = Agent(instructions="main", tools=[book], name="main")
    async with session:
        await session.start(main)
        with anyio.fail_after(120):
            await session.run(user_input="book")
            gates["ask"].set()
            await wait_until_current(session, task)
            await anyio.sleep(30)  # many dwells pass while main is paused
            await settle()
            assert "still booking" not in said(session.history)
            await session.run(user_input="yes")
            await wait_until_current(session, main)
            await filled.wait()
        gates["book"].set()
    assert results == [True]
    assert "still booking" in said(main.chat_ctx)
    assert "still booking" not in said(task.chat_ctx)
    assert tool_task_names() == []


@pytest.mark.virtual_time
async def test_turn_of_a_paused_agent_takes_no_step_into_the_task() -> None:
    """HND-2, EXE-12, issue #18 item 2: a turn whose agent paused while its calls ran (one of
    them called run_task) takes no follow-up step into the task's conversation: it ends as if
    interrupted, its answers committed to its own agent, and its run completes."""
    gates["book"] = anyio.Event()
    gates["slow"] = anyio.Event()
    task = Consent()

    @function_tool
    async def book(ctx: RunContext[None]) -> str:
        """Book, asking for consent at once."""
        await ctx.update("booking started")
        await ctx.session.run_task(task)
        await gates["book"].wait()
        return "booked"

    @function_tool
    async def slow() -> str:
        """A blocking call of the same turn."""
        await gates["slow"].wait()
        return "slow done"

    session: AgentSession[None] = AgentSession(llm=llm(SCRIPT))
    main = Agent(instructions="main", tools=[book, slow], name="main")
    finished: list[bool] = []

    async def run_both() -> None:
        await session.run(user_input="both")
        finished.append(True)

    async with session:
        await session.start(main)
        with anyio.fail_after(120):
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(run_both)
                await wait_until_current(session, task)
                gates["slow"].set()  # the turn's calls all answered: its follow-up is due
            assert finished == [True]  # the run completed while main is paused
            assert state_of(session, main) is ActivityState.PAUSED
            assert "ok" not in said(session.history)  # no step into the task's conversation
            outputs = [getattr(item, "output", None) for item in main.chat_ctx.items]
            assert "slow done" in outputs  # the answers were committed to main
            await session.run(user_input="yes")
            await wait_until_current(session, main)
        gates["book"].set()
    assert "ok" not in said(main.chat_ctx)


@pytest.mark.virtual_time
async def test_run_task_from_on_enter_of_an_agent() -> None:
    """Issue #18 item 1: agent code (``on_enter``) awaits a task with its session's explicit
    ``run_task``; the agent is paused meanwhile and gets the typed result."""
    task = Consent()
    session: AgentSession[None] = AgentSession(llm=llm(SCRIPT))
    got: list[bool] = []

    class Greeter(Agent):
        async def on_enter(self) -> None:
            got.append(await session.run_task(task))

    greeter = Greeter(instructions="greet", name="greeter")
    async with session:
        await session.start(greeter)
        with anyio.fail_after(60):
            await wait_until_current(session, task)
            assert state_of(session, greeter) is ActivityState.PAUSED
            await session.run(user_input="yes")
            await wait_until_current(session, greeter)
            while not got:
                await settle()
        assert state_of(session, greeter) is ActivityState.ACTIVE
    assert got == [True]


@pytest.mark.virtual_time
async def test_tool_handoff_inside_a_task_is_refused() -> None:
    """Issue #18 item 3, EXE-11: a task agent's tool that returns an agent (a close handoff)
    is refused with a SessionError carrying a RuntimeError; the task stays current and can
    still complete."""
    gates["book"] = anyio.Event()
    gates["book"].set()
    task = Consent()
    results: list[bool] = []

    @function_tool
    async def book(ctx: RunContext[None]) -> str:
        """Book, asking for consent meanwhile."""
        await ctx.update("booking started")
        results.append(await ctx.session.run_task(task))
        return "booked"

    session: AgentSession[None] = AgentSession(llm=llm(SCRIPT))
    events = Recorder(session)
    main = Agent(instructions="main", tools=[book], name="main")
    async with session:
        await session.start(main)
        with anyio.fail_after(60):
            await session.run(user_input="book")
            await wait_until_current(session, task)
            await session.run(user_input="elsewhere")
            await settle()
            assert session.current_agent is task
            assert state_of(session, task) is ActivityState.ACTIVE
            (error,) = [e.error for e in events.of(SessionError)]
            assert isinstance(error, RuntimeError)
            assert "cannot hand off" in str(error)
            await session.run(user_input="yes")
            await wait_until_current(session, main)
    assert results == [True]


@pytest.mark.virtual_time
async def test_user_speaking_to_the_task_does_not_cut_the_paused_agents_turn() -> None:
    """HND-2, EXE-12, issue #18: a blocking tool awaits a task; the user speaking to the task
    interrupts the task's speech, not the paused agent's turn that waits for that tool, so
    the tool's result is answered by a follow-up step once the agent is back."""
    task = Consent()

    @function_tool
    async def book(ctx: RunContext[None]) -> str:
        """Book after asking for consent (blocking: the turn waits for it)."""
        consent = await ctx.session.run_task(task)
        return f"booked with consent={consent}"

    session: AgentSession[None] = AgentSession(llm=llm(SCRIPT))
    main = Agent(instructions="main", tools=[book], name="main")
    async with session:
        await session.start(main)
        with anyio.fail_after(60):
            turn = session.generate_reply(user_input="book")
            await wait_until_current(session, task)
            session.user_started_speaking()  # the user answers the task
            session.user_stopped_speaking()
            assert not turn.interrupted
            await session.run(user_input="yes")
            await turn.wait_for_playout()
        assert not turn.interrupted
        assert session.current_agent is main
    outputs = [getattr(item, "output", None) for item in main.chat_ctx.items]
    assert "booked with consent=True" in outputs
    assert said(main.chat_ctx)[-1] == "ok"  # the follow-up step to the tool's answer
