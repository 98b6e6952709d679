"""Scenarios of issue #15 on both backends: the delivery ledger (LED-1..6), re-delivery of
interrupted replies, cancellation causes (CAN-10) and commit points (CAN-11, CAN-12).

Replies end only when a test says so (``FakeHost(auto_finish=False)``); tools wait on events
the test sets; every wait is on a host state, bounded by ``fail_after`` in virtual time. They
live next to the generated programs so that ``make soak`` runs them too.
"""

from __future__ import annotations

import anyio
import pytest

from anyio_tools import (
    CallEnded,
    CallRegistry,
    CallStatus,
    CancelAnswer,
    CancelReason,
    ChatContext,
    Delivery,
    DeliverySettled,
    FunctionCall,
    ReplyDropped,
    ReplyUpdated,
    RunContext,
    RunningCallTools,
    ToolError,
    ToolExecutor,
    ToolFlag,
    function_tool,
)
from anyio_tools.testing import FakeHost, FakeReply, tool_task_names
from tests.executor.helpers import FakeTurn

gates: dict[str, anyio.Event] = {}


@pytest.fixture(autouse=True)
def fresh_gates() -> None:
    gates.clear()


def gate(call_id: str) -> anyio.Event:
    return gates.setdefault(call_id, anyio.Event())


@function_tool(flags=ToolFlag.CANCELLABLE)
async def book(ctx: RunContext[None], commit: bool = False) -> str:
    """Answer at once, maybe pass the point of no return, then wait for the test."""
    await ctx.update("booking")
    if commit:
        await ctx.commit()
    await gate(ctx.call_id).wait()
    return "booked"


rebook = function_tool(name="rebook", flags=ToolFlag.CANCELLABLE, on_duplicate="replace")(
    book.function
)


def ctx(call_id: str, arguments: str = "{}", name: str = "book") -> RunContext[None]:
    return RunContext(function_call=FunctionCall(call_id=call_id, name=name, arguments=arguments))


def settled(host: FakeHost) -> dict[str, tuple[str, str | None]]:
    return {
        i: (e.outcome, e.reason)
        for e in host.events
        if isinstance(e, DeliverySettled)
        for i in e.update_ids
    }


def pending_reply(host: FakeHost) -> FakeReply | None:
    return next((r for r in host.replies if not r.done), None)


async def next_reply(host: FakeHost) -> FakeReply:
    await host.wait_until(lambda: pending_reply(host) is not None)
    reply = pending_reply(host)
    assert reply is not None
    return reply


async def test_a_result_arriving_while_the_user_speaks_is_voiced_on_the_third_attempt() -> None:
    """LED-2, LED-4: the result arrives while the user speaks; its reply is interrupted twice
    and voiced again at each next idle; the third attempt completes and the item is
    ``delivered``, once, with three attempts on the call's ledger."""
    host = FakeHost(auto_finish=False)
    with anyio.fail_after(60):
        async with ToolExecutor(host) as executor:
            handle = await executor.start(book, ctx("a"))
            await handle.answer()
            host.set_busy(True)  # the user speaks
            gate("a").set()
            await handle.result()
            assert handle.deliveries() == (Delivery("a_final", None),)
            host.set_busy(False)
            for _ in range(2):
                (await next_reply(host)).interrupt()
            third = await next_reply(host)
            third.finish("Your table is booked.")
            await host.wait_until(lambda: "a_final" in settled(host))
    assert settled(host) == {"a_final": ("delivered", None)}
    assert handle.deliveries() == (Delivery("a_final", "delivered", None, 3),)
    statuses = [(e.status, e.update_ids) for e in host.events if isinstance(e, ReplyUpdated)]
    assert [s for s, _ in statuses] == ["scheduled", "interrupted"] * 2 + [
        "scheduled",
        "completed",
    ]
    assert {ids for _, ids in statuses} == {("a_final",)}
    assert tool_task_names() == []


@pytest.mark.parametrize("limit", [0, 2])
async def test_an_item_interrupted_up_to_the_limit_is_dropped_as_retries_exhausted(
    limit: int,
) -> None:
    """LED-4: with ``max_redeliveries=limit``, ``limit + 1`` interrupted replies, then the item
    is ``dropped(retries_exhausted)`` (one `ReplyDropped`, one `DeliverySettled`) and no
    further reply is scheduled."""
    host = FakeHost(auto_finish=False)
    with anyio.fail_after(60):
        async with ToolExecutor(host, max_redeliveries=limit) as executor:
            handle = await executor.start(book, ctx("a"))
            await handle.answer()
            gate("a").set()
            for _ in range(limit + 1):
                (await next_reply(host)).interrupt()
            await host.wait_until(lambda: "a_final" in settled(host))
            await anyio.wait_all_tasks_blocked()
            assert pending_reply(host) is None
    assert len(host.replies) == limit + 1
    assert settled(host) == {"a_final": ("dropped", "retries_exhausted")}
    drops = [(e.update_ids, e.reason) for e in host.events if isinstance(e, ReplyDropped)]
    assert drops == [(("a_final",), "retries_exhausted")]
    assert handle.deliveries() == (Delivery("a_final", "dropped", "retries_exhausted", limit + 1),)


async def test_a_negative_redelivery_limit_is_refused() -> None:
    """LED-4: the limit is validated when the executor is built."""
    with pytest.raises(ValueError, match="max_redeliveries must be >= 0, got -1"):
        ToolExecutor(FakeHost(), max_redeliveries=-1)


async def test_re_delivery_merges_with_pending_items_and_supersedes_older_updates() -> None:
    """LED-4, LED-5: an interrupted update is superseded by the call's final result queued
    meanwhile; the next idle voices one reply with everything pending."""
    host = FakeHost(auto_finish=False)

    @function_tool
    async def steps(ctx: RunContext[None]) -> str:
        """Two updates, then wait."""
        await ctx.update("step 1")
        await ctx.update("step 2")
        await gate(ctx.call_id).wait()
        return "done"

    with anyio.fail_after(60):
        async with ToolExecutor(host) as executor:
            handle = await executor.start(steps, FunctionCall(call_id="s", name="steps"))
            other = await executor.start(book, ctx("b"))
            await other.answer()
            first = await next_reply(host)
            gate("s").set()
            gate("b").set()
            await handle.result()
            await other.result()
            first.interrupt()
            second = await next_reply(host)
            second.finish()
            await host.wait_until(lambda: len(settled(host)) == 3)
    assert settled(host) == {
        "s_update_1": ("superseded", None),
        "s_final": ("delivered", None),
        "b_final": ("delivered", None),
    }
    assert len(host.replies) == 2


async def test_the_host_decides_what_was_heard() -> None:
    """LED-2, HOST-4: a reply cut after its text was fully played counts as heard
    (``FakeReply.interrupt(heard=True, text=...)``): ``delivered``, not voiced again."""
    host = FakeHost(auto_finish=False)
    with anyio.fail_after(60):
        async with ToolExecutor(host) as executor:
            handle = await executor.start(book, ctx("a"))
            await handle.answer()
            gate("a").set()
            (await next_reply(host)).interrupt(heard=True, text="Your table is booked.")
            await host.wait_until(lambda: "a_final" in settled(host))
    assert settled(host) == {"a_final": ("delivered", None)}
    assert len(host.replies) == 1


async def test_covered_items_need_no_reply() -> None:
    """LED-3: a reply that says nothing leaves its items ``covered``; items a completed
    normal turn already saw (``queued_updates_in`` of its request, then ``mark_covered``,
    LED-7) are settled without a reply."""
    host = FakeHost(auto_finish=False)
    with anyio.fail_after(60):
        async with ToolExecutor(host) as executor:
            a = await executor.start(book, ctx("a"))
            await a.answer()
            gate("a").set()
            (await next_reply(host)).finish(None)
            await host.wait_until(lambda: "a_final" in settled(host))
            host.set_busy(True)
            b = await executor.start(book, ctx("b"))
            await b.answer()
            gate("b").set()
            await b.result()
            chat = host.current.chat_ctx.copy()  # LED-7: what a request would hold now
            assert executor.queued_updates_in(chat) == ["b_final"]
            assert executor.queued_updates_in(ChatContext()) == []  # not in that chat
            executor.mark_covered({"b_final", "unknown_id"})
            assert executor.queued_updates_in(chat) == []
            host.set_busy(False)
            await anyio.wait_all_tasks_blocked()
    assert settled(host) == {"a_final": ("covered", None), "b_final": ("covered", None)}
    assert len(host.replies) == 1


async def test_closing_drops_every_owed_item_with_a_reason() -> None:
    """LED-1: when the executor closes, every item still owed ends ``dropped`` (the reply in
    flight was interrupted, so its item is not voiced again)."""
    host = FakeHost(auto_finish=False)
    with anyio.fail_after(60):
        async with ToolExecutor(host, close_timeout=1) as executor:
            handle = await executor.start(book, ctx("a"))
            await handle.answer()
            gate("a").set()
            reply = await next_reply(host)
            reply.interrupt()
            host.set_busy(True)
            await anyio.wait_all_tasks_blocked()
    assert settled(host) == {"a_final": ("dropped", "activity_closed")}


async def test_the_llm_cancel_tool_answers_honestly_before_and_after_commit() -> None:
    """CAN-11, CAN-12, CAN-10: before its commit point a call is cancelled (cause ``llm`` on
    its end event, handle and result); after it the tool answers "too late: already
    committed, will finish" and the call finishes; unknown and ended calls are said so."""
    host = FakeHost()
    registry = CallRegistry()
    tools = RunningCallTools(registry)
    with anyio.fail_after(60):
        async with ToolExecutor(host, registry=registry) as executor:
            early = await executor.start(book, ctx("early"))
            late = await executor.start(book, ctx("late", '{"commit": true}'))
            await early.answer()
            await late.answer()
            await anyio.wait_all_tasks_blocked()
            assert late.is_committed
            ask = await executor.execute(
                tools.cancel_task,
                RunContext(
                    function_call=FunctionCall(
                        call_id="k1", name=tools.cancel_task.name, arguments='{"call_id": "early"}'
                    )
                ),
            )
            refused = await executor.execute(
                tools.cancel_task,
                RunContext(
                    function_call=FunctionCall(
                        call_id="k2", name=tools.cancel_task.name, arguments='{"call_id": "late"}'
                    )
                ),
            )
            assert late.cancel(cause="host") is CancelAnswer.COMMITTED
            assert late.status is CallStatus.RUNNING
            gate("late").set()
            result = await late.result()
            with pytest.raises(ToolError, match=r"unknown: .*already cancelled \(reason: llm\)"):
                await registry.cancel("early")
            with pytest.raises(ToolError, match=r"unknown: call `nope` not found"):
                await registry.cancel("nope")
    assert ask.output.output == "call `early` was cancelled"
    assert refused.output.output == "too late: call `late` already committed, will finish"
    assert (await early.result()).cancel_cause is CancelReason.LLM
    assert early.cancel_cause is CancelReason.LLM
    assert (result.status, result.cancel_cause) == (CallStatus.DONE, None)
    ends = {e.call_id: e for e in host.events if isinstance(e, CallEnded)}
    assert (ends["early"].status, ends["early"].cancel_cause) == ("cancelled", "llm")
    assert (ends["late"].status, ends["late"].cancel_cause) == ("done", None)


async def test_a_handoff_drain_awaits_a_committed_call() -> None:
    """CAN-11, CAN-10: a drain cancels an uncommitted cancellable call (cause ``handoff``)
    and waits for a committed one, which finishes and is voiced."""
    host = FakeHost()
    with anyio.fail_after(60):
        async with ToolExecutor(host) as executor:
            free = await executor.start(book, ctx("free"))
            pinned = await executor.start(book, ctx("pinned", '{"commit": true}'))
            await free.answer()
            await pinned.answer()
            await anyio.wait_all_tasks_blocked()
            assert pinned.is_committed
            async with anyio.create_task_group() as tg:
                tg.start_soon(executor.drain)
                await free.result()
                await anyio.wait_all_tasks_blocked()
                assert pinned.status is CallStatus.RUNNING  # the drain waits for it
                gate("pinned").set()
            await host.wait_until(lambda: "pinned_final" in settled(host))
    assert (free.status, free.cancel_cause) == (CallStatus.CANCELLED, CancelReason.HANDOFF)
    assert (pinned.status, pinned.cancel_cause) == (CallStatus.DONE, None)
    assert settled(host)["pinned_final"] == ("delivered", None)


async def test_every_cancelled_call_carries_its_cause() -> None:
    """CAN-10: ``replace`` for a replaced call, ``host`` for ``CallHandle.cancel()`` and a
    cancelled dispatcher, ``shutdown`` for the executor's closing (even when committed)."""
    host = FakeHost()
    with anyio.fail_after(60):
        async with ToolExecutor(host) as executor:
            old = await executor.start(rebook, ctx("old", name="rebook"))
            await old.answer()
            new = await executor.start(rebook, ctx("new", name="rebook"))
            await new.answer()
            assert new.cancel() is CancelAnswer.CANCELLED
            await new.result()
            assert new.cancel() is CancelAnswer.CANCELLED  # it ended cancelled: still true
            with anyio.CancelScope() as scope:
                scope.cancel()
                await executor.execute(book, ctx("dispatched"))
            pinned = await executor.start(book, ctx("pinned", '{"commit": true}'))
            await pinned.answer()
            await anyio.wait_all_tasks_blocked()
            assert pinned.is_committed
    causes = {e.call_id: e.cancel_cause for e in host.events if isinstance(e, CallEnded)}
    assert causes == {
        "old": "replace",
        "new": "host",
        "dispatched": "host",
        "pinned": "shutdown",
    }
    assert (await old.result()).cancel_cause is CancelReason.REPLACE


async def test_commit_is_a_checkpoint_and_refuses_after_a_cancel_request() -> None:
    """CAN-11, INV-27: ``ctx.commit()`` delivers a pending cancellation; a context run
    without an executor commits trivially."""
    ran: list[bool] = []

    @function_tool
    async def shielded(ctx: RunContext[None]) -> str:
        """Ask to be cancelled, then try to commit inside a shield."""
        with anyio.CancelScope(shield=True):
            await ctx.update("go")
            await gate(ctx.call_id).wait()
            ran.append(await ctx.commit())
        return "done"

    async with ToolExecutor(FakeHost()) as executor:
        handle = await executor.start(shielded, FunctionCall(call_id="s", name="shielded"))
        await handle.answer()
        handle.cancel()
        gate("s").set()
        result = await handle.result()
    assert ran == [False]
    assert (result.status, result.cancel_cause) == (CallStatus.CANCELLED, CancelReason.HOST)
    assert await RunContext(function_call=FunctionCall(call_id="x", name="t")).commit()


async def test_a_dispatcher_cancelled_with_its_turn_interrupted_gives_user_interruption() -> None:
    """CAN-10: a host that cancels the dispatch of an interrupted turn's call (EXE-13) ends
    the call with cause ``user_interruption``."""

    @function_tool
    async def slow(ctx: RunContext[None]) -> str:
        """Never answers."""
        await anyio.sleep_forever()
        return "never"

    host = FakeHost()
    turn = FakeTurn()
    with anyio.fail_after(60):
        async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
            call = FunctionCall(call_id="u", name="slow")
            tg.start_soon(
                executor.execute, slow, RunContext(function_call=call, speech_handle=turn)
            )
            await anyio.wait_all_tasks_blocked()
            turn.interrupted = True  # the user spoke over the turn
            tg.cancel_scope.cancel()
    ends = [(e.call_id, e.cancel_cause) for e in host.events if isinstance(e, CallEnded)]
    assert ends == [("u", "user_interruption")]


async def test_a_cancel_cause_that_is_not_a_cancel_reason_is_refused() -> None:
    """CAN-10: ``CallHandle.cancel(cause=...)`` takes a `CancelReason` or its value only."""
    async with ToolExecutor(FakeHost()) as executor:
        handle = await executor.start(book, ctx("a"))
        await handle.answer()
        with pytest.raises(ValueError, match="'because' is not a valid CancelReason"):
            handle.cancel(cause="because")
        assert handle.cancel(cause=CancelReason.LLM) is CancelAnswer.CANCELLED
        result = await handle.result()
    assert result.cancel_cause is CancelReason.LLM
