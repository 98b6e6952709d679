"""The join duplicate policy (issue #16: JOIN-1..4).

A duplicate of a running call does not run: it answers like the running call (its first
update, or its result), says it joined, and leaves no events or entries of its own, so the
running call's later updates and final result are voiced once.
"""

from __future__ import annotations

import anyio
import pytest

from anyio_tools import (
    CallEnded,
    CallStarted,
    DispatchResult,
    JoinPromptArgs,
    ReplyUpdated,
    RunContext,
    ToolExecutor,
    ToolFlag,
    function_tool,
)
from anyio_tools.testing import FakeHost, tool_task_names

from .helpers import make_ctx

gates: dict[str, anyio.Event] = {}
runs: list[str] = []


@pytest.fixture(autouse=True)
def reset() -> None:
    gates.clear()
    gates.update(updated=anyio.Event(), finish=anyio.Event(), proceed=anyio.Event())
    runs.clear()


@function_tool(on_duplicate="join", duplicate_scope="name_and_args", flags=ToolFlag.CANCELLABLE)
async def lookup(ctx: RunContext[None], order_id: str) -> str:
    """Look an order up, slowly."""
    runs.append(ctx.call_id)
    await gates["proceed"].wait()
    await ctx.update(f"looking up {order_id}")
    await gates["finish"].wait()
    return f"order {order_id} shipped"


async def dispatch(
    tg: anyio.abc.TaskGroup, executor: ToolExecutor, call_id: str, args: str
) -> list[DispatchResult]:
    out: list[DispatchResult] = []

    async def run() -> None:
        out.append(await executor.execute(lookup, make_ctx(call_id, "lookup", args)))

    tg.start_soon(run)
    await anyio.wait_all_tasks_blocked()
    return out


async def test_join_before_the_first_update_mirrors_it_and_runs_nothing() -> None:
    """JOIN-1, JOIN-2, EVT-2: the joiner waits for the running call's first update, answers
    with it (non-blocking), names the call it joined; only one run, one set of events."""
    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        with anyio.fail_after(60):
            first = await dispatch(tg, executor, "c1", '{"order_id": "5"}')
            joined = await dispatch(tg, executor, "c2", '{"order_id": "5"}')
            assert joined == []  # waits for c1's first answer
            gates["proceed"].set()
            await anyio.wait_all_tasks_blocked()
            assert first
            assert joined
            gates["finish"].set()
    assert runs == ["c1"]
    answer = joined[0]
    assert answer.call.call_id == "c2"
    assert answer.output.call_id == "c2"
    assert answer.non_blocking
    assert "joined it" in answer.output.output
    assert "call `c1`" in answer.output.output
    assert "looking up 5" in answer.output.output
    assert all(getattr(e, "call_id", None) != "c2" for e in host.events)  # JOIN-3, EVT-2
    assert [e.call_id for e in host.events_of(CallStarted)] == ["c1"]  # type: ignore[union-attr]


async def test_join_after_the_first_update_answers_at_once_and_voices_the_final_once() -> None:
    """JOIN-2, JOIN-3: joining an already-released call answers without waiting; the final
    result is delivered once, under the running call's ids only."""
    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        with anyio.fail_after(60):
            gates["proceed"].set()
            first = await dispatch(tg, executor, "c1", '{"order_id": "5"}')
            joined = await dispatch(tg, executor, "c2", '{"order_id": "5"}')
            joined_too = await dispatch(tg, executor, "c3", '{"order_id": "5"}')
            assert first
            assert joined
            assert joined_too
            gates["finish"].set()
            await host.wait_until(lambda: bool(host.events_of(CallEnded)))
            host.set_busy(False)
            await host.wait_until(lambda: len(host.events_of(ReplyUpdated)) == 2)
    assert runs == ["c1"]
    assert "looking up 5" in joined[0].output.output
    replies = host.events_of(ReplyUpdated)
    assert [r.update_ids for r in replies] == [("c1_final",), ("c1_final",)]  # type: ignore[union-attr]
    assert len(host.replies) == 1


async def test_join_mirrors_a_result_when_the_call_ends_without_updates() -> None:
    """JOIN-2: a running call that ends before any update gives its result to joiners."""

    @function_tool(on_duplicate="join")
    async def compute(ctx: RunContext[None]) -> str:
        """Compute once."""
        await gates["finish"].wait()
        return "42"

    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        out: list[DispatchResult] = []

        async def run(call_id: str) -> None:
            out.append(await executor.execute(compute, make_ctx(call_id, "compute")))

        tg.start_soon(run, "c1")
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(run, "c2")
        await anyio.wait_all_tasks_blocked()
        gates["finish"].set()
    by_id = {r.call.call_id: r for r in out}
    assert by_id["c1"].output.output == "42"
    assert not by_id["c2"].non_blocking
    assert "42" in by_id["c2"].output.output
    assert "compute" in by_id["c2"].output.output


async def test_join_then_cancel_of_the_original_tells_the_joiner() -> None:
    """JOIN-4: the original is cancelled before it answered: the joiner gets its cancelled
    answer (wrapped), and nothing else runs."""
    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        with anyio.fail_after(60):
            await dispatch(tg, executor, "c1", '{"order_id": "5"}')
            joined = await dispatch(tg, executor, "c2", '{"order_id": "5"}')
            assert await executor.cancel("c1")
            await anyio.wait_all_tasks_blocked()
    assert "call `c1`" in joined[0].output.output
    assert "cancelled" in joined[0].output.output.lower()
    assert runs == ["c1"]
    assert tool_task_names() == []


async def test_cancelling_a_joiner_cancels_nothing_else() -> None:
    """JOIN-4: the joiner's own dispatcher being cancelled leaves the running call alone."""
    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        with anyio.fail_after(60):
            await dispatch(tg, executor, "c1", '{"order_id": "5"}')
            with anyio.CancelScope() as scope:
                scope.cancel()
                await executor.execute(lookup, make_ctx("c2", "lookup", '{"order_id": "5"}'))
            assert [c.call_id for c in executor.calls()] == ["c1"]
            gates["proceed"].set()
            gates["finish"].set()


async def test_different_arguments_do_not_join_and_start_returns_the_joined_handle() -> None:
    """JOIN-1, DUP-3: another key runs on its own; start() of a joiner returns the running
    call's handle."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        with anyio.fail_after(60):
            h1 = await executor.start(lookup, make_ctx("c1", "lookup", '{"order_id": "5"}'))
            h2 = await executor.start(lookup, make_ctx("c2", "lookup", '{"order_id": "7"}'))
            h3 = await executor.start(lookup, make_ctx("c3", "lookup", '{"order_id": "5"}'))
            assert h3 is h1
            assert h2 is not h1
            gates["proceed"].set()
            gates["finish"].set()
    assert sorted(runs) == ["c1", "c2"]


async def test_join_template_is_configurable() -> None:
    """JOIN-2, OPT-1: the join template gets the joined call and its answer."""

    def template(args: JoinPromptArgs) -> str:
        return f"same as {args['call_id']}: {args['answer'][:10]}"

    host = FakeHost()
    options = {"duplicate_join_template": template}
    async with ToolExecutor(host, options=options) as executor, anyio.create_task_group() as tg:
        gates["proceed"].set()
        await dispatch(tg, executor, "c1", '{"order_id": "5"}')
        joined = await dispatch(tg, executor, "c2", '{"order_id": "5"}')
        gates["finish"].set()
    assert joined[0].output.output == "same as c1: Progress f"


async def test_cancel_of_the_original_after_joiners_answered_tells_them_nothing_more() -> None:
    """JOIN-3, JOIN-4: joiners answered from the first update; cancelling the original later
    adds no entry or event for them."""
    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        with anyio.fail_after(60):
            gates["proceed"].set()
            await dispatch(tg, executor, "c1", '{"order_id": "5"}')
            joined = await dispatch(tg, executor, "c2", '{"order_id": "5"}')
            assert joined
            assert await executor.cancel("c1")
    assert all(getattr(e, "call_id", None) != "c2" for e in host.events)
    chat_ids = {getattr(i, "call_id", None) for i in host.current.chat_ctx.items}
    assert not any(str(i).startswith("c2") for i in chat_ids)
    assert runs == ["c1"]
