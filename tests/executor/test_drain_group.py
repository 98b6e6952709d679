"""Drain by one cancel of the group of cancellable calls (issue #19 item 2; DRN-1 in
`anyio_tools._executor`, with CAN-5..11, INV-18, EVT-4).

The calls of cancellable tools run in a task group of their own, so that a drain cancels
them all with one cancel. What a drain does to each call must not change: each call still
ends once (one `CallEnded`), with its cause; non-cancellable and committed calls are waited
for; a single call can still be cancelled alone.
"""

from __future__ import annotations

from collections import Counter

import anyio
import pytest

from anyio_tools import (
    CallEnded,
    CallHandle,
    CallStatus,
    CancelAnswer,
    CancelReason,
    ExecutorState,
    RunContext,
    ToolExecutor,
    ToolFlag,
    function_tool,
)
from anyio_tools._calls import current_call
from anyio_tools.testing import FakeHost, tool_task_names

from .helpers import make_ctx

gates: dict[str, anyio.Event] = {}


@pytest.fixture(autouse=True)
def fresh_gates() -> None:
    gates.clear()


def gate(call_id: str) -> anyio.Event:
    return gates.setdefault(call_id, anyio.Event())


@function_tool(flags=ToolFlag.CANCELLABLE)
async def background(ctx: RunContext[None], commit: bool = False) -> str:
    """Update, maybe pass the point of no return, then wait for the test."""
    await ctx.update("working")
    if commit:
        await ctx.commit()
    await gate(ctx.call_id).wait()
    return "finished"


@function_tool
async def pinned(ctx: RunContext[None]) -> str:
    """Update, then wait for the test; not cancellable."""
    await ctx.update("working")
    await gate(ctx.call_id).wait()
    return "finished"


def ends(host: FakeHost) -> dict[str, tuple[str, str | None]]:
    found = [e for e in host.events if isinstance(e, CallEnded)]
    counts = Counter(e.call_id for e in found)
    assert all(n == 1 for n in counts.values()), counts  # EVT-4: one end per call
    return {e.call_id: (e.status, e.cancel_cause) for e in found}


async def start_all(executor: ToolExecutor, calls: dict[str, str]) -> dict[str, CallHandle]:
    handles = {}
    for call_id, arguments in calls.items():
        tool = pinned if call_id.startswith("pinned") else background
        handles[call_id] = await executor.start(tool, make_ctx(call_id, tool.name, arguments))
        await handles[call_id].answer()
    await anyio.wait_all_tasks_blocked()
    return handles


async def test_a_drain_ends_a_mix_of_calls_once_each_with_their_causes() -> None:
    """DRN-1, CAN-7, CAN-10, CAN-11, INV-18: the uncommitted cancellable calls end cancelled
    (cause ``handoff``) at once; the committed and the non-cancellable ones are waited for and
    finish; every call has exactly one CallEnded."""
    host = FakeHost()
    host.set_busy(True)
    calls = {"a": "{}", "b": "{}", "kept": '{"commit": true}', "c": "{}", "pinned": "{}"}
    with anyio.fail_after(60):
        async with ToolExecutor(host) as executor:
            handles = await start_all(executor, calls)
            assert handles["kept"].is_committed
            async with anyio.create_task_group() as tg:
                tg.start_soon(executor.drain)
                for call_id in "abc":
                    await handles[call_id].result()
                await anyio.wait_all_tasks_blocked()
                assert handles["kept"].status is CallStatus.RUNNING  # CAN-11: awaited
                assert handles["pinned"].status is CallStatus.RUNNING  # INV-18
                assert executor.state is ExecutorState.DRAINING
                gate("kept").set()
                gate("pinned").set()
            assert [c.call_id for c in executor.calls()] == []
    assert ends(host) == {
        "a": ("cancelled", "handoff"),
        "b": ("cancelled", "handoff"),
        "c": ("cancelled", "handoff"),
        "kept": ("done", None),
        "pinned": ("done", None),
    }
    assert (await handles["a"].result()).cancel_cause is CancelReason.HANDOFF


async def test_one_call_is_cancelled_alone_while_the_others_run() -> None:
    """DRN-1, CAN-5: cancelling one call of the group (its handle, then `executor.cancel`)
    leaves the others running; the drain then cancels the rest with one cancel and waits for
    the non-cancellable call."""
    host = FakeHost()
    host.set_busy(True)
    with anyio.fail_after(60):
        async with ToolExecutor(host) as executor:
            handles = await start_all(executor, {"a": "{}", "b": "{}", "c": "{}", "pinned": "{}"})
            assert handles["a"].cancel() is CancelAnswer.CANCELLED
            await handles["a"].result()
            assert await executor.cancel("b") is True
            await anyio.wait_all_tasks_blocked()
            assert handles["c"].status is CallStatus.RUNNING
            assert handles["pinned"].status is CallStatus.RUNNING
            async with anyio.create_task_group() as tg:
                tg.start_soon(executor.drain)
                await handles["c"].result()
                await anyio.wait_all_tasks_blocked()
                assert handles["pinned"].status is CallStatus.RUNNING
                gate("pinned").set()
    assert ends(host) == {
        "a": ("cancelled", "host"),
        "b": ("cancelled", "host"),
        "c": ("cancelled", "handoff"),
        "pinned": ("done", None),
    }


async def test_cancel_all_leaves_room_for_new_cancellable_calls() -> None:
    """DRN-1, CAN-6: `cancel_all` cancels the group and leaves the executor open; a later
    cancellable call runs in a new group (not in the cancelled one) until cancelled alone."""
    host = FakeHost()
    host.set_busy(True)
    with anyio.fail_after(60):
        async with ToolExecutor(host) as executor:
            await start_all(executor, {"a": "{}", "b": "{}"})
            await executor.cancel_all()
            assert executor.state is ExecutorState.OPEN
            handles = await start_all(executor, {"later": "{}", "other": "{}"})
            assert handles["later"].status is CallStatus.RUNNING
            gate("later").set()
            assert (await handles["later"].result()).status is CallStatus.DONE
            assert handles["other"].status is CallStatus.RUNNING
            await executor.drain()
    assert ends(host) == {
        "a": ("cancelled", "host"),
        "b": ("cancelled", "host"),
        "later": ("done", None),
        "other": ("cancelled", "handoff"),
    }


async def test_closing_cancels_committed_and_pinned_calls_with_cause_shutdown() -> None:
    """DRN-1, CAN-8, CAN-11: closing cancels every call, committed or not cancellable, once
    each, with cause ``shutdown``, after a drain that spared the committed one."""
    host = FakeHost()
    host.set_busy(True)
    with anyio.fail_after(60):
        async with ToolExecutor(host) as executor:
            handles = await start_all(executor, {"a": "{}", "kept": '{"commit": true}'})
            async with anyio.create_task_group() as tg:
                tg.start_soon(executor.drain)
                await handles["a"].result()
                await anyio.wait_all_tasks_blocked()  # the drain waits for the committed call
                tg.cancel_scope.cancel()  # CAN-7: a cancelled drain stops waiting
            assert handles["a"].status is CallStatus.CANCELLED
            assert handles["kept"].status is CallStatus.RUNNING
    assert ends(host) == {"a": ("cancelled", "handoff"), "kept": ("cancelled", "shutdown")}


@function_tool
async def chatty(ctx: RunContext[None]) -> str:
    """Update twice (the second update is deferred), then wait for the test."""
    await ctx.update("one")
    await ctx.update("two")
    await gate(ctx.call_id).wait()
    return "finished"


class ContextHost(FakeHost):
    """Records which call the deliverer acts for while it waits for idle."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[object] = []

    async def wait_for_idle(self) -> object:
        self.seen.append(current_call.get())
        return await super().wait_for_idle()


async def test_the_deliver_task_starts_at_the_first_deferred_update() -> None:
    """Issue #19 item 5, SC-1, CTX-9: an executor has no deliver task until an update is
    deferred; the task then runs in the context the executor was entered in, not in the
    context of the call whose update started it."""
    host = ContextHost()
    with anyio.fail_after(60):
        async with ToolExecutor(host) as executor:
            await executor.execute(pinned, make_ctx("quiet", "pinned"))
            await anyio.wait_all_tasks_blocked()
            assert tool_task_names() == ["tool-call quiet"]
            await executor.execute(chatty, make_ctx("loud", "chatty"))
            await host.wait_until(lambda: host.seen)
            assert tool_task_names() == ["deliver tools", "tool-call loud", "tool-call quiet"]
            gate("quiet").set()
            gate("loud").set()
            await executor.drain()  # INV-18: waits for both
    assert host.seen
    assert set(host.seen) == {None}  # CTX-9: no call of its own
    assert ends(host) == {"quiet": ("done", None), "loud": ("done", None)}


@function_tool(flags=ToolFlag.CANCELLABLE, on_duplicate="replace")
async def replaced(ctx: RunContext[None]) -> str:
    """Update, pass the point of no return, then wait for the test."""
    await ctx.update("working")
    await ctx.commit()
    await gate(ctx.call_id).wait()
    return "finished"


async def test_a_call_waiting_in_admission_when_the_executor_closes_is_answered() -> None:
    """EXE-5, CAN-11, DUP-7: a call that arrived while the executor was open and waited for
    the committed call it replaces is answered with the closing text when the executor closes
    meanwhile; `ExecutorClosedError` is for calls that arrive after the close."""
    results: list[object] = []
    errors: list[BaseException] = []

    async def second(executor: ToolExecutor) -> None:
        try:
            results.append(await executor.execute(replaced, make_ctx("c2", "replaced", "{}")))
        except Exception as exc:
            errors.append(exc)

    async with anyio.create_task_group() as outside, ToolExecutor(FakeHost()) as executor:
        await executor.execute(replaced, make_ctx("c1", "replaced", "{}"))
        await anyio.wait_all_tasks_blocked()  # c1 committed
        outside.start_soon(second, executor)
        await anyio.wait_all_tasks_blocked()  # c2 waits for c1's end (CAN-11)
        assert executor.calls()[0].id == "c1"
    assert errors == []
    assert len(results) == 1
    assert "the tool executor is closing" in results[0].output.output  # type: ignore[attr-defined]
