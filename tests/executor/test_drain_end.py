"""The end of a cancelled call, made cheap for drains (issue #19 item 2; DRN-1, CAN-10,
EVT-4).

A plain cancellation of a call whose cancel was requested skips the general judge, and the
calls one request cancels share one (never changed) outcome. What each call reports must not
change: its own request's reason and cause, and one `CallEnded`.
"""

from __future__ import annotations

from collections import Counter

import anyio

from anyio_tools import (
    CallEnded,
    CallStatus,
    CancelAnswer,
    CancelReason,
    RunContext,
    ToolExecutor,
    ToolFlag,
    function_tool,
)
from anyio_tools.testing import FakeHost

from .helpers import make_ctx


@function_tool(flags=ToolFlag.CANCELLABLE)
async def sleeper(ctx: RunContext[None]) -> str:
    """Update, then sleep until cancelled."""
    await ctx.update("working")
    await anyio.sleep_forever()
    return "never"


async def test_each_cancelled_call_keeps_its_own_requests_reason_and_cause() -> None:
    """CAN-10, EVT-4: calls cancelled one by one with their own reasons, then by
    ``cancel_all``, then by a drain, each report the reason and cause of the request that
    cancelled them (an outcome shared by one request's calls is not reused for another's),
    with one `CallEnded` each."""
    host = FakeHost()
    host.set_busy(True)
    with anyio.fail_after(60):
        async with ToolExecutor(host) as executor:
            handles = {}

            async def start(call_id: str) -> None:
                handles[call_id] = await executor.start(
                    sleeper, make_ctx(call_id, sleeper.name, "{}")
                )
                await handles[call_id].answer()

            for call_id in "abcd":
                await start(call_id)
            await anyio.wait_all_tasks_blocked()
            assert handles["a"].cancel("first reason") is CancelAnswer.CANCELLED
            await handles["a"].result()
            assert handles["b"].cancel("second reason", cause="llm") is CancelAnswer.CANCELLED
            await handles["b"].result()
            await executor.cancel_all()  # c, d
            for call_id in "ef":
                await start(call_id)
            await anyio.wait_all_tasks_blocked()
            await executor.drain()  # e, f
    results = {call_id: await handle.result() for call_id, handle in handles.items()}
    seen = {
        call_id: (result.status, result.reason, result.cancel_cause)
        for call_id, result in results.items()
    }
    assert seen["a"] == (CallStatus.CANCELLED, "first reason", CancelReason.HOST)
    assert seen["b"] == (CallStatus.CANCELLED, "second reason", CancelReason.LLM)
    for call_id in ("c", "d"):
        assert seen[call_id] == (CallStatus.CANCELLED, "cancel_all", CancelReason.HOST)
    for call_id in ("e", "f"):
        assert seen[call_id] == (
            CallStatus.CANCELLED,
            "the executor is draining",
            CancelReason.HANDOFF,
        )
    ended = [e for e in host.events if isinstance(e, CallEnded)]
    assert Counter(e.call_id for e in ended) == dict.fromkeys(handles, 1)
    assert {e.call_id: e.cancel_cause for e in ended} == {
        call_id: result.cancel_cause for call_id, result in results.items()
    }
