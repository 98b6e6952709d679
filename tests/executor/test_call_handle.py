"""The call handle: all-or-nothing admission, answer, updates, result, cancel, and use
without a conversation (issue #11; SPEC EXE-5, EXE-6, EXE-13, CAN-9, INV-1, INV-5, INV-22)."""

from __future__ import annotations

import anyio
import pytest

from anyio_tools import (
    CallEnded,
    CallHandle,
    CallRefusedError,
    CallStarted,
    CallStatus,
    FunctionCall,
    RunContext,
    ToolError,
    ToolExecutor,
    function_tool,
)
from anyio_tools.testing import FakeHost, tool_task_names

from .helpers import make_ctx


@function_tool
async def count(ctx: RunContext[None], n: int) -> int:
    """Report each step, then return the total."""
    for i in range(n):
        await ctx.update(f"step {i}")
    return n


@function_tool
async def fails(ctx: RunContext[None]) -> str:
    """Fail after an update."""
    await ctx.update("trying")
    raise ToolError("no seats")


def call_item(call_id: str, name: str, arguments: str = "{}") -> FunctionCall:
    return FunctionCall(call_id=call_id, name=name, arguments=arguments)


async def test_start_returns_a_running_handle_whose_result_is_awaited() -> None:
    """EXE-6: start() returns at admission; answer() is the first update, result() the end."""
    async with ToolExecutor() as executor:
        handle = await executor.start(count, call_item("c1", "count", '{"n": 3}'))
        assert isinstance(handle, CallHandle)
        assert (handle.id, handle.name) == ("c1", "count")
        first = await handle.answer()
        assert first.non_blocking
        assert "step 0" in first.output.output
        seen = [event.message async for event in handle.updates()]
        result = await handle.result()
    assert seen == ["step 0", "step 1", "step 2"]
    assert (result.status, result.value, result.output) == (CallStatus.DONE, 3, "3")
    assert handle.status is CallStatus.DONE


async def test_updates_iteration_started_late_sees_every_update() -> None:
    """UPD-6: updates() replays what happened before it started, then ends with the call."""
    async with ToolExecutor() as executor:
        handle = await executor.start(count, call_item("c1", "count", '{"n": 4}'))
        await handle.result()
        ids = [event.id async for event in handle.updates()]
    assert ids == ["c1", "c1_update_1", "c1_update_2", "c1_update_3"]


async def test_result_reports_errors_and_cancellations_with_their_reason() -> None:
    """EVT-4: result() says how the call ended: the error, or who cancelled it and why."""
    gate = anyio.Event()

    @function_tool
    async def pinned(ctx: RunContext[None]) -> str:
        """Not cancellable by the LLM."""
        await ctx.update("working")
        await gate.wait()
        return "late"

    async with ToolExecutor() as executor:
        failed = await executor.start(fails, call_item("c1", "fails"))
        stuck = await executor.start(pinned, call_item("c2", "pinned"))
        await stuck.answer()
        with pytest.raises(ToolError, match="not cancellable"):
            await executor.cancel("c2")  # the LLM-facing cancel refuses (CAN-4)
        stuck.cancel("the user hung up")  # the program may force it
        cancelled = await stuck.result()
        error = await failed.result()
    assert (error.status, error.output) == (CallStatus.ERROR, "no seats")
    assert isinstance(error.error, ToolError)
    assert (cancelled.status, cancelled.reason) == (CallStatus.CANCELLED, "the user hung up")


async def test_thousand_calls_without_a_conversation() -> None:
    """Issue #11: 1,000 calls through start() with no host: updates iterated, results awaited."""
    totals: dict[str, int] = {}
    updates: dict[str, int] = {}

    async def follow(handle: CallHandle) -> None:
        updates[handle.id] = len([u async for u in handle.updates()])
        result = await handle.result()
        assert isinstance(result.value, int)
        totals[handle.id] = result.value

    with anyio.fail_after(60):
        async with ToolExecutor() as executor, anyio.create_task_group() as tg:
            for i in range(1000):
                handle = await executor.start(
                    count, call_item(f"c{i}", "count", f'{{"n": {i % 4}}}')
                )
                tg.start_soon(follow, handle)
    assert totals == {f"c{i}": i % 4 for i in range(1000)}
    assert updates == totals
    assert tool_task_names() == []


async def test_start_refuses_invalid_json_with_nothing_left_behind() -> None:
    """EXE-5: a refused call raises CallRefusedError with its answer; no event, no registry."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        with pytest.raises(CallRefusedError) as info:
            await executor.start(count, make_ctx("c1", "count", "[1, 2]"))
        assert info.value.result.output.is_error
        assert "Invalid arguments for `count`" in info.value.result.output.output
        assert executor.running() == []
    assert host.events == []


async def test_reused_context_leaves_no_phantom_call() -> None:
    """Issue #11 item 4: reusing a RunContext raises and registers nothing; drain returns."""
    host = FakeHost()
    ctx = make_ctx("c1", "count", '{"n": 0}')
    async with ToolExecutor(host) as executor:
        await executor.execute(count, ctx)
        with pytest.raises(RuntimeError, match="already bound"):
            await executor.execute(count, ctx)
        with pytest.raises(RuntimeError, match="already bound"):
            await executor.start(count, ctx)
        assert executor.running() == []
        assert "c1" not in executor.registry
        with anyio.fail_after(1):
            await executor.drain()
    assert [type(e) for e in host.events] == [CallStarted, CallEnded]


async def test_cancelled_dispatcher_cancels_a_call_released_in_the_same_tick() -> None:
    """EXE-13 / issue #11 item 5: the answer and the dispatcher's cancel in one tick: the call
    is cancelled, not orphaned, and no `_final` is voiced later."""
    host = FakeHost()
    finish = anyio.Event()
    dispatcher = anyio.CancelScope()

    @function_tool
    async def racer(ctx: RunContext[None]) -> str:
        """Cancel the dispatcher and answer in the same tick."""
        dispatcher.cancel()
        await ctx.update("started")
        await finish.wait()
        return "late result"

    async with ToolExecutor(host) as executor:
        with dispatcher:
            await executor.execute(racer, make_ctx("c1", "racer"))
        finish.set()
        assert executor.running() == []
    assert dispatcher.cancelled_caught
    assert [(e.call_id, e.status) for e in host.events_of(CallEnded)] == [
        ("c1", CallStatus.CANCELLED)
    ]
    assert not any(item.id.endswith("_final") for item in host.history)


async def test_call_started_item_is_not_mutated_by_the_first_update() -> None:
    """EXE-8 / issue #11 item 11: the frozen item announced by CallStarted keeps its metadata;
    the recorded item is a new one marked non-blocking."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        result = await executor.execute(count, make_ctx("c1", "count", '{"n": 1}'))
    started = host.events_of(CallStarted)[0]
    assert isinstance(started, CallStarted)
    assert "non_blocking" not in started.call.extra
    assert result.call.extra["non_blocking"] is True


async def test_start_is_a_checkpoint_even_when_it_refuses() -> None:
    """INV-27: start() notices a pending cancellation on every path."""
    async with ToolExecutor() as executor:
        for arguments in ('{"n": 0}', "[1, 2]"):
            with anyio.CancelScope() as scope:
                scope.cancel()
                try:
                    await executor.start(count, call_item(f"c-{arguments}", "count", arguments))
                except CallRefusedError:
                    pass
                pytest.fail("start() returned without a checkpoint")
            assert scope.cancelled_caught
