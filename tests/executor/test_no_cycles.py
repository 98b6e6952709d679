"""A call leaves no reference cycle behind (issue #19 item 3): once calls ended, everything
they made is freed by reference counting alone, so the cyclic garbage collector finds nothing
of ours, whether a call returned, raised, updated (owing deferred replies) or was cancelled.

Each test runs its calls with the collector disabled, then collects with
``gc.DEBUG_SAVEALL`` and looks at what it found: objects of anyio_tools' classes, and frames
of its modules, must not be there. (An unexpected error is logged with its traceback, and
pytest keeps log records until the test ends, so the error cases that show a cycle raise
`ToolError`, which is not logged.)
"""

from __future__ import annotations

import gc
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest

import anyio_tools
from anyio_tools import (
    CallStatus,
    RetryPolicy,
    RunContext,
    ToolError,
    ToolExecutor,
    ToolFlag,
    function_tool,
)
from anyio_tools.testing import FakeHost

from .helpers import make_ctx

_PACKAGE = str(Path(anyio_tools.__file__).parent)
CALLS = 20


def _ours(obj: object) -> bool:
    if isinstance(obj, types.FrameType):
        return obj.f_code.co_filename.startswith(_PACKAGE)
    return type(obj).__module__.startswith("anyio_tools")


@contextmanager
def collector_paused() -> Iterator[list[str]]:
    """Run the block with the GC off; then collect and list what of ours was garbage."""
    found: list[str] = []
    gc.collect()
    gc.disable()
    try:
        yield found
    finally:
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            found.extend(sorted({repr(type(o)) for o in gc.garbage if _ours(o)}))
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()


@function_tool
async def echo(x: int) -> int:
    """Return x."""
    return x


@function_tool
async def failing(x: int) -> int:
    """Raise an unexpected error."""
    raise ValueError(f"failed with {x}")


@function_tool
async def refusing(x: int) -> int:
    """Raise a ToolError."""
    raise ToolError(f"refused {x}")


@function_tool
async def progressing(ctx: RunContext[None], x: int) -> int:
    """Update three times (two owed deferred updates), then return."""
    for step in range(3):
        await ctx.update(f"step {step}")
    return x


@function_tool(timeout=60, idle_timeout=30)
async def guarded(x: int) -> int:
    """Raise under deadlines (the call runs in its guard)."""
    raise ToolError(f"failed with {x}")


@function_tool(flags=ToolFlag.IDEMPOTENT, retry=RetryPolicy(attempts=2, initial_delay=0))
async def retried(x: int) -> int:
    """Fail every attempt with a retryable error."""
    raise ToolError(f"still failing {x}")


_gate: dict[str, anyio.Event] = {}


@function_tool(flags=ToolFlag.CANCELLABLE)
async def waiting(ctx: RunContext[None], x: int) -> int:
    """Update once, then wait for a gate that never opens."""
    await ctx.update("waiting")
    await _gate["never"].wait()
    return x


@pytest.mark.parametrize("hosted", [True, False], ids=["host", "no_host"])
@pytest.mark.parametrize(
    ("tool", "status"),
    [
        (echo, CallStatus.DONE),
        (failing, CallStatus.ERROR),
        (refusing, CallStatus.ERROR),
        (progressing, CallStatus.DONE),
        (guarded, CallStatus.ERROR),
        (retried, CallStatus.ERROR),
    ],
    ids=["returns", "raises", "tool_error", "updates", "guarded", "retried"],
)
async def test_ended_calls_leave_no_cycle(tool: object, status: CallStatus, hosted: bool) -> None:
    """Calls that returned, raised or updated are freed without the cyclic GC once their
    handles and results (with the exceptions on them) are dropped."""
    host = FakeHost(auto_finish=True) if hosted else None
    statuses = set()
    async with ToolExecutor(host) as executor:
        with collector_paused() as found:
            for i in range(CALLS):
                ctx = make_ctx(f"c{i}", tool.name, '{"x": 1}')  # type: ignore[attr-defined]
                statuses.add((await (await executor.start(tool, ctx)).result()).status)  # type: ignore[arg-type]
            await anyio.wait_all_tasks_blocked()
            del ctx
    assert statuses == {status}
    assert found == []


@pytest.mark.parametrize("how", ["cancel_all", "handle", "close"])
async def test_cancelled_calls_leave_no_cycle(how: str) -> None:
    """Calls cancelled while they wait (by `cancel_all`, by their handle, by closing the
    executor) are freed without the cyclic GC, on both backends (on trio, the cancellation
    exception keeps the frames of whoever cancelled)."""
    _gate["never"] = anyio.Event()
    host = FakeHost(auto_finish=True)
    with collector_paused() as found:
        async with ToolExecutor(host) as executor:
            handles = [
                await executor.start(waiting, make_ctx(f"c{i}", "waiting", '{"x": 1}'))
                for i in range(CALLS)
            ]
            await anyio.wait_all_tasks_blocked()
            if how == "cancel_all":
                await executor.cancel_all()
            elif how == "handle":
                for handle in handles:
                    handle.cancel()
                    await handle.result()
                del handle
        statuses = {(await handle.result()).status for handle in handles}
        del handles
    assert statuses == {CallStatus.CANCELLED}
    assert found == []
