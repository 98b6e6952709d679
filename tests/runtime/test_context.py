"""RunContext inside a live conversation: foreground, filler, playout, interruptions, runs
(SPEC CTX-3..8, CON-10, FIL-1..7, RUN-1..3, INV-15, INV-16, INV-24)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from anyio_tools import (
    ActivityClosedError,
    DeliverySettled,
    FunctionCallOutput,
    ReplyUpdated,
    RunContext,
    ToolFlag,
    function_tool,
)
from anyio_tools.runtime import (
    Agent,
    AgentSession,
    ConversationItemAdded,
    SpeechHandle,
    TextOutput,
)
from anyio_tools.testing import tool_task_names
from tests.backends import running_on_uvloop

from .helpers import Recorder, call, llm, said

log: list[str] = []
gates: dict[str, anyio.Event] = {}


@pytest.fixture(autouse=True)
def reset() -> None:
    log.clear()
    gates.clear()
    gates["go"] = anyio.Event()


def spoken(events: Recorder) -> list[tuple[float, str]]:
    return [
        (e.item.created_at, e.item.content)
        for e in events.of(ConversationItemAdded)
        if getattr(e.item, "role", None) == "assistant"
    ]


async def run_session(tools: list[Any], user: str, script: dict[str, Any], **kw: Any) -> Any:
    session: AgentSession[None] = AgentSession(llm=llm(script, reply="REPLY"), **kw)
    events = Recorder(session)
    async with session:
        await session.start(Agent(instructions="x", tools=tools))
        await session.run(user_input=user)
        with anyio.fail_after(600):
            await gates["done"].wait()
        await session.wait_for_idle()
    return session, events


async def test_foreground_chat_order_equals_code_order() -> None:
    """CTX-7 (a), INV-16, scenario 38: the reply for earlier updates plays before the body.

    Under LED-7 the reply covering "b" is either the tool's own follow-up step (when "b" was
    in its request: ``covered``) or a deferred reply (``delivered``); either way it settled
    and finished playing before "c", and chat order is code order.
    """
    gates["done"] = anyio.Event()

    @function_tool
    async def steps(ctx: RunContext[None]) -> None:
        """Update twice, then speak in the foreground."""
        await ctx.update("a")
        await ctx.update("b")
        async with ctx.foreground():
            handle = ctx.session.say("c")  # type: ignore[attr-defined]
            await handle.wait_for_playout()
        gates["done"].set()

    session, events = await run_session([steps], "go", {"go": [call("steps")]})
    b = "call_1_update_1"
    (outcome,) = [e.outcome for e in events.of(DeliverySettled) if b in e.update_ids]
    covering = "ok" if outcome == "covered" else "REPLY"  # the follow-up, or a deferred reply
    assert outcome in ("covered", "delivered")
    order = [
        "b settled"
        if isinstance(e, DeliverySettled) and b in e.update_ids
        else getattr(e.item, "content", None)
        for e in events.events
        if isinstance(e, DeliverySettled | ConversationItemAdded)
    ]
    assert [o for o in order if o in (covering, "b settled", "c")] == [
        covering,
        "b settled",
        "c",
    ]
    assert said(session.history)[-2:] == [covering, "c"]
    outputs = [i.call_id for i in session.history.items if isinstance(i, FunctionCallOutput)]
    assert outputs[:2] == ["call_1", b]


async def test_two_floor_holders_never_interleave() -> None:
    """CON-10, INV-15, HOST-3, scenario 39: a second foreground waits for the first to exit,
    and the floor goes to the one that asked first."""
    gates["done"] = anyio.Event()
    inside = {"count": 0, "most": 0}
    asked: list[str] = []

    @function_tool
    async def hold(ctx: RunContext[None], name: str) -> None:
        """Hold the floor for a while."""
        await ctx.update(f"{name} queued")
        asked.append(name)
        async with ctx.foreground():
            inside["count"] += 1
            inside["most"] = max(inside["most"], inside["count"])
            log.append(f"{name} in")
            await anyio.sleep(0.05 if running_on_uvloop() else 5)  # briefly in real time
            log.append(f"{name} out")
            inside["count"] -= 1
        if len(log) == 4:
            gates["done"].set()

    await run_session([hold], "go", {"go": [call("hold", name="x"), call("hold", name="y")]})
    assert inside["most"] == 1  # checked here: an assert in the tool would be its error
    first, second = asked  # HOST-3: served in request order
    assert log == [f"{first} in", f"{first} out", f"{second} in", f"{second} out"]


async def test_nested_foreground_does_not_deadlock() -> None:
    """CTX-7 (d), scenario 40: an inner entry by the holder passes; the floor frees after."""
    gates["done"] = anyio.Event()

    @function_tool
    async def nest(ctx: RunContext[None]) -> None:
        """Nest foregrounds."""
        await ctx.update("start")
        async with ctx.foreground(), ctx.foreground():
            log.append("inner")
        log.append("released")
        gates["done"].set()

    session, _ = await run_session([nest], "go", {"go": [call("nest")]})
    assert log == ["inner", "released"]
    assert session.is_idle() is False  # closed now


async def test_floor_that_never_arrives_raises_on_close() -> None:
    """CTX-7 (f), scenario 42: session close while waiting raises ActivityClosedError."""
    outcome: list[str] = []

    @function_tool(flags=ToolFlag.CANCELLABLE)
    async def wait_floor(ctx: RunContext[None]) -> None:
        """Wait for the floor while the user keeps talking."""
        await ctx.update("waiting")
        await gates["go"].wait()
        try:
            async with ctx.foreground():
                outcome.append("held")
        except ActivityClosedError:
            outcome.append("closed")
            raise

    session: AgentSession[None] = AgentSession(llm=llm({"go": [call("wait_floor")]}))
    async with session:
        await session.start(Agent(instructions="x", tools=[wait_floor]))
        await session.run(user_input="go")
        session.user_started_speaking()  # never idle again
        gates["go"].set()
        await anyio.wait_all_tasks_blocked()
    assert outcome == ["closed"]
    assert tool_task_names() == []


@pytest.mark.virtual_time
async def test_filler_fires_after_the_dwell_and_honours_interval_and_max_steps() -> None:
    """FIL-2, FIL-4, FIL-5, INV-24, scenario 45: fires at dwell, repeats, stops at max."""
    gates["done"] = anyio.Event()
    steps: list[int] = []

    def source(step: int) -> str:
        steps.append(step)
        return f"filler {step}"

    @function_tool
    async def slow(ctx: RunContext[None]) -> None:
        """Work slowly under a filler."""
        await ctx.update("started")
        gates["t0"] = anyio.Event()
        async with ctx.with_filler(source, delay=2, interval=10, max_steps=2):
            await anyio.sleep(60)
        gates["done"].set()

    _, events = await run_session([slow], "go", {"go": [call("slow")]})
    fillers = [(t, text) for t, text in spoken(events) if text.startswith("filler")]
    assert [text for _, text in fillers] == ["filler 0", "filler 1"]
    assert steps == [0, 1]
    assert fillers[1][0] - fillers[0][0] >= 10  # at least interval apart
    last_other = max(
        t for t, text in spoken(events) if not text.startswith("filler") and t < fillers[0][0]
    )
    assert fillers[0][0] - last_other >= 2  # an uninterrupted dwell first


@pytest.mark.virtual_time
async def test_filler_dwell_restarts_on_update() -> None:
    """FIL-3, UPD-3: updates during the dwell push the filler back."""
    gates["done"] = anyio.Event()

    @function_tool
    async def busy(ctx: RunContext[None]) -> None:
        """Update often under a filler, then stop updating."""
        await ctx.update("started")
        async with ctx.with_filler("filler", delay=3):
            for _ in range(4):
                await anyio.sleep(2)
                await ctx.update("tick", template="{message}")
            log.append(f"{anyio.current_time():.0f}")
            await anyio.sleep(10)
        gates["done"].set()

    _session, events = await run_session([busy], "go", {"go": [call("busy")]})
    texts = [text for _, text in spoken(events)]
    assert texts.count("filler") == 1
    filler_time = next(t for t, text in spoken(events) if text == "filler")
    last_tick = float(log[0])
    assert filler_time >= last_tick  # nothing fired while updates kept coming


@pytest.mark.virtual_time
async def test_filler_stops_on_interruption_and_validates_arguments() -> None:
    """FIL-1, FIL-6, FIL-7, scenario 46: bad values raise; an interrupted turn stops it."""
    gates["done"] = anyio.Event()
    errors: list[str] = []

    @function_tool
    async def guarded(ctx: RunContext[None]) -> None:
        """Try bad fillers, then one whose turn gets interrupted."""
        for kwargs in ({"delay": -1}, {"interval": -2}, {"max_steps": 0}):
            try:
                async with ctx.with_filler("x", **kwargs):
                    pass
            except ValueError as exc:
                errors.append(str(exc))
        with pytest.raises(TypeError, match="source must be a str or a callable"):
            async with ctx.with_filler(3):  # type: ignore[arg-type]
                pass
        ctx.speech_handle.interrupt()  # type: ignore[attr-defined]
        async with ctx.with_filler("never", delay=0):
            await anyio.sleep(30)
        gates["done"].set()

    _, events = await run_session([guarded], "go", {"go": [call("guarded")]})
    assert errors == [
        "delay must be >= 0, got -1",
        "interval must be None or >= 0, got -2",
        "max_steps must be None or >= 1, got 0",
    ]
    assert "never" not in [text for _, text in spoken(events)]
    assert tool_task_names() == []


@pytest.mark.virtual_time
async def test_wait_for_playout_and_circular_wait_guard() -> None:
    """CTX-4, CTX-5, scenario 44: own step's playout is waitable; the full turn is not."""
    gates["done"] = anyio.Event()

    @function_tool
    async def check(ctx: RunContext[None]) -> None:
        """Wait for the step's playout; try the full turn."""
        await ctx.wait_for_playout()
        log.append("step played")
        turn = ctx.speech_handle
        assert isinstance(turn, SpeechHandle)
        with pytest.raises(RuntimeError, match=r"use ctx.wait_for_playout\(\)"):
            await turn.wait_for_playout()
        await ctx.update("now in the background")
        await turn.wait_for_playout()  # legal once non-blocking
        log.append("turn done")
        gates["done"].set()

    script = {"go": "unused"}
    session: AgentSession[None] = AgentSession(
        llm=llm(script), output=TextOutput(chars_per_second=5)
    )
    from anyio_tools.runtime import ScriptedResponse

    def say_then_call(request: Any) -> Any:
        if request.tool_outputs or request.extra_instructions:
            return "ok"
        return ScriptedResponse("one moment please", calls=[call("check")])

    from anyio_tools.runtime import ScriptedLLM

    session = AgentSession(llm=ScriptedLLM(say_then_call), output=TextOutput(chars_per_second=5))
    async with session:
        await session.start(Agent(instructions="x", tools=[check]))
        await session.run(user_input="go")
        with anyio.fail_after(600):
            await gates["done"].wait()
    assert log == ["step played", "turn done"]


async def test_disallow_interruptions_on_an_interrupted_turn_raises() -> None:
    """CTX-3: too late once interrupted."""
    gates["done"] = anyio.Event()

    @function_tool
    async def late(ctx: RunContext[None]) -> None:
        """Interrupt, then try to protect the turn."""
        ctx.speech_handle.interrupt()  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError, match="already interrupted"):
            ctx.disallow_interruptions()
        gates["done"].set()

    await run_session([late], "go", {"go": [call("late")]})


@pytest.mark.virtual_time
async def test_background_call_does_not_hold_the_run_open() -> None:
    """RUN-1, RUN-3, scenario 43: the run ends with its reply; an hour-long call runs on."""

    @function_tool
    async def sleeper(ctx: RunContext[None]) -> None:
        """Sleep an hour in the background."""
        await ctx.update("sleeping")
        await anyio.sleep(3600)

    session: AgentSession[None] = AgentSession(llm=llm({"go": [call("sleeper")]}))
    async with session:
        await session.start(Agent(instructions="x", tools=[sleeper]))
        start = anyio.current_time()
        result = await session.run(user_input="go")
        assert anyio.current_time() - start < 3600
        assert [c.name for c in session.registry.running()] == ["sleeper"]
    contents = [getattr(i, "content", None) for i in result.items]
    assert contents[-1] == "ok"


@pytest.mark.virtual_time
async def test_user_speech_interrupts_interruptible_speech() -> None:
    """CON-9: the user starting to speak cuts the agent; the message is marked interrupted."""
    session: AgentSession[None] = AgentSession(llm=llm({}), output=TextOutput(chars_per_second=1))
    events = Recorder(session)
    async with session:
        await session.start(Agent(instructions="x"))
        handle = session.say("a long sentence that takes a while")
        await anyio.sleep(3)
        session.user_started_speaking()
        await handle.wait_for_playout()
        assert handle.interrupted
        session.user_stopped_speaking()
        protected = session.say("listen", allow_interruptions=False)
        session.user_started_speaking()
        session.user_stopped_speaking()
        await protected.wait_for_playout()
        assert not protected.interrupted
    messages = [
        e.item
        for e in events.of(ConversationItemAdded)
        if getattr(e.item, "role", "") == "assistant"
    ]
    assert [(m.content[:6], m.interrupted) for m in messages] == [
        ("a long", True),
        ("listen", False),
    ]
    assert not [e for e in events.of(ReplyUpdated)]
