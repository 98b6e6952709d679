"""Calls run in their caller's task (``ToolExecutor.call``) and updates without a checkpoint
(``RunContext.update_nowait``) (issue #14; SPEC EXE-5, CAN-5, CAN-9, CTX-6, CTX-9, DUP-1..7,
UPD-4..6; the module rules CALL-1..4 of ``_caller.py``).

Every test runs on both backends; waits are on events and states, never on the clock.
"""

from __future__ import annotations

import logging

import anyio
import pytest

from anyio_tools import (
    CallEnded,
    CallRefusedError,
    CallResult,
    CallStarted,
    CallStatus,
    CallUpdated,
    CancelReason,
    ExecutorClosedError,
    FunctionCall,
    RunContext,
    Tool,
    ToolExecutor,
    ToolFlag,
    function_tool,
)
from anyio_tools._calls import current_call
from anyio_tools.testing import FakeHost, tool_task_names

gates: dict[str, anyio.Event] = {}
seen: list[str] = []


@pytest.fixture(autouse=True)
def reset() -> None:
    gates.clear()
    seen.clear()
    gates["started"] = anyio.Event()
    gates["release"] = anyio.Event()


def call_item(call_id: str, name: str, arguments: str = "{}") -> FunctionCall:
    return FunctionCall(call_id=call_id, name=name, arguments=arguments)


@function_tool
async def count(ctx: RunContext[None], n: int) -> int:
    """Report each step, then return the total."""
    seen.extend(task for task in tool_task_names() if task.startswith("tool-call"))
    for i in range(n):
        await ctx.update(f"step {i}")
    return n


@function_tool
async def waits(ctx: RunContext[None]) -> str:
    """Report once, then wait for the release."""
    await ctx.update("waiting")
    gates["started"].set()
    try:
        await gates["release"].wait()
    except anyio.get_cancelled_exc_class():
        seen.append("cancelled")
        raise
    return "released"


@function_tool(on_duplicate="reject")
async def solo(ctx: RunContext[None]) -> str:
    """Run alone until released."""
    await ctx.update("solo running")
    gates["started"].set()
    await gates["release"].wait()
    return "solo done"


@function_tool(on_duplicate="replace", flags=ToolFlag.CANCELLABLE)
async def latest(ctx: RunContext[None], n: int) -> int:
    """Keep only the latest call running."""
    await ctx.update(f"latest {n}")
    if n == 1:
        gates["started"].set()
        await anyio.sleep_forever()
    return n


@function_tool(on_duplicate="join")
async def shared(ctx: RunContext[None]) -> str:
    """One run serves every duplicate."""
    await ctx.update("shared 1")
    gates["started"].set()
    await gates["release"].wait()
    await ctx.update("shared 2")
    return "shared done"


@function_tool
async def bursts(ctx: RunContext[None]) -> str:
    """Three updates without a checkpoint between them, then one with."""
    ctx.update_nowait("one")
    ctx.update_nowait("two")
    ctx.update_nowait("three")
    await ctx.update("four")
    return "burst done"


async def test_call_runs_the_tool_in_the_callers_task_and_returns_its_result() -> None:
    """CALL-1: admitted as start() admits (events, registry), run without a task of its own;
    on_update gets every update, in order."""
    host = FakeHost()
    updates: list[CallUpdated] = []
    async with ToolExecutor(host) as executor:
        result = await executor.call(
            count, call_item("c1", "count", '{"n": 3}'), on_update=updates.append
        )
        running_after = executor.calls()
    assert (result.call_id, result.status, result.value, result.output) == (
        "c1",
        CallStatus.DONE,
        3,
        "3",
    )
    assert seen == []  # no `tool-call c1` task ran the body
    assert [(u.id, u.message) for u in updates] == [
        ("c1", "step 0"),
        ("c1_update_1", "step 1"),
        ("c1_update_2", "step 2"),
    ]
    assert running_after == []
    assert isinstance(host.events[0], CallStarted)
    ended = [e for e in host.events if isinstance(e, CallEnded)]
    assert [(e.call_id, e.status) for e in ended] == [("c1", CallStatus.DONE)]


async def test_call_is_listed_while_it_runs_and_cancelled_through_its_handle() -> None:
    """CALL-2, CAN-10: the running call is one of the executor's calls; cancelling its handle
    cancels its scope and call() returns the cancelled result (the caller is not cancelled)."""
    results = []
    async with ToolExecutor() as executor, anyio.create_task_group() as tg:

        async def caller() -> None:
            results.append(await executor.call(waits, call_item("w1", "waits")))

        tg.start_soon(caller)
        await gates["started"].wait()
        (handle,) = executor.calls()
        assert handle.id == "w1"
        assert handle.status is CallStatus.RUNNING
        handle.cancel("enough")
        await handle.wait_ended()
    (result,) = results
    assert result.status is CallStatus.CANCELLED
    assert result.reason == "enough"
    assert result.cancel_cause is CancelReason.HOST
    assert seen == ["cancelled"]


async def test_cancelling_the_caller_cancels_the_call() -> None:
    """CALL-2, SC-4: cancelling the task that awaits call() cancels the call, which ends
    cancelled (one CallEnded) before the cancellation propagates."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:

                async def cancel_when_started() -> None:
                    await gates["started"].wait()
                    scope.cancel()

                tg.start_soon(cancel_when_started)
                await executor.call(waits, call_item("w1", "waits"))
            pytest.fail("call() returned although its caller was cancelled")
        running = executor.calls()
    assert scope.cancelled_caught
    assert seen == ["cancelled"]
    assert running == []
    ended = [e for e in host.events if isinstance(e, CallEnded)]
    assert [(e.call_id, e.status, e.cancel_cause) for e in ended] == [
        ("w1", CallStatus.CANCELLED, CancelReason.HOST)
    ]


async def test_call_is_a_checkpoint_and_a_cancelled_caller_admits_nothing() -> None:
    """STYLE 2.3, EXE-5: call() checks for cancellation before admitting anything."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await executor.call(count, call_item("c1", "count", '{"n": 1}'))
            pytest.fail("call() returned without a checkpoint")
    assert scope.cancelled_caught
    assert host.events == []


async def test_closing_the_executor_cancels_a_running_call() -> None:
    """CALL-2, CAN-5: leaving the executor's block cancels a call() in progress (cause
    shutdown); call() then returns its cancelled result."""
    results = []
    async with anyio.create_task_group() as tg, ToolExecutor() as executor:

        async def caller() -> None:
            results.append(await executor.call(waits, call_item("w1", "waits")))

        tg.start_soon(caller)
        await gates["started"].wait()
    (result,) = results
    assert result.status is CallStatus.CANCELLED
    assert result.cancel_cause is CancelReason.SHUTDOWN


async def test_call_on_a_closed_executor_raises() -> None:
    """EXE-5 misuse: call() after the block exited raises ExecutorClosedError."""
    async with ToolExecutor() as executor:
        pass
    with pytest.raises(ExecutorClosedError, match="it is closed"):
        await executor.call(count, call_item("c1", "count", '{"n": 1}'))


async def test_duplicate_reject_refuses_a_call_through_call() -> None:
    """DUP-4 with CALL-1: a call() of a ``reject`` tool while one runs raises
    CallRefusedError carrying the answer; the running call goes on."""
    async with ToolExecutor() as executor:
        first = await executor.start(solo, call_item("s1", "solo"))
        await gates["started"].wait()
        with pytest.raises(CallRefusedError) as refused:
            await executor.call(solo, call_item("s2", "solo"))
        gates["release"].set()
        first_result = await first.result()
    assert "`solo` is already running" in refused.value.result.output.output
    assert first_result.output == "solo done"


async def test_a_call_through_call_is_rejected_as_a_running_duplicate() -> None:
    """DUP-1 with CALL-1: a call running in its caller's task counts as running for the
    duplicate policy of later calls."""
    results = []
    async with ToolExecutor() as executor, anyio.create_task_group() as tg:

        async def caller() -> None:
            results.append(await executor.call(solo, call_item("s1", "solo")))

        tg.start_soon(caller)
        await gates["started"].wait()
        with pytest.raises(CallRefusedError, match="refused"):
            await executor.start(solo, call_item("s2", "solo"))
        gates["release"].set()
    assert [r.output for r in results] == ["solo done"]


async def test_duplicate_replace_cancels_a_call_running_in_its_callers_task() -> None:
    """DUP-5 with CALL-2: a ``replace`` duplicate cancels the call() running and waits for
    its end, then runs; the replaced call() returns cancelled (cause replace)."""
    results = []
    async with ToolExecutor() as executor, anyio.create_task_group() as tg:

        async def caller() -> None:
            results.append(await executor.call(latest, call_item("l1", "latest", '{"n": 1}')))

        tg.start_soon(caller)
        await gates["started"].wait()
        second = await executor.call(latest, call_item("l2", "latest", '{"n": 2}'))
    (first,) = results
    assert first.status is CallStatus.CANCELLED
    assert first.cancel_cause is CancelReason.REPLACE
    assert (second.status, second.value) == (CallStatus.DONE, 2)


async def test_a_call_that_joins_returns_the_running_calls_result_and_updates() -> None:
    """CALL-4, JOIN-1: call() of a ``join`` duplicate runs nothing; it follows the running
    call: its updates (from the first) go to on_update, its result is returned."""
    updates: list[str] = []
    async with ToolExecutor() as executor, anyio.create_task_group() as tg:
        running = await executor.start(shared, call_item("j1", "shared"))
        await gates["started"].wait()
        results = []

        async def joiner() -> None:
            results.append(
                await executor.call(
                    shared, call_item("j2", "shared"), on_update=lambda u: updates.append(u.id)
                )
            )

        tg.start_soon(joiner)
        await anyio.wait_all_tasks_blocked()
        gates["release"].set()
        running_result = await running.result()
    (joined,) = results
    assert joined == running_result
    assert (joined.call_id, joined.output) == ("j1", "shared done")
    assert updates == ["j1", "j1_update_1"]


async def test_the_current_call_is_restored_for_the_caller() -> None:
    """CTX-9: the body sees its own call as the current one; the caller's is restored."""
    inside: list[str | None] = []

    @function_tool
    async def who() -> str:
        """Say which call is current."""
        call = current_call.get()
        inside.append(None if call is None else call.call_id)
        return "me"

    async with ToolExecutor() as executor:
        before = current_call.get()
        await executor.call(who, call_item("c1", "who"))
        after = current_call.get()
    assert inside == ["c1"]
    assert before is None
    assert after is None


async def test_update_nowait_keeps_the_order_of_updates_without_a_checkpoint() -> None:
    """UPD-4, UPD-6: updates made with update_nowait() are taken in order, like update():
    the first answers, every one reaches the handle and the caller, ids count up."""
    updates: list[CallUpdated] = []
    async with ToolExecutor() as executor:
        result = await executor.call(bursts, call_item("b1", "bursts"), on_update=updates.append)
        handle = await executor.start(bursts, call_item("b2", "bursts"))
        first = await handle.answer()
        messages = [u.message async for u in handle.updates()]
    assert [(u.id, u.message) for u in updates] == [
        ("b1", "one"),
        ("b1_update_1", "two"),
        ("b1_update_2", "three"),
        ("b1_update_3", "four"),
    ]
    assert result.output == "burst done"
    assert first.non_blocking
    assert "one" in first.output.output
    assert messages == ["one", "two", "three", "four"]


async def test_update_nowait_is_not_a_checkpoint_and_update_is() -> None:
    """CTX-6, STYLE 2.3: under a cancelled scope update_nowait() returns and update()
    raises the cancellation (the X / X_nowait twins)."""
    ctx: RunContext[None] = RunContext(function_call=call_item("c1", "count"))
    with anyio.CancelScope() as scope:
        scope.cancel()
        ctx.update_nowait("no checkpoint")
        await ctx.update("checkpoint")
        pytest.fail("update() returned without a checkpoint")
    assert scope.cancelled_caught
    assert [pair[1].output.split("\n")[0] for pair in ctx.updates] == [
        "Progress from tool `count`: no checkpoint",
        "Progress from tool `count`: checkpoint",
    ]


async def test_update_nowait_after_the_call_ended_behaves_as_update(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """UPD-5: after the end, update_nowait() does what update() does: the update is only
    recorded, and the same warning is logged (neither raises)."""
    caplog.set_level(logging.WARNING, logger="anyio_tools.context")
    async with ToolExecutor() as executor:
        ctx: RunContext[None] = RunContext(function_call=call_item("c1", "count", '{"n": 0}'))
        await executor.call(count, ctx)
    ctx.update_nowait("late, without a checkpoint")
    await ctx.update("late, with a checkpoint")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [pair[1].output.split("\n")[0] for pair in ctx.updates] == [
        "Progress from tool `count`: late, without a checkpoint",
        "Progress from tool `count`: late, with a checkpoint",
    ]
    assert len(warnings) == 2
    assert all("arrived after the call ended" in text for text in warnings)


async def test_what_on_update_raises_is_raised_by_the_tools_update() -> None:
    """CALL-3: on_update runs inside ctx.update(); what it raises, the tool's update()
    raises, so the call ends with that error."""

    def refuse(update: CallUpdated) -> None:
        raise LookupError(f"no room for {update.message}")

    async with ToolExecutor() as executor:
        result = await executor.call(count, call_item("c1", "count", '{"n": 2}'), on_update=refuse)
    assert result.status is CallStatus.ERROR
    assert isinstance(result.error, LookupError)
    assert str(result.error) == "no room for step 0"


@pytest.mark.virtual_time
async def test_a_call_in_its_callers_task_ends_at_its_deadline() -> None:
    """DLN-3, DLN-4 with CALL-1: a call's own timeout applies in the caller's task; call()
    returns the timeout's result and the caller goes on (it was not cancelled)."""
    async with ToolExecutor() as executor:
        result = await executor.call(waits, call_item("w1", "waits"), timeout=5)
        after = await executor.call(count, call_item("c1", "count", '{"n": 1}'))
    assert result.status is CallStatus.CANCELLED
    assert result.cancel_cause is CancelReason.TIMEOUT
    assert seen == ["cancelled"]
    assert after.status is CallStatus.DONE


@function_tool(on_duplicate="confirm")
async def careful(n: int) -> int:
    """Return n (asks before a second call while one runs)."""
    return n


async def test_call_validates_arguments_given_as_an_object_without_parsing_the_text() -> None:
    """CALL-1, EXE-5 (a): ``arguments=`` (an MCP server's already parsed object) is validated
    as it is; the item's text is kept as the record, not parsed (here it is not even JSON)."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        result = await executor.call(
            count, call_item("c1", "count", "unparsed"), arguments={"n": 2}
        )
    assert (result.status, result.value) == (CallStatus.DONE, 2)
    started = [e for e in host.events if isinstance(e, CallStarted)]
    assert [e.call.arguments for e in started] == ["unparsed"]


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ([1, 2], "expected a JSON object of named arguments, got an array"),
        ('{"n": 1}', "expected a JSON object of named arguments, got a string"),
        (7, "expected a JSON object of named arguments, got a number"),
        ({1: 2}, "expected a JSON object of named arguments, got a key 1"),
    ],
)
async def test_call_refuses_arguments_that_are_not_an_object(arguments: object, words: str) -> None:
    """EXE-5 (a) with CALL-1: ``arguments=`` that are not an object (with string keys) are
    refused as a text that is not a JSON object is: CallRefusedError, nothing runs."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        with pytest.raises(CallRefusedError) as refused:
            await executor.call(count, call_item("c1", "count"), arguments=arguments)  # type: ignore[arg-type]
        running = executor.calls()
    output = refused.value.result.output
    assert output.is_error
    assert output.output == f"Invalid arguments for `count`: {words}"
    assert running == []
    assert host.events == []


async def test_call_with_mistyped_arguments_ends_as_the_same_text_would() -> None:
    """DEC-8 with CALL-1: arguments of the wrong type given as an object end the call with the
    same validation error as the same arguments given as text."""
    async with ToolExecutor() as executor:
        as_object = await executor.call(count, call_item("c1", "count"), arguments={"n": "many"})
        as_text = await executor.call(count, call_item("c2", "count", '{"n": "many"}'))
    assert as_object.status is CallStatus.ERROR
    assert "argument 'n'" in (as_object.output or "")
    assert (as_object.status, as_object.output) == (as_text.status, as_text.output)


async def test_call_leaves_the_callers_argument_object_unchanged() -> None:
    """DUP-6 with CALL-1: the confirm parameter is taken out of a copy; the caller's object
    (an MCP request's params) is left as it was, also for a tool with a duplicate policy."""
    given = {"n": 4, "anyio_tools_confirm_duplicate": True}
    async with ToolExecutor() as executor:
        result = await executor.call(careful, call_item("c1", "careful"), arguments=given)
    assert result.value == 4
    assert given == {"n": 4, "anyio_tools_confirm_duplicate": True}


async def test_call_takes_a_text_or_an_object_not_both() -> None:
    """CALL-1: raw_arguments and arguments together are a programming error."""
    async with ToolExecutor() as executor:
        with pytest.raises(TypeError, match="raw_arguments or arguments, not both"):
            await executor.call(count, call_item("c1", "count"), '{"n": 1}', arguments={"n": 1})
        assert executor.calls() == []


@function_tool(on_duplicate="join")
async def quiet(ctx: RunContext[None]) -> str:
    """Wait for the release without an update, then answer."""
    gates["started"].set()
    await gates["release"].wait()
    await anyio.sleep(5)
    return "quiet done"


async def call_into(
    executor: ToolExecutor, tool: Tool, call_id: str, results: list[CallResult]
) -> None:
    results.append(await executor.call(tool, call_item(call_id, tool.name)))


@pytest.mark.virtual_time
async def test_a_call_that_ended_in_its_callers_task_answers_as_of_its_end() -> None:
    """CALL-1, EXE-7: the handle of a call() that ended before any update answers with its
    result as of its end, however late it is asked, and always with the same item."""
    results: list[CallResult] = []
    async with ToolExecutor() as executor, anyio.create_task_group() as tg:
        tg.start_soon(call_into, executor, quiet, "q1", results)
        await gates["started"].wait()
        (handle,) = executor.calls()
        gates["release"].set()
        await handle.wait_ended()
        ended_at = anyio.current_time()
        await anyio.sleep(3)
        first = await handle.answer()
        again = await handle.answer()
    (result,) = results
    assert (result.status, result.output) == (CallStatus.DONE, "quiet done")
    assert first is again
    assert (first.call.call_id, first.output.call_id, first.output.output) == (
        "q1",
        "q1",
        "quiet done",
    )
    assert first.output.created_at == ended_at
    assert not first.non_blocking
    assert first.call.sort_key < first.output.sort_key  # INV-6


async def test_a_call_joining_a_call_in_its_callers_task_gets_its_answer_at_its_end() -> None:
    """CALL-1, JOIN-2: a duplicate that joins a call() waits for its first answer; the call
    ends without an update and the joiner is answered with its result."""
    results: list[CallResult] = []
    async with ToolExecutor() as executor, anyio.create_task_group() as tg:
        tg.start_soon(call_into, executor, quiet, "q1", results)
        await gates["started"].wait()
        joined = []

        async def joiner() -> None:
            ctx: RunContext[None] = RunContext(function_call=call_item("q2", "quiet"))
            joined.append(await executor.execute(quiet, ctx))

        tg.start_soon(joiner)
        await anyio.wait_all_tasks_blocked()
        assert joined == []
        gates["release"].set()
    ((result,), (answer,)) = (results, joined)
    assert result.output == "quiet done"
    assert answer.output.call_id == "q2"
    assert "quiet done" in answer.output.output
    assert not answer.output.is_error
