"""Edges of ``foreground()`` and ``with_filler()`` in a live session (issue #11; SPEC CTX-7,
FIL-7, HOST-3, HND-3, INV-18, INV-23, INV-26).

Determinism: virtual clocks on both backends; tests wait on events and session states, and
every check runs outside the tool bodies (an ``assert`` in a tool would only become its error).
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from anyio_tools import (
    ActivityClosedError,
    CallEnded,
    FunctionCallOutput,
    RunContext,
    StopResponse,
    ToolError,
    ToolFlag,
    function_tool,
)
from anyio_tools.runtime import Agent, AgentSession, AsyncToolset
from anyio_tools.testing import tool_task_names
from tests.backends import running_on_uvloop

from .helpers import call, llm, said

Outcome = tuple[list[tuple[str, bool, bool]], list[tuple[str, str | None]]]

FAULTS = ("tool_error", "stop_response", "plain")
EXPECTED: dict[str, Outcome] = {
    "tool_error": ([("no seats", True, True)], [("error", "no seats")]),
    "stop_response": ([("", False, False)], [("done", None)]),
    "plain": (
        [("An internal error occurred while running the tool.", True, True)],
        [("error", "internal detail")],
    ),
}


async def _fail(fault: str) -> None:
    await anyio.sleep(1)
    if fault == "tool_error":
        raise ToolError("no seats")
    if fault == "stop_response":
        raise StopResponse
    raise RuntimeError("internal detail")


async def _outcome(block: str, fault: str) -> Outcome:
    """Run one call that fails with ``fault`` inside ``block``; return what the LLM and the
    application saw: (output, is_error, reply_required) per answer, (status, message) per end."""

    @function_tool
    async def book(ctx: RunContext[None]) -> str:
        """Book a seat."""
        if block == "with_filler":
            async with ctx.with_filler("hold on", delay=0.5):
                await _fail(fault)
        elif block == "foreground":
            async with ctx.foreground():
                await _fail(fault)
        else:
            await _fail(fault)
        return "booked"

    session: AgentSession[None] = AgentSession(llm=llm({"go": [call("book")]}))
    ended: list[CallEnded] = []
    session.on(CallEnded, ended.append)
    async with session:
        await session.start(Agent(instructions="x", tools=[book]))
        with anyio.fail_after(60):
            await session.run(user_input="go")
    outputs = [
        (item.output, item.is_error, item.reply_required)
        for item in session.history.items
        if isinstance(item, FunctionCallOutput)
    ]
    return outputs, [(str(e.status), e.message) for e in ended]


@pytest.mark.virtual_time
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("block", ["with_filler", "foreground"])
async def test_exception_leaving_a_context_block_is_the_tools_own(block: str, fault: str) -> None:
    """INV-23, INV-26, FIL-7, CTX-7 (e): a tool raising ``ToolError``, ``StopResponse`` or a
    plain exception inside ``with_filler()`` or ``foreground()`` gets the same answer text,
    error flag and ``CallEnded`` status and message as without the block, on both backends
    (the expected values are literal, so both backends must produce them)."""
    without = await _outcome("none", fault)
    assert without == EXPECTED[fault]
    assert await _outcome(block, fault) == without
    assert tool_task_names() == []


@pytest.mark.virtual_time
async def test_filler_never_kills_its_tool_at_session_close() -> None:
    """FIL-7, INV-18, HND-3: at session close the filler's idle wait fails; the filler stops
    quietly and the non-cancellable call it belongs to ends done, its result recorded."""
    progress: list[str] = []

    @function_tool
    async def book(ctx: RunContext[None]) -> str:
        """Book under a repeating filler."""
        await ctx.update("started")
        async with ctx.with_filler("hold on", delay=1, interval=1):
            progress.append("working")
            await anyio.sleep(5)
        progress.append("finished")
        return "booked"

    session: AgentSession[None] = AgentSession(llm=llm({"go": [call("book")]}), close_timeout=60)
    ended: list[CallEnded] = []
    session.on(CallEnded, ended.append)
    with anyio.fail_after(120):
        async with session:
            await session.start(Agent(instructions="x", tools=[book]))
            await session.run(user_input="go")
            assert progress == ["working"]  # still inside the filler block at close
    assert progress == ["working", "finished"]
    assert [(str(e.status), e.message) for e in ended] == [("done", "booked")]
    finals = [
        item.output
        for item in session.history.items
        if isinstance(item, FunctionCallOutput) and item.call_id.endswith("_final")
    ]
    assert finals == ["booked"]  # recorded, not voiced (HND-3)
    assert tool_task_names() == []


async def _floor_queue(names: list[str], *, cancel: str | None = None) -> list[str]:
    """Calls named ``names`` ask for the floor in that order while the user speaks; return
    the order they held it in. ``cancel`` names a call whose wait is cancelled while it
    queues."""
    log: list[str] = []
    gates = {name: anyio.Event() for name in names}
    scopes: dict[str, anyio.CancelScope] = {}
    done = anyio.Event()

    @function_tool
    async def hold(ctx: RunContext[None], name: str) -> None:
        """Ask for the floor when told to."""
        await ctx.update(f"{name} queued")
        await gates[name].wait()
        with anyio.CancelScope() as scopes[name]:
            async with ctx.foreground():
                log.append(f"{name} in")
                # Hold the floor a while (the others queue meanwhile); briefly in real time.
                await anyio.sleep(0.05 if running_on_uvloop() else 1)
                log.append(f"{name} out")
        if scopes[name].cancelled_caught:
            log.append(f"{name} cancelled")
        if len(log) == 2 * len(names) - (cancel is not None):
            done.set()

    script = {"go": [call("hold", name=name) for name in names]}
    session: AgentSession[None] = AgentSession(llm=llm(script))
    async with session:
        await session.start(Agent(instructions="x", tools=[hold]))
        with anyio.fail_after(60):
            await session.run(user_input="go")
            session.user_started_speaking()  # busy: every request queues
            for name in names:
                gates[name].set()
                await anyio.wait_all_tasks_blocked()  # ``name`` asked before the next one
            if cancel is not None:
                scopes[cancel].cancel()
                await anyio.wait_all_tasks_blocked()
            session.user_stopped_speaking()
            await done.wait()
    assert tool_task_names() == []
    return log


async def test_floor_is_served_first_come_first_served() -> None:
    """HOST-3, CON-10, INV-15: X asks for the floor before Y, Y before Z: they hold it in
    that order on both backends, one at a time."""
    names = ["x", "y", "z", "w"]
    log = await _floor_queue(names)
    assert log == [f"{name} {step}" for name in names for step in ("in", "out")]


async def test_cancelled_floor_waiter_leaves_the_queue_without_losing_the_next_turn() -> None:
    """HOST-3: a cancelled waiter at the head of the line leaves it; the next in line (not
    any other) is served first, and nothing else is affected."""
    log = await _floor_queue(["x", "y", "z"], cancel="x")
    assert log == ["x cancelled", "y in", "y out", "z in", "z out"]


async def _foreground_across_handoff(*, session_scoped: bool) -> tuple[list[str], list[Any]]:
    """A call of agent "a" waits in ``foreground()`` while the user speaks; the conversation
    hands off to "b". Return what the call saw and its end events."""
    seen: list[str] = []
    asked = anyio.Event()
    done = anyio.Event()

    @function_tool
    async def confirm(ctx: RunContext[None]) -> None:
        """Confirm with the user once the floor is free (not cancellable)."""
        await ctx.update("checking")
        await asked.wait()
        try:
            async with ctx.foreground() as target:
                seen.append(f"held on {target.name}")  # type: ignore[attr-defined]
        except ActivityClosedError as exc:
            seen.append(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            done.set()

    toolset = AsyncToolset(id="s", tools=[confirm])  # type: ignore[list-item]
    session: AgentSession[None] = AgentSession(
        llm=llm({"go": [call("confirm")]}), tools=[toolset] if session_scoped else []
    )
    ended: list[CallEnded] = []
    session.on(CallEnded, ended.append)
    b = Agent(instructions="b", name="b")
    async with session:
        await session.start(
            Agent(instructions="a", name="a", tools=[] if session_scoped else [confirm])
        )
        with anyio.fail_after(60):
            await session.run(user_input="go")
            session.user_started_speaking()  # busy: the foreground waits
            asked.set()
            await anyio.wait_all_tasks_blocked()
            session.update_agent(b)
            session.user_stopped_speaking()
            await session.wait_for_agent(b)  # hung while the old activity drained
            await done.wait()
    assert tool_task_names() == []
    return seen, [(str(e.status), e.message) for e in ended]


async def test_agent_scoped_foreground_fails_when_its_activity_drains() -> None:
    """CTX-7 (f), HND-1, INV-18: a non-cancellable agent-scoped call waiting in
    ``foreground()`` gets ``ActivityClosedError`` when a handoff drains its activity, so the
    drain ends and the new agent becomes active."""
    seen, ended = await _foreground_across_handoff(session_scoped=False)
    assert seen == ["ActivityClosedError: a is no longer active"]
    assert ended == [("error", "a is no longer active")]


async def test_session_scoped_foreground_is_retargeted_by_a_handoff() -> None:
    """CTX-7 (b), HND-1 (6): a session-scoped call's foreground waits through the handoff and
    takes the floor on the new agent."""
    seen, ended = await _foreground_across_handoff(session_scoped=True)
    assert seen == ["held on b"]
    assert ended == [("done", None)]


async def test_update_then_foreground_speaks_after_the_updates_own_answer() -> None:
    """CON-9, CTX-7, INV-16: a tool that updates and enters ``foreground()`` at once: the
    LLM's answer to that update ("ok") is due, so it counts as being produced and is spoken
    first; then the floor is taken and the body speaks ("p1")."""
    done = anyio.Event()

    @function_tool
    async def book(ctx: RunContext[None]) -> None:
        """Start (answering the call), and at once speak in the foreground."""
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(ctx.update, "p0")
            async with ctx.foreground():
                await ctx.session.say("p1").wait_for_playout()  # type: ignore[attr-defined]
        done.set()

    session: AgentSession[None] = AgentSession(llm=llm({"go": [call("book")]}))
    async with session:
        await session.start(Agent(instructions="x", tools=[book]))
        with anyio.fail_after(60):
            await session.run(user_input="go")
            await done.wait()
    assert said(session.history)[-2:] == ["ok", "p1"]
    assert tool_task_names() == []


@pytest.mark.virtual_time
async def test_foreground_keeps_its_place_in_line_while_its_updates_settle() -> None:
    """HOST-3, CTX-7 (a), INV-16: X enters ``foreground()`` with an update still to be
    voiced, then Y enters; X's request dates from its entry, so once X's reply played, X
    holds the floor before Y."""
    log: list[str] = []
    gates = {"x": anyio.Event(), "y": anyio.Event()}
    done = anyio.Event()

    async def ask(ctx: RunContext[None], name: str) -> None:
        await ctx.update(f"{name} queued")
        await gates[name].wait()
        if name == "x":
            await ctx.update("x progress", template="{message}")
        async with ctx.foreground():
            log.append(f"{name} in")
            spoken.append(said(ctx.session.history)[-1])  # type: ignore[attr-defined]
            await anyio.sleep(1)
            log.append(f"{name} out")
        if len(log) == 4:
            done.set()

    @function_tool
    async def hold(ctx: RunContext[None], name: str) -> None:
        """Ask for the floor when told to (X with an update still pending)."""
        await ask(ctx, name)

    @function_tool
    async def hold_elsewhere(ctx: RunContext[None], name: str) -> None:
        """The same, run by another executor (its updates settle on their own)."""
        await ask(ctx, name)

    spoken: list[str] = []
    script = {"go": [call("hold", name="x"), call("hold_elsewhere", name="y")]}
    session: AgentSession[None] = AgentSession(llm=llm(script, reply="REPLY"))
    elsewhere = AsyncToolset(id="elsewhere", tools=[hold_elsewhere])  # type: ignore[list-item]
    async with session:
        await session.start(Agent(instructions="x", tools=[hold, elsewhere]))
        with anyio.fail_after(60):
            await session.run(user_input="go")
            session.user_started_speaking()
            for name in ("x", "y"):
                gates[name].set()
                await anyio.wait_all_tasks_blocked()
            session.user_stopped_speaking()
            await done.wait()
    assert log == ["x in", "x out", "y in", "y out"]
    assert spoken == ["REPLY", "REPLY"]  # X's update was voiced before either body
    assert tool_task_names() == []


@pytest.mark.parametrize("block", ["bare", "with_filler", "foreground", "own_task_group"])
async def test_error_during_own_cancellation_at_handoff_keeps_the_session(block: str) -> None:
    """Issue #11 item 1 and the exception-group matrix's last row: a cancellable tool whose
    child task raises while the handoff cancels it (a group mixing the cancellation with the
    error on trio) ends `cancelled`, inside any block, and the session lives on (INV-23)."""
    inside = anyio.Event()

    async def child() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            raise ConnectionError("connection lost while closing")

    async def work() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(child)
            inside.set()
            await anyio.sleep_forever()

    @function_tool(flags=ToolFlag.CANCELLABLE)
    async def fetch(ctx: RunContext[None]) -> str:
        """Fetch, slowly."""
        await ctx.update("fetching")
        if block == "with_filler":
            async with ctx.with_filler("still fetching", delay=100):
                await work()
        elif block == "foreground":
            async with ctx.foreground():
                await work()
        elif block == "own_task_group":
            async with anyio.create_task_group() as tg:
                tg.start_soon(work)
        else:
            await work()
        return "fetched"

    session: AgentSession[None] = AgentSession(llm=llm({"go": [call("fetch")], "hi": "hello"}))
    ended: list[CallEnded] = []
    session.on(CallEnded, ended.append)
    other = Agent(instructions="other")
    with anyio.fail_after(60):
        async with session:
            await session.start(Agent(instructions="x", tools=[fetch]))
            session.generate_reply(user_input="go")  # a run would stay open (RUN-2)
            await inside.wait()
            session.update_agent(other)
            await session.wait_for_agent(other)
            result = await session.run(user_input="hi")
    assert [(e.id, str(e.status), e.message) for e in ended] == [
        ("call_1_final", "cancelled", None)
    ]
    assert "hello" in said(result)
    assert tool_task_names() == []
