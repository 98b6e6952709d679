"""Duplicate policies (SPEC DUP-1..9, INV-20, scenarios 18-26)."""

from __future__ import annotations

import anyio
import pytest

from anyio_tools import (
    CANCELLED_TEXT,
    CONFIRM_PARAM,
    CallEnded,
    CallStarted,
    DispatchResult,
    RunContext,
    ToolExecutor,
    ToolFlag,
    function_tool,
)
from anyio_tools.testing import FakeHost

from .helpers import FakeTurn, make_ctx

release = {"gate": anyio.Event()}


async def _hold(ctx: RunContext[None]) -> str:
    await release["gate"].wait()
    return "done"


@function_tool(on_duplicate="reject")
async def reject_tool(ctx: RunContext[None], order_id: str) -> str:
    """Reject duplicates by name."""
    return await _hold(ctx)


@function_tool(on_duplicate="reject", duplicate_scope="name_and_args")
async def reject_args(
    ctx: RunContext[None], order_id: str, extra: dict[str, int] | None = None
) -> str:
    """Reject duplicates with equal arguments."""
    return await _hold(ctx)


@function_tool(on_duplicate="confirm", duplicate_scope="name_and_args")
async def confirm_tool(ctx: RunContext[None], order_id: str) -> str:
    """Ask to confirm duplicates."""
    return await _hold(ctx)


@function_tool(on_duplicate="replace", flags=ToolFlag.CANCELLABLE)
async def replace_tool(ctx: RunContext[None], order_id: str) -> str:
    """Replace duplicates."""
    return await _hold(ctx)


@function_tool(on_duplicate="replace")
async def replace_stuck(ctx: RunContext[None]) -> str:
    """Replace duplicates, but it is not cancellable."""
    return await _hold(ctx)


@pytest.fixture(autouse=True)
def fresh_gate() -> None:
    release["gate"] = anyio.Event()


async def start(
    tg: anyio.abc.TaskGroup,
    executor: ToolExecutor,
    tool: object,
    call_id: str,
    args: str,
    **kw: object,
) -> list[DispatchResult]:
    """Dispatch in a task; return the list that will hold its result."""
    out: list[DispatchResult] = []

    async def run() -> None:
        out.append(await executor.execute(tool, make_ctx(call_id, "x", args, **kw)))  # type: ignore[arg-type]

    tg.start_soon(run)
    await anyio.wait_all_tasks_blocked()
    return out


def started(host: FakeHost) -> list[str]:
    return [e.call_id for e in host.events if isinstance(e, CallStarted)]


async def test_reject_answers_with_the_running_call_and_admits_nothing() -> None:
    """DUP-4, EVT-2, scenario 22: under scope name, different arguments still collide."""
    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        await start(tg, executor, reject_tool, "c1", '{"order_id": "5"}')
        second = await start(tg, executor, reject_tool, "c2", '{"order_id": "7"}')
        assert started(host) == ["c1"]
        text = second[0].output.output
        assert "already running" in text
        assert '"call_id": "c1"' in text
        assert "anyio_tools_cancel_task" in text
        assert not second[0].output.is_error
        release["gate"].set()


async def test_name_and_args_uses_the_canonical_key() -> None:
    """DUP-2, DUP-3, scenarios 20/21: reordered keys collide; different values coexist."""
    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        await start(tg, executor, reject_args, "c1", '{"order_id": "5", "extra": {"a": 1, "b": 2}}')
        dup = await start(
            tg, executor, reject_args, "c2", '{"extra": {"b": 2, "a": 1}, "order_id": "5"}'
        )
        await start(tg, executor, reject_args, "c3", '{"order_id": "7"}')
        assert started(host) == ["c1", "c3"]
        assert "already running" in dup[0].output.output
        release["gate"].set()


async def test_confirm_asks_then_admits_with_the_confirm_parameter() -> None:
    """DUP-5, DUP-2, scenarios 18/19: false or missing confirm asks; true runs alongside."""
    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        await start(tg, executor, confirm_tool, "c1", '{"order_id": "5"}')
        asked = await start(
            tg, executor, confirm_tool, "c2", f'{{"order_id": "5", "{CONFIRM_PARAM}": false}}'
        )
        await start(
            tg, executor, confirm_tool, "c3", f'{{"order_id": "5", "{CONFIRM_PARAM}": true}}'
        )
        assert started(host) == ["c1", "c3"]
        assert CONFIRM_PARAM in asked[0].output.output
        assert "c1" in asked[0].output.output
        release["gate"].set()


async def test_replace_cancels_and_waits_before_admitting() -> None:
    """DUP-6c, INV-20, scenario 23: the old call ends cancelled before the new one starts."""
    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        first = await start(tg, executor, replace_tool, "c1", '{"order_id": "5"}')
        await start(tg, executor, replace_tool, "c2", '{"order_id": "6"}')
        assert first[0].output.output == CANCELLED_TEXT
        kinds = [(type(e).__name__, e.call_id) for e in host.events]  # type: ignore[union-attr]
        assert kinds == [("CallStarted", "c1"), ("CallEnded", "c1"), ("CallStarted", "c2")]
        release["gate"].set()


async def test_replace_refuses_non_cancellable_and_disallowed_interruptions() -> None:
    """DUP-6a, DUP-6b, scenario 24: nothing is cancelled when replacing is not allowed."""
    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        await start(tg, executor, replace_stuck, "c1", "{}")
        refused = await start(tg, executor, replace_stuck, "c2", "{}")
        assert "not cancellable" in refused[0].output.output
        assert refused[0].output.is_error
        turn = FakeTurn(allow_interruptions=False)
        await start(tg, executor, replace_tool, "c3", '{"order_id": "5"}', turn=turn)
        blocked = await start(tg, executor, replace_tool, "c4", '{"order_id": "5"}')
        assert "disallows interruptions" in blocked[0].output.output
        assert started(host) == ["c1", "c3"]
        assert not any(isinstance(e, CallEnded) for e in host.events)
        release["gate"].set()


async def test_invalid_arguments_are_checked_for_duplicates_first() -> None:
    """DUP-9: a call with invalid arguments can be answered as a duplicate."""
    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        await start(tg, executor, reject_tool, "c1", '{"order_id": "5"}')
        bad = await start(tg, executor, reject_tool, "c2", '{"order_id": 5, "nope": 1}')
        assert "already running" in bad[0].output.output
        release["gate"].set()


async def test_concurrent_identical_rejects_admit_exactly_one() -> None:
    """DUP-7, SC-5: check and registration are atomic; two racing calls cannot both pass."""
    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(
                executor.execute, reject_tool, make_ctx(f"c{i}", "x", '{"order_id": "5"}')
            )
        await anyio.wait_all_tasks_blocked()
        assert len(started(host)) == 1
        release["gate"].set()


@pytest.mark.parametrize("mode", ["allow", "reject", "confirm", "replace"])
@pytest.mark.parametrize("scope", ["name", "name_and_args"])
@pytest.mark.parametrize("same_args", [True, False])
async def test_duplicate_matrix(mode: str, scope: str, same_args: bool) -> None:
    """DUP-1..6: which of two calls run, for every mode, scope and argument relation."""
    tool = function_tool(
        name="matrix", flags=ToolFlag.CANCELLABLE, on_duplicate=mode, duplicate_scope=scope
    )(_hold_order)
    host = FakeHost()
    async with ToolExecutor(host) as executor, anyio.create_task_group() as tg:
        await start(tg, executor, tool, "c1", '{"order_id": "5"}')
        await start(tg, executor, tool, "c2", f'{{"order_id": "{5 if same_args else 7}"}}')
        collide = mode != "allow" and (scope == "name" or same_args)
        running = [c.call_id for c in executor.running()]
        if not collide:
            assert running == ["c1", "c2"]
        elif mode == "replace":
            assert running == ["c2"]
        else:
            assert running == ["c1"]
        release["gate"].set()


async def _hold_order(ctx: RunContext[None], order_id: str) -> str:
    await release["gate"].wait()
    return order_id
