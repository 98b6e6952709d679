"""Cancellation and lifecycle (SPEC CAN-1..9, INV-17..19, INV-22, INV-27, scenarios 27-32)."""

from __future__ import annotations

import json

import anyio
import pytest

from anyio_tools import (
    CallEnded,
    CallRegistry,
    ExecutorState,
    FunctionCall,
    RunContext,
    RunningCallTools,
    ToolError,
    ToolExecutor,
    ToolFlag,
    function_tool,
    run_tool,
)
from anyio_tools.testing import FakeHost, tool_task_names

from .helpers import FakeTurn, make_ctx

gate = {"open": anyio.Event()}


@pytest.fixture(autouse=True)
def fresh_gate() -> None:
    gate["open"] = anyio.Event()


@function_tool(flags=ToolFlag.CANCELLABLE)
async def background(ctx: RunContext[None]) -> str:
    """Update, then wait."""
    await ctx.update("working")
    await gate["open"].wait()
    return "finished"


@function_tool
async def pinned(ctx: RunContext[None]) -> str:
    """Update, then wait; not cancellable."""
    await ctx.update("working")
    await gate["open"].wait()
    return "finished"


@function_tool(flags=ToolFlag.CANCELLABLE)
async def stubborn(ctx: RunContext[None]) -> str:
    """Swallow one cancellation and return anyway."""
    await ctx.update("working")
    try:
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        return "ignored the cancel"
    return "unreachable"


def ended(host: FakeHost) -> list[tuple[str, str]]:
    return [(e.call_id, e.status) for e in host.events if isinstance(e, CallEnded)]


async def test_cancel_returns_after_the_end_was_reported() -> None:
    """CAN-5, INV-17: True once CallEnded(cancelled) is out and the registries forgot it."""
    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(background, make_ctx("c1", "background"))
        assert "c1" in executor.registry
        assert await executor.cancel("c1") is True
        assert ended(host) == [("c1", "cancelled")]
        assert "c1" not in executor.registry
        assert await executor.cancel("c1") is False
        assert await executor.cancel("nope") is False


async def test_cancel_refusals() -> None:
    """CAN-5, CTX-3: non-cancellable calls and turns that disallow interruptions refuse."""
    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(pinned, make_ctx("c1", "pinned"))
        with pytest.raises(ToolError, match=r"`c1` .* is not cancellable"):
            await executor.cancel("c1")
        turn = FakeTurn(allow_interruptions=False)
        await executor.execute(background, make_ctx("c2", "background", turn=turn))
        with pytest.raises(ToolError, match="disallows interruptions"):
            await executor.cancel("c2")
        gate["open"].set()
        await host.wait_until(lambda: len(ended(host)) == 2)
    assert sorted(ended(host)) == [("c1", "done"), ("c2", "done")]


async def test_concurrent_cancels_all_wait_for_the_same_end() -> None:
    """CAN-5: every concurrent cancel of one call returns True after its end."""
    host = FakeHost()
    host.set_busy(True)
    results: list[bool] = []
    async with ToolExecutor(host) as executor:
        await executor.execute(background, make_ctx("c1", "background"))

        async def cancel() -> None:
            results.append(await executor.cancel("c1"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel)
            tg.start_soon(cancel)
    assert results == [True, True]
    assert ended(host) == [("c1", "cancelled")]


async def test_swallowed_cancellation_still_counts_as_cancelled() -> None:
    """CAN-9, scenario 29: the returned value reaches no one."""
    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(stubborn, make_ctx("c1", "stubborn"))
        assert await executor.cancel("c1") is True
    assert ended(host) == [("c1", "cancelled")]
    assert host.current.chat_ctx.items == []


async def test_drain_cancels_cancellable_and_awaits_the_rest() -> None:
    """CAN-7, INV-18, scenario 32: drain refuses new calls and waits for the pinned one."""
    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(background, make_ctx("c1", "background"))
        await executor.execute(pinned, make_ctx("c2", "pinned"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(executor.drain)
            await anyio.wait_all_tasks_blocked()
            assert ended(host) == [("c1", "cancelled")]
            refused = await executor.execute(background, make_ctx("c3", "background"))
            assert refused.output.output == "the tool executor is closing"
            gate["open"].set()
        assert ended(host) == [("c1", "cancelled"), ("c2", "done")]
        assert executor.state.value == "draining"
    assert executor.state.value == "closed"


async def test_cancel_all_cancellable_only() -> None:
    """CAN-6: cancellable_only leaves the others to end on their own."""
    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(background, make_ctx("c1", "background"))
        await executor.execute(pinned, make_ctx("c2", "pinned"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: executor.cancel_all(cancellable_only=True))
            await anyio.wait_all_tasks_blocked()
            assert ended(host) == [("c1", "cancelled")]
            gate["open"].set()
        await executor.execute(pinned, make_ctx("c3", "pinned"))
        await executor.cancel_all()
    assert ended(host) == [("c1", "cancelled"), ("c2", "done"), ("c3", "cancelled")]


async def test_leaving_the_block_cancels_everything_and_leaves_no_task() -> None:
    """CAN-8, INV-18, INV-22: aclose cancels even non-cancellable calls; idempotent."""
    host = FakeHost()
    host.set_busy(True)
    executor = ToolExecutor(host)
    async with executor:
        await executor.execute(pinned, make_ctx("c1", "pinned"))
        assert tool_task_names() == ["tool-call c1"]  # no update deferred: no deliver task
    assert ended(host) == [("c1", "cancelled")]
    assert tool_task_names() == []
    await executor.aclose()
    with pytest.raises(RuntimeError, match="entered once"):
        async with executor:
            pass


async def test_a_body_exception_comes_out_unwrapped() -> None:
    """STYLE 2.6: the user's exception leaves the executor as itself, not in a group."""
    with pytest.raises(KeyError, match="mine"):
        async with ToolExecutor(FakeHost()):
            raise KeyError("mine")


async def test_public_async_apis_are_checkpoints() -> None:
    """INV-27: cancel, drain, aclose and a refused execute notice a pending cancellation."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        for call in (
            lambda: executor.cancel("nope"),
            lambda: executor.wait_updates_settled(0),
            lambda: executor.execute(background, make_ctx("c1", "background", "not json")),
        ):
            with anyio.CancelScope() as scope:
                scope.cancel()
                await call()
                pytest.fail("returned without a checkpoint")
            assert scope.cancelled_caught
        with anyio.CancelScope() as scope:
            scope.cancel()
            await executor.drain()
            pytest.fail("drain() returned without a checkpoint")
        assert scope.cancelled_caught
        with anyio.CancelScope() as scope:
            scope.cancel()
            await executor.aclose()
            pytest.fail("aclose() returned without a checkpoint")
        assert scope.cancelled_caught
        assert executor.state is ExecutorState.CLOSED  # closing happened all the same


async def test_run_tool_is_a_checkpoint_on_every_path() -> None:
    """INV-27 / issue #11 item 11: run_tool() notices a pending cancellation, also when the
    arguments are refused or the tool returns without awaiting."""

    @function_tool
    async def instant(ctx: RunContext[None], n: int) -> int:
        """Return at once."""
        return n

    for arguments in ('{"n": 1}', "not json", '{"n": "x"}'):
        call = FunctionCall(call_id="c1", name="instant", arguments=arguments)
        with anyio.CancelScope() as scope:
            scope.cancel()
            await run_tool(instant, call)
            pytest.fail(f"run_tool() returned without a checkpoint for {arguments!r}")
        assert scope.cancelled_caught


async def test_builtin_tools_list_and_cancel() -> None:
    """CAN-3, CAN-4, scenarios 27/30: list shows cancellable calls; cancel answers and errors."""
    registry = CallRegistry()
    host = FakeHost()
    host.set_busy(True)
    tools = RunningCallTools(registry)
    async with (
        ToolExecutor(host, registry=registry) as one,
        ToolExecutor(host, registry=registry, name="two") as two,
    ):
        await one.execute(background, make_ctx("c1", "background"))
        await two.execute(pinned, make_ctx("c2", "pinned"))
        await two.execute(background, make_ctx("c3", "background"))
        listing = await one.execute(
            tools.get_running_tasks, make_ctx("l1", tools.get_running_tasks.name)
        )
        assert [c["call_id"] for c in json.loads(listing.output.output)] == ["c1", "c3"]
        cancel = tools.cancel_task.name
        assert cancel == "anyio_tools_cancel_task"
        for call_id, words in [("zz", "not found"), ("c2", "not cancellable")]:
            result = await one.execute(
                tools.cancel_task, make_ctx("k", cancel, f'{{"call_id": "{call_id}"}}')
            )
            assert words in result.output.output
            assert result.output.is_error
        done = await one.execute(tools.cancel_task, make_ctx("k2", cancel, '{"call_id": "c3"}'))
        assert done.output.output == "call `c3` was cancelled"
        assert ("c3", "cancelled") in ended(host)
        gate["open"].set()


async def test_registries_of_two_sessions_never_share_calls() -> None:
    """CAN-1, INV-19, scenario 37: each registry lists only its own calls."""
    first, second = CallRegistry(), CallRegistry()
    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host, registry=first) as a, ToolExecutor(host, registry=second) as b:
        await a.execute(background, make_ctx("c1", "background"))
        await b.execute(background, make_ctx("c2", "background"))
        assert [c.call_id for c in first.running()] == ["c1"]
        assert [c.call_id for c in second.running()] == ["c2"]
        with pytest.raises(ToolError, match="not found"):
            await first.cancel("c2")
        gate["open"].set()
