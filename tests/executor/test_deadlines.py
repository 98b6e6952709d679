"""Deadlines and heartbeats (issue #16: DLN-1..7, IDK-1), in virtual time on both backends.

Times are exact: the test clocks are virtual (trio's MockClock with autojump, looptime on
asyncio), so a deadline of 5 seconds fires exactly 5 seconds after the call started.
"""

from __future__ import annotations

import math
from typing import Any

import anyio
import pytest

from anyio_tools import (
    CallEnded,
    CallStatus,
    CancelReason,
    Deadline,
    ReplyUpdated,
    RunContext,
    TimeoutPromptArgs,
    ToolExecutor,
    ToolFlag,
    ToolOptions,
    function_tool,
)
from anyio_tools.testing import FakeHost, tool_task_names

from .helpers import make_ctx

pytestmark = pytest.mark.virtual_time  # exact deadlines and back-off in virtual time


@function_tool(timeout=5)
async def hangs(ctx: RunContext[None]) -> str:
    """Never finishes."""
    await anyio.sleep_forever()
    return "never"


@function_tool
async def sleeps(ctx: RunContext[None], seconds: float) -> str:
    """Sleep, then answer."""
    await anyio.sleep(seconds)
    return "slept"


async def test_hard_deadline_cancels_the_call_and_tells_the_llm() -> None:
    """DLN-1, DLN-2, DLN-4: the call ends cancelled (reason timeout) exactly at its deadline;
    the LLM's answer names the deadline; the end event says cancelled."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        t0 = anyio.current_time()
        with anyio.fail_after(60):
            handle = await executor.start(hangs, make_ctx("c1", "hangs"))
            first = await handle.answer()
            result = await handle.result()
        assert anyio.current_time() - t0 == pytest.approx(5)
    assert "time limit of 5 seconds" in first.output.output
    assert first.output.is_error
    assert first.output.reply_required
    assert result.status is CallStatus.CANCELLED
    assert result.reason == CancelReason.TIMEOUT
    assert result.output == first.output.output
    assert handle.timed_out is Deadline.TIMEOUT
    assert host.events_of(CallEnded) == [
        CallEnded("c1", "c1", CallStatus.CANCELLED, None, CancelReason.TIMEOUT)
    ]
    assert tool_task_names() == []


async def test_deadline_after_the_first_update_is_voiced_as_the_final_entry() -> None:
    """DLN-4, EVT-4: a call that answered already gets the timeout text as its `_final`."""

    @function_tool(timeout=5)
    async def slow(ctx: RunContext[None]) -> str:
        """Update, then hang."""
        await ctx.update("working")
        await anyio.sleep_forever()
        return "never"

    host = FakeHost()
    async with ToolExecutor(host) as executor:
        with anyio.fail_after(60):
            first = await executor.execute(slow, make_ctx("c1", "slow"))
            assert first.non_blocking
            await host.wait_until(lambda: bool(host.events_of(ReplyUpdated)))
    ended = host.events_of(CallEnded)
    assert ended == [CallEnded("c1_final", "c1", CallStatus.CANCELLED, None, CancelReason.TIMEOUT)]
    final = [i for i in host.current.chat_ctx.items if getattr(i, "call_id", "") == "c1_final"]
    assert any("time limit of 5 seconds" in getattr(i, "output", "") for i in final)
    scheduled = host.events_of(ReplyUpdated)[0]
    assert isinstance(scheduled, ReplyUpdated)
    assert scheduled.update_ids == ("c1_final",)


async def test_idle_deadline_is_refreshed_by_updates_and_heartbeats() -> None:
    """DLN-1, DLN-2: a call that beats every 4 seconds under a 5-second idle deadline runs to
    its end, whatever its total length."""

    @function_tool(idle_timeout=5)
    async def beating(ctx: RunContext[None]) -> str:
        """Make progress every 4 seconds for 20 seconds."""
        for step in range(5):
            await anyio.sleep(4)
            if step % 2:
                ctx.heartbeat()
            else:
                await ctx.update(f"step {step}")
        await anyio.sleep(4)
        return "done"

    async with ToolExecutor(FakeHost()) as executor:
        t0 = anyio.current_time()
        with anyio.fail_after(60):
            handle = await executor.start(beating, make_ctx("c1", "beating"))
            result = await handle.result()
    assert result.status is CallStatus.DONE
    assert result.value == "done"
    assert anyio.current_time() - t0 == pytest.approx(24)
    assert handle.timed_out is None


async def test_idle_deadline_fires_after_the_last_heartbeat() -> None:
    """DLN-1, DLN-2, DLN-4: heartbeats stop at 6 s; the call ends 5 s later, within the
    slack (a tenth of the idle timeout), with the idle text."""

    @function_tool(idle_timeout=5)
    async def stalls(ctx: RunContext[None]) -> str:
        """Beat twice, then stall."""
        for _ in range(2):
            await anyio.sleep(3)
            ctx.heartbeat()
        await anyio.sleep_forever()
        return "never"

    async with ToolExecutor(FakeHost()) as executor:
        t0 = anyio.current_time()
        with anyio.fail_after(60):
            handle = await executor.start(stalls, make_ctx("c1", "stalls"))
            result = await handle.result()
    assert 11 <= anyio.current_time() - t0 <= 11.5
    assert handle.timed_out is Deadline.IDLE_TIMEOUT
    assert result.reason == CancelReason.TIMEOUT
    assert result.output is not None
    assert "5 seconds without progress" in result.output


async def test_heartbeats_never_extend_the_hard_deadline() -> None:
    """DLN-1: the idle deadline moves, the hard one does not."""

    @function_tool(timeout=10, idle_timeout=5)
    async def busy(ctx: RunContext[None]) -> str:
        """Beat every second, forever."""
        while True:
            await anyio.sleep(1)
            ctx.heartbeat()

    async with ToolExecutor(FakeHost()) as executor:
        t0 = anyio.current_time()
        with anyio.fail_after(60):
            handle = await executor.start(busy, make_ctx("c1", "busy"))
            await handle.result()
    assert anyio.current_time() - t0 == pytest.approx(10)
    assert handle.timed_out is Deadline.TIMEOUT


async def test_a_swallowed_deadline_cancellation_still_counts_as_a_timeout() -> None:
    """DLN-5, CAN-9: the tool catches the cancellation and returns; the value reaches no one."""

    @function_tool(timeout=5)
    async def stubborn(ctx: RunContext[None]) -> str:
        """Swallow the cancellation."""
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            return "swallowed"
        return "never"

    async with ToolExecutor(FakeHost()) as executor:
        with anyio.fail_after(60):
            handle = await executor.start(stubborn, make_ctx("c1", "stubborn"))
            result = await handle.result()
    assert result.status is CallStatus.CANCELLED
    assert result.reason == CancelReason.TIMEOUT
    assert result.value is None


async def test_another_cancellation_keeps_its_own_reason() -> None:
    """DLN-5: a call cancelled before its deadline is not a timeout."""
    async with ToolExecutor(FakeHost()) as executor:
        with anyio.fail_after(60):
            handle = await executor.start(hangs, make_ctx("c1", "hangs"))
            await anyio.sleep(1)
            handle.cancel("stop")
            result = await handle.result()
    assert result.reason == "stop"
    assert result.output is None
    assert handle.timed_out is None


async def test_error_before_the_deadline_is_an_error() -> None:
    """DLN-4: only a passed deadline is a timeout; an error stays an error."""

    @function_tool(timeout=5, flags=ToolFlag.NONE)
    async def fails(ctx: RunContext[None]) -> str:
        """Fail at once."""
        raise RuntimeError("boom")

    async with ToolExecutor(FakeHost()) as executor:
        handle = await executor.start(fails, make_ctx("c1", "fails"))
        result = await handle.result()
    assert result.status is CallStatus.ERROR


@pytest.mark.parametrize(
    ("call_timeout", "options", "expected"),
    [
        (None, None, None),  # the tool sets none, the executor neither
        (3, {"timeout": 7}, 3),  # the call beats the executor's options
        (None, {"timeout": 7}, 7),  # the executor's options apply
        (math.inf, {"timeout": 7}, None),  # math.inf: no deadline at all
    ],
)
async def test_timeouts_resolve_call_then_tool_then_options(
    call_timeout: float | None, options: dict[str, Any] | None, expected: float | None
) -> None:
    """DLN-3: the most specific level that sets a value wins."""
    async with ToolExecutor(FakeHost(), options=options) as executor:
        t0 = anyio.current_time()
        with anyio.fail_after(60):
            handle = await executor.start(
                sleeps, make_ctx("c1", "sleeps", '{"seconds": 20}'), timeout=call_timeout
            )
            result = await handle.result()
        elapsed = anyio.current_time() - t0
    if expected is None:
        assert result.status is CallStatus.DONE
        assert elapsed == pytest.approx(20)
    else:
        assert result.reason == CancelReason.TIMEOUT
        assert elapsed == pytest.approx(expected)


async def test_a_tool_timeout_beats_the_executor_option() -> None:
    """DLN-3: the tool's own timeout wins over the executor's options."""
    async with ToolExecutor(FakeHost(), options={"timeout": 2}) as executor:
        t0 = anyio.current_time()
        with anyio.fail_after(60):
            handle = await executor.start(hangs, make_ctx("c1", "hangs"))
            await handle.result()
        assert anyio.current_time() - t0 == pytest.approx(5)


async def test_timeout_template_is_configurable() -> None:
    """DLN-4, OPT-1: a str or callable template gets the deadline's name and length."""
    seen: list[TimeoutPromptArgs] = []

    def template(args: TimeoutPromptArgs) -> str:
        seen.append(args)
        return f"{args['function_name']} gave up after {args['seconds']:g}s"

    for chosen, expected in [
        ("{function_name}: {deadline} of {seconds:g}s ({call_id})", "hangs: timeout of 5s (c1)"),
        (template, "hangs gave up after 5s"),
    ]:
        async with ToolExecutor(FakeHost(), options={"timeout_template": chosen}) as executor:
            with anyio.fail_after(60):
                answer = await executor.execute(hangs, make_ctx("c1", "hangs"))
        assert answer.output.output == expected
    assert seen[0]["deadline"] == "timeout"
    assert seen[0]["deadline_text"] == "time limit of 5 seconds"


async def test_a_failing_timeout_template_falls_back_to_the_default() -> None:
    """DLN-4: the call still ends, with the library's text."""

    def broken(args: TimeoutPromptArgs) -> str:
        raise RuntimeError("template bug")

    async with ToolExecutor(FakeHost(), options={"timeout_template": broken}) as executor:
        with anyio.fail_after(60):
            answer = await executor.execute(hangs, make_ctx("c1", "hangs"))
    assert "time limit of 5 seconds" in answer.output.output


def test_bad_deadlines_raise_at_declaration_and_resolution() -> None:
    """DLN-3, DEC-2, OPT-4: clear typed errors naming the option."""

    async def tool(ctx: RunContext[None]) -> None:
        """A tool."""

    with pytest.raises(ValueError, match=r"timeout must be > 0 \(math.inf for none\), got 0"):
        function_tool(tool, timeout=0)
    with pytest.raises(ValueError, match=r"idle_timeout must be > 0"):
        function_tool(tool, idle_timeout=-1)
    with pytest.raises(TypeError, match=r"timeout must be a number of seconds or None, got str"):
        function_tool(tool, timeout="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"idle_timeout must be > 0"):
        ToolOptions.resolve({"idle_timeout": 0})
    with pytest.raises(ValueError, match=r"timeout_template names unknown placeholder \{x\}"):
        ToolOptions.resolve({"timeout_template": "{x}"})


async def test_bad_per_call_deadline_raises_before_admission() -> None:
    """DLN-3: a bad per-call value raises ValueError; nothing was admitted."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        with pytest.raises(ValueError, match=r"timeout must be > 0"):
            await executor.execute(hangs, make_ctx("c1", "hangs"), timeout=-1)
    assert host.events == []


async def test_idempotency_key_is_stable_per_call_and_distinct_across_calls() -> None:
    """IDK-1: derived from the tool's name and the call's id; the same before and after the
    executor bound the context; two calls never share one."""
    keys: list[str] = []

    @function_tool
    async def keyed(ctx: RunContext[None]) -> str:
        """Report the key twice."""
        keys.append(ctx.idempotency_key)
        await anyio.sleep(1)
        keys.append(ctx.idempotency_key)
        return ctx.idempotency_key

    first = make_ctx("c1", "keyed")
    before = first.idempotency_key
    async with ToolExecutor(FakeHost()) as executor:
        await executor.execute(keyed, first)
        await executor.execute(keyed, make_ctx("c2", "keyed"))
    assert keys[0] == keys[1] == before
    assert keys[2] == keys[3] != keys[0]
    assert make_ctx("c1", "keyed").idempotency_key == before
    assert make_ctx("c1", "other").idempotency_key != before


async def test_heartbeat_without_deadline_or_executor_does_nothing() -> None:
    """DLN-7: heartbeat() is harmless with no idle deadline, and after the call ended."""

    @function_tool
    async def plain(ctx: RunContext[None]) -> str:
        """Beat with no deadline."""
        ctx.heartbeat()
        return "ok"

    ctx = make_ctx("c1", "plain")
    async with ToolExecutor(FakeHost()) as executor:
        answer = await executor.execute(plain, ctx)
    ctx.heartbeat()
    assert answer.output.output == "ok"


async def test_a_committed_call_still_ends_at_its_deadline() -> None:
    """CAN-11 with DLN-4: a deadline is not a cancel request, so a call that committed and
    then hangs still ends `cancelled` with cause `timeout` (found by the generated programs,
    which mix commits and deadlines)."""

    @function_tool(timeout=5)
    async def charge(ctx: RunContext[None]) -> str:
        """Commit, then hang."""
        await ctx.update("charging")
        await ctx.commit()
        await anyio.sleep_forever()
        return "charged"

    host = FakeHost()
    async with ToolExecutor(host) as executor:
        with anyio.fail_after(60):
            handle = await executor.start(charge, make_ctx("c1", "charge"))
            result = await handle.result()
    assert handle.is_committed
    assert (result.status, result.cancel_cause) == (CallStatus.CANCELLED, CancelReason.TIMEOUT)


async def test_an_error_raised_while_the_deadline_cancels_is_still_a_timeout() -> None:
    """DLN-4 with INV-26: a child that raises while the deadline cancels the call (a group
    mixing the cancellation with the error on trio) still ends `cancelled` by `timeout`."""

    @function_tool(timeout=5)
    async def fragile(ctx: RunContext[None]) -> str:
        """Run a child that fails while being cancelled."""

        async def child() -> None:
            try:
                await anyio.sleep_forever()
            finally:
                raise ConnectionError("lost while closing")

        async with anyio.create_task_group() as tg:
            tg.start_soon(child)
            await anyio.sleep_forever()
        return "never"

    async with ToolExecutor(FakeHost()) as executor:
        with anyio.fail_after(60):
            handle = await executor.start(fragile, make_ctx("c1", "fragile"))
            result = await handle.result()
    assert (result.status, result.cancel_cause) == (CallStatus.CANCELLED, CancelReason.TIMEOUT)
