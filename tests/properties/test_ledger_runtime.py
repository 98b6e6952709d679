"""Issue #15 through the reference runtime, on both backends: a handoff with a committed call
in flight (CAN-11, CAN-10, LED-1). Here so that ``make soak`` runs it with the others."""

from __future__ import annotations

import anyio

from anyio_tools import (
    CallEnded,
    DeliverySettled,
    ReplyUpdated,
    RunContext,
    ToolFlag,
    function_tool,
)
from anyio_tools.runtime import Agent, AgentSession, TextOutput
from anyio_tools.testing import tool_task_names
from tests.runtime.helpers import Recorder, call, llm

released: dict[str, anyio.Event] = {}


@function_tool(flags=ToolFlag.CANCELLABLE)
async def pay(ctx: RunContext[None]) -> str:
    """Pay; past the commit point it cannot be stopped."""
    await ctx.update("paying")
    await ctx.commit()
    await released["pay"].wait()
    return "paid"


@function_tool(flags=ToolFlag.CANCELLABLE)
async def spin(ctx: RunContext[None]) -> None:
    """Spin until cancelled."""
    await ctx.update("spinning")
    await anyio.sleep_forever()


class Support(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="support", name="support")


async def test_a_handoff_awaits_a_committed_call_and_cancels_the_others() -> None:
    """CAN-11: the outgoing activity's drain cancels an uncommitted cancellable call (cause
    ``handoff``) and waits for the committed one, which finishes ``done``; LED-1: its owed
    items all get one ledger outcome (the activity closed before they were voiced)."""
    released["pay"] = anyio.Event()
    support = Support()
    script = {"spin": [call("spin")], "pay": [call("pay")]}
    session: AgentSession[None] = AgentSession(llm=llm(script))
    events = Recorder(session)
    main = Agent(instructions="main", tools=[spin, pay], name="main")
    with anyio.fail_after(60):
        async with session:
            await session.start(main)
            await session.run(user_input="spin")
            await session.run(user_input="pay")
            session.update_agent(support)
            await anyio.wait_all_tasks_blocked()
            assert events.ended() == {"call_1": ["cancelled"]}  # pay is awaited
            released["pay"].set()
            await session.wait_for_agent(support)
    ends = {e.call_id: (e.status, e.cancel_cause) for e in events.of(CallEnded)}
    assert ends == {"call_1": ("cancelled", "handoff"), "call_2": ("done", None)}
    settled = {i: e.outcome for e in events.of(DeliverySettled) for i in e.update_ids}
    assert settled == {"call_2_final": "dropped"}
    assert tool_task_names() == []


@function_tool
async def book(ctx: RunContext[None]) -> str:
    """Answer at once; the result comes later."""
    await ctx.update("booking")
    await released["book"].wait()
    return "booked"


async def test_an_interrupted_result_is_voiced_again_by_the_runtime() -> None:
    """LED-2, LED-4 through `AgentSession`: the deferred reply voicing the result is cut by
    the user (`SpeechHandle.heard` is false), so the result is voiced again at the next idle
    and ends ``delivered`` after two attempts."""
    released["book"] = anyio.Event()
    session: AgentSession[None] = AgentSession(
        llm=llm({"book": [call("book")]}, reply="Your table is booked."),
        output=TextOutput(chars_per_second=10),
    )
    events = Recorder(session)

    def scheduled() -> int:
        return sum(1 for e in events.of(ReplyUpdated) if e.status == "scheduled")

    with anyio.fail_after(600):
        async with session:
            await session.start(Agent(instructions="main", tools=[book], name="main"))
            await session.run(user_input="book")
            released["book"].set()
            await anyio.wait_all_tasks_blocked()  # the reply plays (a timer of the output)
            assert scheduled() == 1
            session.interrupt()
            await anyio.wait_all_tasks_blocked()  # voiced again at the next idle
            assert scheduled() == 2
            while not events.of(DeliverySettled):
                await session.wait_for_idle()
                await anyio.sleep(1)
    statuses = [e.status for e in events.of(ReplyUpdated)]
    assert statuses == ["scheduled", "interrupted", "scheduled", "completed"]
    settled = {i: e.outcome for e in events.of(DeliverySettled) for i in e.update_ids}
    assert settled == {"call_1_final": "delivered"}
