"""One outcome per way a tool fails, whatever wraps the failure (issue #11 exception-group
matrix; SPEC EXE-7, EVT-4, INV-23, INV-26).

Each row is a way to fail; each column is what the failure happens inside. The expected
outcome (the answer's text and error flag, the `CallEnded` status and message) is written out
once per row, so the same table holds on asyncio and on trio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import pytest

from anyio_tools import (
    GENERIC_ERROR_TEXT,
    CallEnded,
    CallStatus,
    RunContext,
    StopResponse,
    Tool,
    ToolError,
    ToolExecutor,
    ToolFlag,
    function_tool,
)
from anyio_tools.testing import FakeHost

from .helpers import make_ctx


@asynccontextmanager
async def bare(ctx: RunContext[None]) -> AsyncIterator[None]:
    yield


@asynccontextmanager
async def own_task_group(ctx: RunContext[None]) -> AsyncIterator[None]:
    # The failure happens in a child task of a group the tool owns.
    async with anyio.create_task_group() as tg:
        yield
        tg.cancel_scope.cancel()


Wrapper = Callable[[RunContext[None]], AbstractAsyncContextManager[None]]
WRAPPERS: dict[str, Wrapper] = {"bare": bare, "own_task_group": own_task_group}

# row -> (answer text, is_error, CallEnded status, CallEnded message)
EXPECTED: dict[str, tuple[str, bool, CallStatus, str | None]] = {
    "tool_error": ("no seats", True, CallStatus.ERROR, "no seats"),
    "stop_response": ("", False, CallStatus.DONE, None),
    "plain": (GENERIC_ERROR_TEXT, True, CallStatus.ERROR, "boom"),
    "error_during_cancellation": ("working", False, CallStatus.CANCELLED, None),
}


def failure(row: str) -> BaseException:
    if row == "tool_error":
        return ToolError("no seats")
    if row == "stop_response":
        return StopResponse()
    return RuntimeError("boom")


def failing_tool(wrapper: Wrapper, row: str) -> Tool:
    @function_tool(flags=ToolFlag.CANCELLABLE)
    async def failing(ctx: RunContext[None]) -> str:
        """Fail the way the row says, inside the wrapper."""
        async with wrapper(ctx):
            if row == "error_during_cancellation":
                await ctx.update("working")

                async def child() -> None:
                    try:
                        await anyio.sleep_forever()
                    finally:
                        raise ConnectionError("closing failed")

                async with anyio.create_task_group() as tg:
                    tg.start_soon(child)
                    await anyio.sleep_forever()
            raise failure(row)
        return "unreachable"

    return failing


@pytest.mark.parametrize("row", list(EXPECTED))
@pytest.mark.parametrize("column", list(WRAPPERS))
async def test_exception_matrix_in_the_executor(column: str, row: str) -> None:
    """INV-26: the same outcome and event text for each failure, whatever wraps it."""
    host = FakeHost()
    tool = failing_tool(WRAPPERS[column], row)
    with anyio.fail_after(5):
        async with ToolExecutor(host) as executor:
            handle = await executor.start(tool, make_ctx("c1", "failing"))
            answer = await handle.answer()
            if row == "error_during_cancellation":
                handle.cancel("stop")
            await handle.result()
    [ended] = [e for e in host.events if isinstance(e, CallEnded)]
    text, is_error, status, message = EXPECTED[row]
    if row == "error_during_cancellation":
        assert text in answer.output.output
    else:
        assert answer.output.output == text
    assert (answer.output.is_error, ended.status, ended.message) == (is_error, status, message)
