"""Dispatch: what the LLM sees for each way a call can end (SPEC EXE-3..9, EXE-13, EVT-4)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from anyio_tools import (
    CANCELLED_TEXT,
    CLOSING_TEXT,
    GENERIC_ERROR_TEXT,
    CallEnded,
    CallStarted,
    ExecutorClosedError,
    HandoffAgent,
    RunContext,
    StopResponse,
    ToolError,
    ToolExecutor,
    ToolFlag,
    function_tool,
)
from anyio_tools.testing import FakeHost, tool_task_names

from .helpers import event_names, make_ctx


class Target(HandoffAgent):
    """An agent to hand off to."""


AGENT = Target()
OTHER = Target()


class Weird:
    """Not a valid tool result."""


RETURNS: dict[str, Any] = {
    "none": None,
    "text": "ok",
    "zero": 0,
    "list": [1, "a"],
    "weird": Weird(),
    "agent": AGENT,
    "agent_and_text": [AGENT, "booked"],
    "two_agents": [AGENT, OTHER],
}


@function_tool
async def returns(kind: str) -> Any:
    """Return a value chosen by kind."""
    return RETURNS[kind]


@function_tool
async def raises(kind: str) -> None:
    """Raise an exception chosen by kind."""
    if kind == "tool":
        raise ToolError("no such date")
    if kind == "stop":
        raise StopResponse
    raise RuntimeError("secret internals")


@pytest.mark.parametrize(
    ("kind", "text", "is_error", "reply_required", "handoff"),
    [
        ("none", "", False, False, None),
        ("text", "ok", False, True, None),
        ("zero", "0", False, True, None),
        ("list", '[1,"a"]', False, True, None),
        ("weird", "the tool returned an unusable value", True, True, None),
        ("agent", "", False, False, AGENT),
        ("agent_and_text", "booked", False, True, AGENT),
        ("two_agents", "several agents were returned; none was applied", True, True, None),
    ],
)
async def test_return_values_become_answers(
    kind: str, text: str, is_error: bool, reply_required: bool, handoff: object
) -> None:
    """EXE-7: each kind of return value gives its answer (falsy values keep their text)."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        result = await executor.execute(returns, make_ctx("c1", "returns", f'{{"kind": "{kind}"}}'))
    assert result.output.output == text
    assert result.output.is_error is is_error
    assert result.output.reply_required is reply_required
    assert result.handoff is handoff
    assert not result.non_blocking
    assert event_names(host.events) == ["CallStarted:c1", "CallEnded:c1"]


@pytest.mark.parametrize(
    ("kind", "text", "is_error", "status", "message"),
    [
        ("tool", "no such date", True, "error", "no such date"),
        ("stop", "", False, "done", None),
        ("other", GENERIC_ERROR_TEXT, True, "error", "secret internals"),
    ],
)
async def test_exceptions_become_answers(
    kind: str, text: str, is_error: bool, status: str, message: str | None
) -> None:
    """EXE-7, EVT-4: ToolError verbatim, StopResponse silent, others generic (no leak)."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        result = await executor.execute(raises, make_ctx("c1", "raises", f'{{"kind": "{kind}"}}'))
    assert result.output.output == text
    assert "secret" not in result.output.output
    assert result.output.is_error is is_error
    ended = host.events[-1]
    assert isinstance(ended, CallEnded)
    assert (ended.id, ended.status, ended.message) == ("c1", status, message)


async def test_repaired_arguments_are_written_back() -> None:
    """EXE-3: the returned call item holds canonical JSON when the text had to be repaired."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        result = await executor.execute(returns, make_ctx("c1", "returns", "{'kind': 'text',}"))
    assert result.call.arguments == '{"kind": "text"}'
    assert result.output.output == "ok"
    started = host.events[0]
    assert isinstance(started, CallStarted)
    assert started.call.arguments == '{"kind": "text"}'


async def test_unparseable_arguments_are_answered_without_events() -> None:
    """EXE-3, EVT-2: unrepairable JSON is answered with an error and nothing is admitted."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        result = await executor.execute(returns, make_ctx("c1", "returns", "book it please"))
    assert result.output.is_error
    assert result.output.output.startswith("Invalid arguments for `returns`")
    assert host.events == []


async def test_invalid_arguments_are_admitted_and_end_in_error() -> None:
    """DEC-8, EVT-4: a validation failure is raised in the call: Started, then Ended(error)."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        result = await executor.execute(returns, make_ctx("c1", "returns", '{"kind": 3}'))
    assert result.output.is_error
    assert "'kind'" in result.output.output
    assert event_names(host.events) == ["CallStarted:c1", "CallEnded:c1"]
    ended = host.events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.status == "error"


async def test_first_update_releases_and_later_results_are_final_entries() -> None:
    """EXE-6, EXE-8, EXE-9, UPD-10: the update answers; the result comes as `_final`."""
    go = anyio.Event()

    @function_tool
    async def slow(ctx: RunContext[None]) -> str:
        """Work slowly."""
        await ctx.update("started")
        await go.wait()
        return "all done"

    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        result = await executor.execute(slow, make_ctx("c5", "slow"))
        assert result.non_blocking
        assert result.output.call_id == "c5"
        assert "started" in result.output.output
        assert result.call.extra["non_blocking"] is True
        go.set()
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
    assert event_names(host.events)[:3] == [
        "CallStarted:c5",
        "CallUpdated:c5",
        "CallEnded:c5_final",
    ]
    ended = host.events[2]
    assert isinstance(ended, CallEnded)
    assert (ended.status, ended.message) == ("done", "all done")
    assert [i.call_id for i in host.current.chat_ctx.items] == ["c5_final", "c5_final"]


@pytest.mark.parametrize(
    ("ending", "final_text", "status"),
    [
        ("error", GENERIC_ERROR_TEXT, "error"),
        ("tool_error", "late failure", "error"),
        ("agent", "a handoff cannot follow a progress update", "error"),
        ("none", None, "done"),
        ("stop", None, "done"),
    ],
)
async def test_endings_after_an_update(ending: str, final_text: str | None, status: str) -> None:
    """EXE-9: errors and agents after an update give `_final` error entries; None gives none."""

    @function_tool
    async def later(ctx: RunContext[None]) -> Any:
        """End in a chosen way after an update."""
        await ctx.update("working")
        if ending == "error":
            raise RuntimeError("late")
        if ending == "tool_error":
            raise ToolError("late failure")
        if ending == "stop":
            raise StopResponse
        return AGENT if ending == "agent" else None

    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        result = await executor.execute(later, make_ctx("c7", "later"))
        assert result.handoff is None
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
    ended = [e for e in host.events if isinstance(e, CallEnded)]
    assert [(e.id, e.status) for e in ended] == [("c7_final", status)]
    outputs = [i for i in host.current.chat_ctx.items if i.call_id == "c7_final"]
    if final_text is None:
        assert outputs == []
    else:
        assert outputs[-1].output == final_text  # type: ignore[union-attr]
        assert outputs[-1].is_error  # type: ignore[union-attr]


async def test_cancelled_dispatcher_cancels_its_unreleased_call() -> None:
    """EXE-13: cancelling execute() before release cancels the call, and propagates."""
    started = anyio.Event()

    @function_tool(flags=ToolFlag.NONE)
    async def hang() -> None:
        """Never finish."""
        started.set()
        await anyio.sleep_forever()

    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:

        async def dispatch() -> None:
            await executor.execute(hang, make_ctx("c1", "hang"))
            pytest.fail("execute() returned although it was cancelled")

        tg.start_soon(dispatch)
        await started.wait()
        tg.cancel_scope.cancel()
    assert event_names(host.events) == ["CallStarted:c1", "CallEnded:c1"]
    ended = host.events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.status == "cancelled"
    assert tool_task_names() == []


async def test_cancelled_before_release_answers_cancelled_text() -> None:
    """EXE-7, CAN-5: a call cancelled before any answer answers CANCELLED_TEXT."""
    started = anyio.Event()

    @function_tool(flags=ToolFlag.CANCELLABLE)
    async def hang() -> None:
        """Never finish."""
        started.set()
        await anyio.sleep_forever()

    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        results = []

        async def dispatch() -> None:
            results.append(await executor.execute(hang, make_ctx("c1", "hang")))

        tg.start_soon(dispatch)
        await started.wait()
        assert await executor.cancel("c1") is True
    assert results[0].output.output == CANCELLED_TEXT
    assert results[0].output.reply_required is False


async def test_execute_on_a_never_entered_executor_raises() -> None:
    """Misuse: executing outside ``async with`` raises ExecutorClosedError, saying what to do."""
    executor = ToolExecutor(FakeHost())
    with pytest.raises(ExecutorClosedError, match="inside 'async with'"):
        await executor.execute(returns, make_ctx("c1", "returns", '{"kind": "text"}'))


async def test_closing_executor_answers_closing_without_events() -> None:
    """EXE-5c, EVT-2: after drain, new calls get the closing answer and no events."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        await executor.drain()
        result = await executor.execute(returns, make_ctx("c1", "returns", '{"kind": "text"}'))
    assert result.output.output == CLOSING_TEXT
    assert result.output.is_error
    assert host.events == []


async def test_duplicate_call_id_is_refused_and_first_call_untouched() -> None:
    """EXE-5d: a call id already running in the session gets an error naming it."""
    go = anyio.Event()

    @function_tool
    async def wait(ctx: RunContext[None]) -> str:
        """Wait."""
        await ctx.update("waiting")
        await go.wait()
        return "first"

    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(wait, make_ctx("c1", "wait"))
        second = await executor.execute(wait, make_ctx("c1", "wait"))
        assert second.output.is_error
        assert "`c1`" in second.output.output
        assert [c.call_id for c in executor.running()] == ["c1"]
        go.set()
        await host.wait_until(lambda: not executor.running())
    assert [e.status for e in host.events if isinstance(e, CallEnded)] == ["done"]


async def test_execute_on_a_closed_executor_raises() -> None:
    """Issue #3 misuse: after the block exited, execute() raises a clear error."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        pass
    with pytest.raises(ExecutorClosedError, match="it is closed"):
        await executor.execute(returns, make_ctx("c1", "returns", '{"kind": "text"}'))
    assert host.events == []


async def test_update_after_the_end_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """UPD-5: a detached context records the update and says so in the log."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        ctx = make_ctx("c1", "returns", '{"kind": "text"}')
        await executor.execute(returns, ctx)
    await ctx.update("too late")
    assert "arrived after the call ended" in caplog.text
    assert len(ctx.updates) == 1
