"""Turn fidelity: runs across handoffs, the agent's state while tools run, the user speaking
over a tool phase, the user-away timer (issue #20; SPEC CON-11, RUN-1, RUN-2, HOST-8, EXE-12,
CTX-3)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from anyio_tools import (
    AgentHandoff,
    CallEnded,
    ChatMessage,
    FunctionCallOutput,
    RunContext,
    StopResponse,
    function_tool,
)
from anyio_tools.runtime import (
    Agent,
    AgentSession,
    AgentState,
    AgentStateChanged,
    ConversationItemAdded,
    LLMRequest,
    ScriptedLLM,
    ScriptedResponse,
    UserState,
    UserStateChanged,
)
from tests.backends import running_on_uvloop

from .helpers import call

targets: dict[str, Agent] = {}


class Greeter(Agent):
    """An agent whose ``on_enter`` asks its LLM for a greeting."""

    def __init__(self, session: AgentSession[Any], pause: float | None = None) -> None:
        super().__init__(instructions="greeter", name="greeter")
        self.session = session
        self.pause = pause

    async def on_enter(self) -> None:
        if self.pause is not None:  # looks the customer up first
            await anyio.sleep(self.pause)
        self.session.generate_reply(instructions="greet")


def script(request: LLMRequest) -> ScriptedResponse | str:
    if request.extra_instructions == "greet":
        return "welcome"
    if request.extra_instructions is not None:
        return "reply"
    if request.tool_outputs:
        return "ok"
    name = request.last_user_text or ""
    return ScriptedResponse("", calls=[call(name)]) if name else "hmm"


@function_tool
async def transfer() -> Agent:
    """Hand off to the greeter."""
    return targets["greeter"]


@function_tool
async def transfer_in_foreground(ctx: RunContext[None]) -> None:
    """Go non-blocking, then hand off inside the foreground."""
    await ctx.update("transferring")
    async with ctx.foreground():
        ctx.session.update_agent(targets["greeter"])  # type: ignore[attr-defined]


def texts(items: Any) -> list[str]:
    return [item.content for item in items if isinstance(item, ChatMessage)]


async def run_handoff(tool: str, pause: float | None) -> tuple[list[Any], list[str]]:
    session: AgentSession[None] = AgentSession(llm=ScriptedLLM(script))
    targets["greeter"] = Greeter(session, pause)
    main = Agent(instructions="main", tools=[transfer, transfer_in_foreground], name="main")
    with anyio.fail_after(600):
        async with session:
            await session.start(main)
            result = await session.run(user_input=tool)
            history = texts(session.history.items)
    return list(result.items), history


@pytest.mark.parametrize("pause", [None, 0, 1])
@pytest.mark.parametrize("tool", ["transfer", "transfer_in_foreground"])
async def test_run_includes_the_greeting_of_the_agent_it_handed_off_to(
    tool: str, pause: float | None
) -> None:
    """Issue #20 item 1, CON-11, RUN-1, RUN-2, scenario 43: a run that hands off to an agent
    whose on_enter generates a reply returns only after that reply, which is among its items.
    Run 50 times per backend: it was a race (the new activity looked idle before its
    on_enter had started, or while it awaited something before generating)."""
    if pause and running_on_uvloop():
        pause = 0.005  # a real clock: a pause that still suspends on_enter, not a second
    for _ in range(50):
        items, history = await run_handoff(tool, pause)
        assert texts(items)[-1] == "welcome", texts(items)
        assert history[-1] == "welcome"
        markers = [item for item in items if isinstance(item, AgentHandoff)]
        assert [(m.old_agent, m.new_agent) for m in markers] == [("main", "greeter")]


async def test_idle_and_agent_waits_on_a_session_never_entered_raise() -> None:
    """Issue #20 item 2: wait_for_idle() and wait_for_agent() on a session that was never
    entered raise the RuntimeError of say(), run(), start() and update_agent()."""
    session: AgentSession[None] = AgentSession()
    agent = Agent(instructions="x")
    message = r"use the AgentSession inside 'async with' \(it is not open\)"
    with anyio.fail_after(5):
        with pytest.raises(RuntimeError, match=message):
            await session.wait_for_idle()
        with pytest.raises(RuntimeError, match=message):
            await session.wait_for_agent(agent)
        with pytest.raises(RuntimeError, match=message):
            session.say("hi")
        with pytest.raises(RuntimeError, match=message):
            await session.run(user_input="hi")
        with pytest.raises(RuntimeError, match=message):
            await session.start(agent)
        with pytest.raises(RuntimeError, match=message):
            session.update_agent(agent)


# -- item 3: the agent's state while a turn's calls run (HOST-8) ------------------------------


gates: dict[str, anyio.Event] = {}


def tools_script(request: LLMRequest) -> ScriptedResponse | str:
    if request.extra_instructions is not None:
        return "reply"
    if request.tool_outputs:
        return "ok"
    names = (request.last_user_text or "").split()
    return ScriptedResponse("let me check", calls=[call(name) for name in names])


@function_tool
async def lookup(ctx: RunContext[None]) -> str:
    """Look something up slowly, with a filler."""
    async with ctx.with_filler("one moment", delay=2):
        await gates["lookup"].wait()
    return "found"


@function_tool
async def quick() -> str:
    """Answer at once."""
    return "quick result"


@function_tool
async def protected(ctx: RunContext[None]) -> str:
    """Disallow interruptions, then work."""
    ctx.disallow_interruptions()
    await gates["lookup"].wait()
    return "protected result"


def said_by(events: list[Any], text: str) -> anyio.Event:
    """An event set when ``text`` is added to the history."""
    said = anyio.Event()

    def watch(event: Any) -> None:
        if getattr(getattr(event, "item", None), "content", None) == text:
            said.set()

    events.append(watch)
    return said


def open_session() -> tuple[AgentSession[None], list[Any], list[tuple[str, str]]]:
    session: AgentSession[None] = AgentSession(llm=ScriptedLLM(tools_script))
    listeners: list[Any] = []
    states: list[tuple[str, str]] = []
    session.on(AgentStateChanged, lambda e: states.append((e.old_state, e.new_state)))
    session.on(ConversationItemAdded, lambda e: [listen(e) for listen in listeners])
    return session, listeners, states


@pytest.fixture(autouse=True)
def fresh_gates() -> None:
    gates.clear()
    gates["lookup"] = anyio.Event()


async def test_agent_thinks_while_its_turns_calls_run_and_fillers_do_not_reset_it() -> None:
    """Issue #20 item 3, HOST-8: once the turn's speech ended and while its call runs, the
    agent is "thinking"; a filler speaks and brings it back to "thinking", never
    "listening"; the state goes back to "listening" only after the follow-up."""
    session, listeners, states = open_session()
    filler_said = said_by(listeners, "one moment")
    with anyio.fail_after(600):
        async with session:
            await session.start(Agent(instructions="x", tools=[lookup]))
            await anyio.wait_all_tasks_blocked()
            assert states == [(AgentState.INITIALIZING, AgentState.LISTENING)]
            states.clear()
            handle = session.generate_reply(user_input="lookup")
            await filler_said.wait()
            await anyio.wait_all_tasks_blocked()
            assert session.agent_state is AgentState.THINKING
            gates["lookup"].set()
            await handle.wait_for_playout()
            await session.wait_for_idle()
    L, T, S = AgentState.LISTENING, AgentState.THINKING, AgentState.SPEAKING
    assert states == [
        (L, T),  # the LLM generates
        (T, S),  # "let me check"
        (S, T),  # the call runs
        (T, S),  # the filler
        (S, T),  # back to the running call
        (T, S),  # the follow-up "ok" (generated while already thinking)
        (S, L),
    ]
    assert texts(session.history.items) == ["lookup", "let me check", "one moment", "ok"]


# -- item 4: the user speaking over a tool phase (EXE-12, CTX-3) ------------------------------


async def test_user_speaking_during_tool_phase_interrupts_the_turn_and_keeps_results() -> None:
    """Issue #20 item 4, EXE-12: the user speaking while a turn's calls run interrupts the
    turn like barge-in during speech: no follow-up is spoken over the user; the result that
    completed before, and the one completing after, stay in the history; the calls are not
    cancelled."""
    session, _, _ = open_session()
    events: list[Any] = []
    session.on(CallEnded, events.append)
    with anyio.fail_after(600):
        async with session:
            await session.start(Agent(instructions="x", tools=[quick, slow]))
            handle = session.generate_reply(user_input="quick slow")
            await anyio.wait_all_tasks_blocked()
            assert [e.status for e in events] == ["done"]  # quick ended, slow runs
            session.user_started_speaking()
            assert handle.interrupted
            gates["lookup"].set()
            await handle.wait_for_playout()
            session.user_stopped_speaking()
            await session.wait_for_idle()
    assert texts(session.history.items) == ["quick slow", "let me check"]
    outputs = [i for i in session.history.items if isinstance(i, FunctionCallOutput)]
    assert [(o.output, o.reply_required) for o in outputs] == [
        ("quick result", False),
        ("slow result", False),
    ]
    assert [e.status for e in events] == ["done", "done"]


@function_tool
async def slow() -> str:
    """Work until the gate opens."""
    await gates["lookup"].wait()
    return "slow result"


async def test_protected_turn_waits_for_the_user_before_its_follow_up() -> None:
    """Issue #20 item 4, CTX-3: a turn whose call disallowed interruptions is not interrupted
    by the user speaking during its tool phase, and its follow-up is not spoken over the
    user: it waits until the user stops speaking, then plays."""
    session, _, _ = open_session()
    with anyio.fail_after(600):
        async with session:
            await session.start(Agent(instructions="x", tools=[protected]))
            handle = session.generate_reply(user_input="protected")
            await anyio.wait_all_tasks_blocked()
            session.user_started_speaking()
            gates["lookup"].set()
            await anyio.wait_all_tasks_blocked()
            assert not handle.interrupted
            assert not handle.done
            assert texts(session.history.items) == ["protected", "let me check"]
            session.user_stopped_speaking()
            await handle.wait_for_playout()
    assert texts(session.history.items) == ["protected", "let me check", "ok"]
    outputs = [i for i in session.history.items if isinstance(i, FunctionCallOutput)]
    assert [(o.output, o.reply_required) for o in outputs] == [("protected result", True)]


# -- HOST-8: the user-away timer ---------------------------------------------------------------


@function_tool
async def background(ctx: RunContext[None]) -> None:
    """Answer at once, then work for 30 seconds and end without a reply."""
    await ctx.update("working")
    await anyio.sleep(30)
    raise StopResponse()


@pytest.mark.virtual_time  # asserts exact timer readings
async def test_user_is_away_after_the_timeout_of_quiet_and_never_while_a_call_runs() -> None:
    """HOST-8 (issue #20 item 3): with user_away_timeout=10 the user is declared away 10 s
    after the session went quiet, not while a call runs (in its tool phase or in the
    background); the call ending restarts the timer; speaking brings the user back."""
    session: AgentSession[None] = AgentSession(llm=ScriptedLLM(tools_script), user_away_timeout=10)
    times: dict[str, list[float]] = {"away": [], "listening": [], "ended": []}
    session.on(
        UserStateChanged,
        lambda e: (
            times["away"].append(anyio.current_time()) if e.new_state is UserState.AWAY else None
        ),
    )
    session.on(
        AgentStateChanged,
        lambda e: (
            times["listening"].append(anyio.current_time())
            if e.new_state is AgentState.LISTENING
            else None
        ),
    )
    session.on(CallEnded, lambda e: times["ended"].append(anyio.current_time()))
    away = anyio.Event()
    session.on(UserStateChanged, lambda e: away.set() if e.new_state is UserState.AWAY else None)
    with anyio.fail_after(600):
        async with session:
            await session.start(Agent(instructions="x", tools=[background]))
            await away.wait()
            assert times["away"][0] - times["listening"][0] == 10
            session.user_started_speaking()
            assert session.user_state is UserState.SPEAKING
            session.user_stopped_speaking()
            away = anyio.Event()
            await session.run(user_input="background")
            await away.wait()
    assert len(times["ended"]) == 1
    assert times["away"][1] > times["ended"][0]  # never while the call ran (30 s > 10 s)
    assert times["away"][1] - max(times["ended"][0], times["listening"][-1]) == 10


async def test_user_away_timeout_is_checked() -> None:
    """HOST-8: user_away_timeout must be a number > 0 or None."""
    for bad in (0, -1, True, "10"):
        with pytest.raises(ValueError, match=r"user_away_timeout must be a number > 0 or None"):
            AgentSession(user_away_timeout=bad)  # type: ignore[arg-type]
    await anyio.lowlevel.checkpoint()


@function_tool
async def lookup_repeating(ctx: RunContext[None]) -> str:
    """Look something up slowly, with a filler every 3 seconds."""
    async with ctx.with_filler("one moment", delay=2, interval=3):
        await gates["lookup"].wait()
    return "found"


@pytest.mark.virtual_time  # a filler dwell and speech in virtual seconds
async def test_user_speaking_during_tool_phase_stops_the_turns_filler() -> None:
    """Issue #20 item 4, FIL-6: barge-in during the tool phase interrupts the turn, so its
    filler stops (nothing more is said over or after the user); the call goes on."""
    session, listeners, _ = open_session()
    filler_said = said_by(listeners, "one moment")
    with anyio.fail_after(600):
        async with session:
            await session.start(Agent(instructions="x", tools=[lookup_repeating]))
            handle = session.generate_reply(user_input="lookup_repeating")
            await filler_said.wait()
            session.user_started_speaking()
            session.user_stopped_speaking()
            await anyio.sleep(30)  # ten filler intervals of virtual time
            assert handle.interrupted
            assert not handle.done  # the call still runs
            gates["lookup"].set()
            await handle.wait_for_playout()
    assert texts(session.history.items) == ["lookup_repeating", "let me check", "one moment"]
    outputs = [i for i in session.history.items if isinstance(i, FunctionCallOutput)]
    assert [(o.output, o.reply_required) for o in outputs] == [("found", False)]
