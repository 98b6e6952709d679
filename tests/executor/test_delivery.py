"""Updates and deferred replies (SPEC UPD-4..10, DEL-1..9, INV-7, INV-9, INV-12)."""

from __future__ import annotations

import logging

import anyio
import pytest

from anyio_tools import (
    CallEnded,
    CallUpdated,
    ChatMessage,
    ReplyDropped,
    ReplyUpdated,
    RunContext,
    ToolExecutor,
    function_tool,
)
from anyio_tools.testing import FakeAgent, FakeHost, tool_task_names

from .helpers import make_ctx

gates: dict[str, anyio.Event] = {}


@function_tool
async def stepper(ctx: RunContext[None], n: int, gate: str = "") -> str:
    """Make n updates, then wait for a gate (if named), then finish."""
    for i in range(n):
        await ctx.update(f"step {i}")
    if gate:
        await gates[gate].wait()
    return "finished"


def replies(host: FakeHost, status: str = "scheduled") -> list[tuple[str, ...]]:
    return [e.update_ids for e in host.events if isinstance(e, ReplyUpdated) and e.status == status]


def dropped(host: FakeHost) -> list[tuple[tuple[str, ...], str]]:
    return [(e.update_ids, e.reason) for e in host.events if isinstance(e, ReplyDropped)]


async def test_update_ids_events_and_eager_insertion() -> None:
    """UPD-4, UPD-7, EVT-3, INV-4, INV-12: ids follow the rule; items land before update returns."""
    seen: list[list[str]] = []

    @function_tool
    async def probe(ctx: RunContext[None]) -> None:
        """Probe the chat after each update."""
        for i in range(3):
            await ctx.update(f"m{i}")
            seen.append([item.call_id for item in host.history.items])  # type: ignore[union-attr]

    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(probe, make_ctx("c", "probe"))
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
    updated = [(e.id, e.message) for e in host.events if isinstance(e, CallUpdated)]
    assert updated == [("c", "m0"), ("c_update_1", "m1"), ("c_update_2", "m2")]
    assert seen[1] == ["c_update_1", "c_update_1"]
    assert seen[2] == ["c_update_1", "c_update_1", "c_update_2", "c_update_2"]


@pytest.mark.virtual_time
async def test_chat_order_under_a_frozen_clock() -> None:
    """UPD-9, INV-7: call, inline answer, _update_1 pair, _final pair, with no time passing."""
    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        ctx = make_ctx("c", "stepper", '{"n": 2}')
        result = await executor.execute(stepper, ctx)
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
        host.current.chat_ctx.insert([result.call, result.output])  # the turn commits later
    items = host.current.chat_ctx.items
    assert [(type(i).__name__, i.call_id) for i in items] == [  # type: ignore[union-attr]
        ("FunctionCall", "c"),
        ("FunctionCallOutput", "c"),
        ("FunctionCall", "c_update_1"),
        ("FunctionCallOutput", "c_update_1"),
        ("FunctionCall", "c_final"),
        ("FunctionCallOutput", "c_final"),
    ]
    assert len({i.created_at for i in items}) == 1  # the clock did not move


async def test_updates_of_one_busy_period_get_one_reply() -> None:
    """DEL-1, EVT-7, scenario 10: two calls' later entries coalesce into one reply."""
    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(stepper, make_ctx("a", "stepper", '{"n": 2}'))
        await executor.execute(stepper, make_ctx("b", "stepper", '{"n": 1}'))
        await host.wait_until(lambda: sum(isinstance(e, CallEnded) for e in host.events) == 2)
        assert replies(host) == []
        host.set_busy(False)
        await host.wait_until(lambda: bool(replies(host, "completed")))
    # One reply for both calls; each call's entries in update order (INV-11). The two calls
    # run concurrently, so which one ended first is the scheduler's choice (trio randomizes).
    [batch] = replies(host)
    assert sorted(batch) == ["a_final", "a_update_1", "b_final"]
    assert batch.index("a_update_1") < batch.index("a_final")
    assert replies(host, "completed") == replies(host)
    names = [type(e).__name__ for e in host.events]
    assert names.index("CallEnded") < names.index("ReplyUpdated")  # EVT-7


async def test_entries_after_the_snapshot_go_to_the_next_reply() -> None:
    """DEL-1, INV-11: the reply in flight keeps its batch; later entries get a later reply."""
    gates["next"] = anyio.Event()
    host = FakeHost(auto_finish=False)
    async with ToolExecutor(host) as executor:
        await executor.execute(stepper, make_ctx("a", "stepper", '{"n": 2, "gate": "next"}'))
        await host.wait_until(lambda: len(host.replies) == 1)
        gates["next"].set()
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
        assert len(host.replies) == 1  # busy while the first reply plays
        host.replies[0].finish()
        await host.wait_until(lambda: len(host.replies) == 2)
        host.replies[1].finish()
        await host.wait_until(lambda: len(replies(host, "completed")) == 2)
    assert replies(host) == [("a_update_1",), ("a_final",)]


async def test_instruction_choice_at_tail_and_maybe_covered() -> None:
    """DEL-6, scenario 12: at-tail when the entry is last; maybe-covered once someone spoke."""
    host = FakeHost(auto_finish=False)
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(stepper, make_ctx("a", "stepper", '{"n": 2}'))
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
        host.set_busy(False)
        await host.wait_until(lambda: len(host.replies) == 1)
        assert "a_update_1, a_final" in host.replies[0].instructions
        assert "Tell the user about them naturally" in host.replies[0].instructions
        host.replies[0].finish()
        host.set_busy(True)
        await executor.execute(stepper, make_ctx("b", "stepper", '{"n": 2}'))
        await host.wait_until(lambda: sum(isinstance(e, CallEnded) for e in host.events) == 2)
        host.current.chat_ctx.insert(ChatMessage(role="user", content="hello?"))
        host.set_busy(False)
        await host.wait_until(lambda: len(host.replies) == 2)
        assert "may already cover them" in host.replies[1].instructions
        host.replies[1].finish()


async def test_reply_outcomes() -> None:
    """DEL-8, EVT-5, scenario 11: interrupted, skipped (no items) and completed outcomes."""
    host = FakeHost(auto_finish=False)
    async with ToolExecutor(host) as executor:
        for n, (call_id, end) in enumerate([("a", "interrupt"), ("b", "silent"), ("c", "say")]):
            host.set_busy(True)
            await executor.execute(stepper, make_ctx(call_id, "stepper", '{"n": 2}'))
            await host.wait_until(
                lambda n=n: sum(isinstance(e, CallEnded) for e in host.events) == n + 1
            )
            host.set_busy(False)
            await host.wait_until(lambda n=n: len(host.replies) == n + 1)
            reply = host.replies[n]
            if end == "interrupt":
                reply.interrupt()
            else:
                reply.finish(None if end == "silent" else "said")
    statuses = [e.status for e in host.events if isinstance(e, ReplyUpdated)]
    assert statuses == [
        "scheduled",
        "interrupted",
        "scheduled",
        "skipped",
        "scheduled",
        "completed",
    ]


async def test_activity_scoped_entries_drop_when_the_owner_leaves() -> None:
    """DEL-3, HND-1, scenario 33: an activity's pending entries drop; the items stay."""
    owner = FakeAgent("A")
    host = FakeHost(owner, owner=owner)
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(stepper, make_ctx("a", "stepper", '{"n": 2}'))
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
        host.handoff(FakeAgent("B"))
        await host.wait_until(lambda: bool(dropped(host)))
    assert dropped(host) == [(("a_update_1", "a_final"), "activity_closed")]
    assert [i.call_id for i in owner.chat_ctx.items] == ["a_update_1"] * 2 + ["a_final"] * 2
    assert host.replies == []


async def test_session_scoped_entries_follow_the_current_agent() -> None:
    """DEL-5, SCO-3, scenario 34: after a handoff the reply goes to the new agent, with items."""
    old, new = FakeAgent("A"), FakeAgent("B")
    host = FakeHost(old)
    host.set_busy(True)
    async with ToolExecutor(host, scope="session") as executor:
        await executor.execute(stepper, make_ctx("a", "stepper", '{"n": 2}'))
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
        host.handoff(new)
        host.set_busy(False)
        await host.wait_until(lambda: bool(replies(host, "completed")))
    assert host.replies[0].target is new
    ids = [getattr(i, "call_id", "message") for i in new.chat_ctx.items]
    assert ids == ["a_update_1"] * 2 + ["a_final"] * 2 + ["message"]
    assert dropped(host) == []


async def test_host_failure_drops_with_host_error() -> None:
    """DEL-3, EVT-6: a host that fails to schedule the reply drops the batch (host_error)."""
    host = FakeHost()
    host.fail_replies = True
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(stepper, make_ctx("a", "stepper", '{"n": 2}'))
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
        host.set_busy(False)
        await host.wait_until(lambda: bool(dropped(host)))
    assert dropped(host) == [(("a_update_1", "a_final"), "host_error")]


async def test_session_close_drops_with_session_closed() -> None:
    """DEL-3, HND-3: once the session closes, pending entries drop with session_closed."""
    host = FakeHost()
    host.close()
    async with ToolExecutor(host, scope="session") as executor:
        await executor.execute(stepper, make_ctx("b", "stepper", '{"n": 2}'))
        await host.wait_until(lambda: sum(len(ids) for ids, _ in dropped(host)) == 2)
    assert {reason for _, reason in dropped(host)} == {"session_closed"}
    assert [i for ids, _ in dropped(host) for i in ids] == ["b_update_1", "b_final"]


async def test_aclose_drops_pending_entries_once() -> None:
    """CAN-8, INV-9: closing drops what is queued, in one event, and leaves no task."""
    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(stepper, make_ctx("a", "stepper", '{"n": 3}'))
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
    assert dropped(host) == [(("a_update_1", "a_update_2", "a_final"), "activity_closed")]
    assert replies(host) == []
    assert tool_task_names() == []


async def test_a_large_drop_is_one_event_and_a_short_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """INV-9: 30 dropped updates are all in the event; the log line names the first ten."""
    host = FakeHost()
    host.set_busy(True)
    with caplog.at_level(logging.INFO, logger="anyio_tools.delivery"):
        async with ToolExecutor(host) as executor:
            await executor.execute(stepper, make_ctx("a", "stepper", '{"n": 31}'))
            await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
    [(ids, reason)] = dropped(host)
    assert ids == (*(f"a_update_{i}" for i in range(1, 31)), "a_final")
    assert reason == "activity_closed"
    [record] = [r for r in caplog.records if "dropped the reply" in r.getMessage()]
    message = record.getMessage()
    assert "a_update_10 and 21 more" in message
    assert "a_update_11" not in message


async def test_wait_settled_covers_entries_accepted_before() -> None:
    """DEL-9: waiting for settlement returns once the reply covering them is scheduled."""
    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(stepper, make_ctx("a", "stepper", '{"n": 2}'))
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
        accepted = executor.accepted_updates
        assert accepted == 2
        assert executor.pending_updates == 2
        async with anyio.create_task_group() as tg:
            tg.start_soon(executor.wait_updates_settled, accepted)
            await anyio.wait_all_tasks_blocked()
            host.set_busy(False)
        assert executor.pending_updates == 0
        assert replies(host) == [("a_update_1", "a_final")]


async def test_update_after_the_end_is_recorded_only() -> None:
    """UPD-5, INV-21: a context whose call ended records updates and emits nothing."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        ctx = make_ctx("a", "stepper", '{"n": 0}')
        await executor.execute(stepper, ctx)
        before = list(host.events)
        await ctx.update("too late")
    assert host.events == before
    assert [pair[1].call_id for pair in ctx.updates] == ["a"]
    assert host.history.items == []


async def test_twenty_updates_from_five_calls_give_one_reply() -> None:
    """Issue #3 acceptance, DEL-1: 20 later updates from 5 calls in one busy period."""
    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        for i in range(5):
            await executor.execute(stepper, make_ctx(f"c{i}", "stepper", '{"n": 5}'))
        await host.wait_until(lambda: sum(isinstance(e, CallEnded) for e in host.events) == 5)
        host.set_busy(False)
        await host.wait_until(lambda: bool(replies(host, "completed")))
    (batch,) = replies(host)
    assert len(batch) == 25  # 4 later updates and one final result per call
    assert len([i for i in batch if "_update_" in i]) == 20
    assert all(f"c{i}_update_4" in host.replies[0].instructions for i in range(5))
