"""Normal turns of the reference runtime cover the deferred updates their LLM requests
contained (issue #15; LED-3, LED-7 in `anyio_tools._ledger`; CTX-7, INV-16, scenario 38).

A step's calls are `steps` (updates twice, so "b" is owed, and maybe takes the floor) and
`hold` (answers when the test says so). The user speaks while they run, so no deferred reply
can take "b" first; the follow-up step is built once the user stops: "b" is in its request.
Here, next to the generated programs, so that ``make soak`` runs them too.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from anyio_tools import (
    CallHandle,
    ChatMessage,
    Delivery,
    DeliverySettled,
    FunctionCallOutput,
    ReplyUpdated,
    RunContext,
    ToolExecutor,
    function_tool,
)
from anyio_tools._calls import current_call
from anyio_tools.runtime import (
    Agent,
    AgentSession,
    ConversationItemAdded,
    LLMRequest,
    ScriptedLLM,
    ScriptedResponse,
    SpeechHandle,
    TextOutput,
)
from anyio_tools.runtime._turns import TurnRunner
from anyio_tools.testing import tool_task_names
from tests.runtime.helpers import Recorder, call, llm, said

from .session_scenario import (
    Act,
    Interrupt,
    UserSays,
    UserSpeaking,
    UserTurn,
    Wait,
    session_scenario,
)

gates: dict[str, anyio.Event] = {}
handles: dict[str, CallHandle] = {}
options = {"foreground": False}

B = "call_1_update_1"
FINAL = "call_1_final"


@pytest.fixture(autouse=True)
def fresh() -> None:
    gates.clear()
    handles.clear()
    gates.update(made=anyio.Event(), hold=anyio.Event(), late=anyio.Event())
    options["foreground"] = False


def _own_handle(name: str) -> None:
    handle = current_call.get()
    if handle is not None:
        handles[name] = handle


@function_tool
async def steps(ctx: RunContext[None]) -> str | None:
    """Update twice and return; in the foreground variant, say "c" holding the floor first."""
    _own_handle("steps")
    await ctx.update("a")
    await ctx.update("b")
    gates["made"].set()
    if options["foreground"]:
        async with ctx.foreground():
            await ctx.session.say("c").wait_for_playout()  # type: ignore[attr-defined]
        return None
    return "done"


@function_tool
async def hold(ctx: RunContext[None]) -> str:
    """Answer when the test says so."""
    await gates["hold"].wait()
    return "held"


def settled(events: Recorder) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in events.of(DeliverySettled):
        for entry in e.update_ids:
            out.setdefault(entry, []).append(str(e.outcome))
    return out


def output_ids(request: LLMRequest) -> set[str]:
    return {i.call_id for i in request.chat_ctx.items if isinstance(i, FunctionCallOutput)}


async def _follow_up_sees_b(
    session: AgentSession[None], scripted: ScriptedLLM, *, interruptible: bool = False
) -> SpeechHandle:
    """Play "go" up to the follow-up step, whose request contains "b" (and the final)."""
    turn = session.generate_reply(user_input="go", allow_interruptions=False)
    session.user_started_speaking()  # no idle, so no deferred reply, until the follow-up
    with anyio.fail_after(60):
        await gates["made"].wait()
    await anyio.wait_all_tasks_blocked()
    gates["hold"].set()
    await anyio.wait_all_tasks_blocked()  # the follow-up waits for the user to stop
    turn.allow_interruptions = interruptible
    session.user_stopped_speaking()
    await anyio.wait_all_tasks_blocked()
    assert B in output_ids(scripted.requests[-1])
    return turn


async def test_a_follow_up_step_covers_the_updates_in_its_request() -> None:
    """LED-3, LED-7: "b" and the final result were queued and in the follow-up step's
    request; the turn completed heard, so they are ``covered`` (one `DeliverySettled` each)
    and no deferred reply voices them."""
    scripted = llm({"go": [call("steps"), call("hold")]})
    session: AgentSession[None] = AgentSession(llm=scripted)
    events = Recorder(session)
    async with session:
        await session.start(Agent(instructions="x", tools=[steps, hold]))
        turn = await _follow_up_sees_b(session, scripted)
        with anyio.fail_after(60):
            await turn.wait_for_playout()
            await session.wait_for_idle()
        await anyio.wait_all_tasks_blocked()
        assert turn.heard
        assert events.of(ReplyUpdated) == []
        assert settled(events) == {B: ["covered"], FINAL: ["covered"]}
        assert handles["steps"].deliveries() == (
            Delivery(B, "covered", None, 0),
            Delivery(FINAL, "covered", None, 0),
        )
    assert said(session.history) == ["go", "ok"]
    assert tool_task_names() == []


@pytest.mark.virtual_time  # the follow-up's speech plays at 10 characters per second
async def test_an_interrupted_turn_covers_nothing() -> None:
    """LED-3, LED-4, LED-7: the follow-up step saw "b" but was cut before it was heard, so
    "b" stays owed and the next idle's deferred reply voices it: ``delivered``."""
    scripted = llm({"go": [call("steps"), call("hold")]}, reply="You heard b.")
    session: AgentSession[None] = AgentSession(llm=scripted, output=TextOutput(chars_per_second=10))
    events = Recorder(session)
    async with session:
        await session.start(Agent(instructions="x", tools=[steps, hold]))
        turn = await _follow_up_sees_b(session, scripted, interruptible=True)
        assert not turn.done  # "ok" is playing
        session.interrupt()
        with anyio.fail_after(600):
            while FINAL not in settled(events):
                await session.wait_for_idle()
                await anyio.sleep(1)
        assert not turn.heard
        assert settled(events) == {B: ["delivered"], FINAL: ["delivered"]}
        replies = [(e.update_ids, str(e.status)) for e in events.of(ReplyUpdated)]
        assert replies == [((B, FINAL), "scheduled"), ((B, FINAL), "completed")]
        assert handles["steps"].deliveries() == (
            Delivery(B, "delivered", None, 1),
            Delivery(FINAL, "delivered", None, 1),
        )
    assert tool_task_names() == []


@function_tool
async def late(ctx: RunContext[None]) -> str:
    """Answer at once; update again when the test says so (while the follow-up streams)."""
    _own_handle("late")
    await ctx.update("a")
    await gates["late"].wait()
    await ctx.update("c")
    return "done"


@pytest.mark.virtual_time  # the follow-up's LLM takes 5 seconds to answer
async def test_an_update_added_while_the_request_streams_is_not_covered() -> None:
    """LED-3, LED-7: an update that entered the chat after the follow-up step's request was
    built was not seen by that turn: a deferred reply voices it after the turn."""

    def script(request: LLMRequest) -> ScriptedResponse | str:
        if request.extra_instructions is not None:
            return "You heard c."
        if request.tool_outputs:
            return ScriptedResponse("ok", delay=5)
        return ScriptedResponse("", calls=[call("late")])

    scripted = ScriptedLLM(script)
    session: AgentSession[None] = AgentSession(llm=scripted)
    events = Recorder(session)
    async with session:
        await session.start(Agent(instructions="x", tools=[late]))
        turn = session.generate_reply(user_input="go")
        with anyio.fail_after(600):
            while len(scripted.requests) < 2:  # the follow-up's request was sent
                await anyio.wait_all_tasks_blocked()
                await anyio.lowlevel.checkpoint()
            gates["late"].set()  # "c" and the final result enter the chat while it streams
            await turn.wait_for_playout()
            while "call_1_final" not in settled(events):
                await session.wait_for_idle()
                await anyio.sleep(1)
        assert turn.heard
        assert "call_1_update_1" not in output_ids(scripted.requests[1])
        entries = ("call_1_update_1", "call_1_final")
        assert settled(events) == {entry: ["delivered"] for entry in entries}
        replies = [(e.update_ids, str(e.status)) for e in events.of(ReplyUpdated)]
        assert replies == [(entries, "scheduled"), (entries, "completed")]
    assert said(session.history) == ["go", "ok", "You heard c."]
    assert tool_task_names() == []


async def test_foreground_waits_for_the_turn_that_covers_its_updates() -> None:
    """Scenario 38 under LED-7 (CTX-7 (a), DEL-9, INV-16): `steps` updates "a" and "b", then
    says "c" in the foreground. The follow-up step's request contained "b", so that turn is
    the reply covering it: "b" is ``covered`` once the turn was heard, no deferred reply
    repeats it, and "c" is said after the turn finished playing; chat order is code order."""
    options["foreground"] = True
    scripted = llm({"go": [call("steps"), call("hold")]})
    session: AgentSession[None] = AgentSession(llm=scripted)
    events = Recorder(session)
    async with session:
        await session.start(Agent(instructions="x", tools=[steps, hold]))
        await _follow_up_sees_b(session, scripted)
        with anyio.fail_after(60):
            while "c" not in said(session.history):
                await session.wait_for_idle()
                await anyio.wait_all_tasks_blocked()
    assert events.of(ReplyUpdated) == []
    assert settled(events)[B] == ["covered"]
    order: list[Any] = []
    for e in events.events:
        if isinstance(e, DeliverySettled) and B in e.update_ids:
            order.append("b covered")
        elif isinstance(e, ConversationItemAdded) and isinstance(e.item, ChatMessage):
            order.append(e.item.content)
    assert order == ["go", "ok", "b covered", "c"]
    items = [
        i.call_id if isinstance(i, FunctionCallOutput) else i.content
        for i in session.history.items
        if isinstance(i, FunctionCallOutput | ChatMessage)
    ]
    assert items.index("call_1") < items.index(B) < items.index("ok") < items.index("c")
    assert tool_task_names() == []


@pytest.mark.virtual_time  # waits of seconds, speech at 20 characters per second
async def test_a_runtime_that_covers_unheard_turns_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """LED-1, LED-3 (issue #15): the generated-conversation machinery fails on a runtime that
    covers what a request held as soon as it is sent, before the turn was heard: here the
    turn is cut, so the covered item was never heard."""
    original = TurnRunner._queued_in

    def eager(
        self: TurnRunner, activity: Any, chat_ctx: Any
    ) -> list[tuple[ToolExecutor, list[str]]]:
        queued = original(self, activity, chat_ctx)
        for executor, ids in queued:
            executor.mark_covered(ids)
        return queued

    monkeypatch.setattr(TurnRunner, "_queued_in", eager)
    program = [
        UserTurn(0),
        Wait(5),
        Act(0, "update"),  # the call answers
        Wait(5),
        UserSpeaking(speaking=True),
        Act(0, "update"),  # owed; no deferred reply while the user speaks
        UserSays(),  # its request holds the update
        Interrupt(),  # cut: not heard
    ]

    async def run() -> None:
        async with session_scenario() as sc:  # checks everything when it exits
            for command in program:
                await sc.apply(command)

    with pytest.raises(AssertionError, match=r"^LED-3"):
        await run()
