"""Retry policies of idempotent tools (issue #16: RTY-1..5, DLN-6), in virtual time.

Back-off timings are checked exactly with ``jitter=0``; with jitter, within its bounds.
"""

from __future__ import annotations

import itertools

import anyio
import pytest

from anyio_tools import (
    CallEnded,
    CallRetried,
    CallStatus,
    CancelReason,
    RetryPolicy,
    RunContext,
    ToolExecutor,
    ToolFlag,
    function_tool,
)
from anyio_tools.testing import FakeHost, tool_task_names

from .helpers import make_ctx

attempt_times: list[float] = []


pytestmark = pytest.mark.virtual_time  # exact deadlines and back-off in virtual time


@pytest.fixture(autouse=True)
def reset() -> None:
    attempt_times.clear()


def flaky(fail_times: int, *, policy: RetryPolicy, timeout: float | None = None) -> object:
    """A tool that fails *fail_times* times with ConnectionError, then answers."""

    @function_tool(flags=ToolFlag.IDEMPOTENT, retry=policy, timeout=timeout)
    async def fetch(ctx: RunContext[None], url: str) -> str:
        """Fetch a URL."""
        attempt_times.append(anyio.current_time())
        await ctx.update(f"attempt {len(attempt_times)}")
        if len(attempt_times) <= fail_times:
            raise ConnectionError(f"reset #{len(attempt_times)}")
        return f"got {url} with key {ctx.idempotency_key}"

    return fetch


async def test_a_retry_that_succeeds_after_backoff() -> None:
    """RTY-3, RTY-4: exponential back-off exactly as declared (no jitter); each failed attempt
    emits CallRetried; the handle counts attempts; earlier attempts' updates stay."""
    policy = RetryPolicy(
        attempts=4, initial_delay=1, multiplier=2, jitter=0, retry_on=ConnectionError
    )
    tool = flaky(2, policy=policy)
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        ctx = make_ctx("c1", "fetch", '{"url": "u"}')
        with anyio.fail_after(60):
            handle = await executor.start(tool, ctx)  # type: ignore[arg-type]
            result = await handle.result()
    t0 = attempt_times[0]
    assert [t - t0 for t in attempt_times] == pytest.approx([0, 1, 3])
    assert result.status is CallStatus.DONE
    assert result.value == f"got u with key {ctx.idempotency_key}"
    assert handle.attempts == 3
    assert host.events_of(CallRetried) == [
        CallRetried("c1", 1, "ConnectionError: reset #1", 1.0),
        CallRetried("c1", 2, "ConnectionError: reset #2", 2.0),
    ]
    # RTY-4: the failed attempts' updates stay in the chat, numbered on
    assert [item.call_id for item, _ in ctx.updates] == ["c1", "c1_update_1", "c1_update_2"]
    assert "attempt 1" in ctx.updates[0][1].output
    assert tool_task_names() == []


async def test_retries_exhausted_end_with_the_last_error() -> None:
    """RTY-5: after the last attempt, its exception is the outcome."""
    policy = RetryPolicy(attempts=3, initial_delay=2, max_delay=3, jitter=0, retry_on=OSError)
    tool = flaky(10, policy=policy)
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        with anyio.fail_after(60):
            handle = await executor.start(tool, make_ctx("c1", "fetch", '{"url": "u"}'))  # type: ignore[arg-type]
            result = await handle.result()
    t0 = attempt_times[0]
    assert [t - t0 for t in attempt_times] == pytest.approx([0, 2, 5])  # capped at max_delay
    assert result.status is CallStatus.ERROR
    assert str(result.error) == "reset #3"
    assert handle.attempts == 3
    assert len(host.events_of(CallRetried)) == 2
    ended = host.events_of(CallEnded)
    assert ended == [CallEnded("c1_final", "c1", CallStatus.ERROR, "reset #3")]


async def test_exceptions_not_named_are_not_retried() -> None:
    """RTY-2: the default policy retries nothing; other types are not retried either."""
    for policy in (RetryPolicy(jitter=0), RetryPolicy(jitter=0, retry_on=TimeoutError)):
        attempt_times.clear()
        tool = flaky(1, policy=policy)
        async with ToolExecutor(FakeHost()) as executor:
            handle = await executor.start(tool, make_ctx("c1", "fetch", '{"url": "u"}'))  # type: ignore[arg-type]
            result = await handle.result()
        assert result.status is CallStatus.ERROR
        assert len(attempt_times) == 1


async def test_a_predicate_decides_what_is_retryable() -> None:
    """RTY-2: retry_if sees the exception."""
    seen: list[BaseException] = []

    def transient(exc: BaseException) -> bool:
        seen.append(exc)
        return "reset" in str(exc)

    tool = flaky(1, policy=RetryPolicy(initial_delay=0, retry_if=transient))
    async with ToolExecutor(FakeHost()) as executor:
        handle = await executor.start(tool, make_ctx("c1", "fetch", '{"url": "u"}'))  # type: ignore[arg-type]
        result = await handle.result()
    assert result.status is CallStatus.DONE
    assert isinstance(seen[0], ConnectionError)


async def test_jitter_shortens_each_wait_by_at_most_its_share() -> None:
    """RTY-3: with jitter 0.5 each wait lies in [delay / 2, delay]."""
    policy = RetryPolicy(attempts=5, initial_delay=4, multiplier=1, jitter=0.5, retry_on=OSError)
    tool = flaky(4, policy=policy)
    async with ToolExecutor(FakeHost()) as executor:
        with anyio.fail_after(60):
            handle = await executor.start(tool, make_ctx("c1", "fetch", '{"url": "u"}'))  # type: ignore[arg-type]
            await handle.result()
    waits = [b - a for a, b in itertools.pairwise(attempt_times)]
    assert len(waits) == 4
    assert all(2 - 1e-6 <= w <= 4 + 1e-6 for w in waits)


async def test_the_deadline_covers_every_attempt_and_backoff() -> None:
    """DLN-6, RTY-3: a 10 s deadline cuts a retry loop that would need longer."""
    policy = RetryPolicy(attempts=10, initial_delay=4, multiplier=1, jitter=0, retry_on=OSError)
    tool = flaky(10, policy=policy, timeout=10)
    async with ToolExecutor(FakeHost()) as executor:
        t0 = anyio.current_time()
        with anyio.fail_after(60):
            handle = await executor.start(tool, make_ctx("c1", "fetch", '{"url": "u"}'))  # type: ignore[arg-type]
            result = await handle.result()
        assert anyio.current_time() - t0 == pytest.approx(10)
    assert result.reason == CancelReason.TIMEOUT
    assert handle.attempts == 3  # at 0, 4 and 8 s


async def test_a_cancelled_call_is_not_retried() -> None:
    """RTY-2: cancellation is never retried; the call ends cancelled at once."""
    policy = RetryPolicy(attempts=5, initial_delay=100, jitter=0, retry_on=OSError)
    tool = flaky(10, policy=policy)
    async with ToolExecutor(FakeHost()) as executor:
        handle = await executor.start(tool, make_ctx("c1", "fetch", '{"url": "u"}'))  # type: ignore[arg-type]
        with anyio.fail_after(60):
            await anyio.wait_all_tasks_blocked()  # waiting out its first back-off
            handle.cancel("stop")
            result = await handle.result()
    assert result.status is CallStatus.CANCELLED
    assert len(attempt_times) == 1


def test_retry_needs_an_idempotent_tool_and_a_valid_policy() -> None:
    """RTY-1: declared at decoration, with errors naming the option."""

    async def tool(ctx: RunContext[None]) -> None:
        """A tool."""

    with pytest.raises(ValueError, match=r"not declared idempotent; add flags=ToolFlag.IDEMPOTENT"):
        function_tool(tool, retry=RetryPolicy())
    with pytest.raises(TypeError, match=r"retry must be a RetryPolicy or None, got int"):
        function_tool(tool, flags=ToolFlag.IDEMPOTENT, retry=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"attempts must be >= 1, got 0"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match=r"jitter must be <= 1, got 2"):
        RetryPolicy(jitter=2)
    with pytest.raises(ValueError, match=r"multiplier must be >= 1, got 0.5"):
        RetryPolicy(multiplier=0.5)
    with pytest.raises(TypeError, match=r"retry_on must be an Exception subclass"):
        RetryPolicy(retry_on=(KeyboardInterrupt,))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"retry_if must be a callable or None"):
        RetryPolicy(retry_if="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"attempts must be an int"):
        RetryPolicy(attempts=2.5)  # type: ignore[arg-type]
    assert function_tool(tool, flags=ToolFlag.IDEMPOTENT, retry=RetryPolicy()).info.retry


async def test_a_new_attempt_counts_as_a_heartbeat() -> None:
    """DLN-1, RTY-3: an idle deadline shorter than the whole retry loop but longer than each
    attempt plus its back-off never fires."""
    policy = RetryPolicy(attempts=4, initial_delay=3, multiplier=1, jitter=0, retry_on=OSError)

    @function_tool(flags=ToolFlag.IDEMPOTENT, retry=policy, idle_timeout=5)
    async def slow_flaky(ctx: RunContext[None]) -> str:
        """Work 1 s per attempt, failing three times."""
        attempt_times.append(anyio.current_time())
        await anyio.sleep(1)
        if len(attempt_times) < 4:
            raise ConnectionError("reset")
        return "ok"

    async with ToolExecutor(FakeHost()) as executor:
        with anyio.fail_after(60):
            handle = await executor.start(slow_flaky, make_ctx("c1", "slow_flaky"))
            result = await handle.result()
    assert result.status is CallStatus.DONE
    assert handle.attempts == 4
    assert attempt_times[-1] - attempt_times[0] == pytest.approx(12)  # 15 s > 5 s idle
