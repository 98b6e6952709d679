"""Deferred replies at scale and under faulty hosts (SPEC DEL-1, DEL-6, DEL-8, INV-9, INV-10;
issue #12 items 1 and 9).

Determinism: virtual clocks (tests/conftest.py); tests wait on host states, never on time.
Speed is not asserted here: cost is checked by counting what is touched, and measured in
benchmarks/run.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from typing import Any, overload

import anyio
import pytest

from anyio_tools import (
    CallEnded,
    ChatItem,
    DeliverySettled,
    ReplyDropped,
    ReplyUpdated,
    RunContext,
    ToolEvent,
    ToolExecutor,
    function_tool,
)
from anyio_tools._deliverer import NAMED_IDS_PER_REPLY, reply_prompt_args
from anyio_tools.testing import FakeHost, FakeReply, tool_task_names

from .helpers import make_ctx


@function_tool
async def burst(ctx: RunContext[None], n: int) -> str:
    """Make n updates in a burst, then finish."""
    for i in range(n):
        await ctx.update(f"step {i}")
    return "finished"


def settled(host: FakeHost) -> dict[str, str]:
    return {
        i: e.outcome for e in host.events if isinstance(e, DeliverySettled) for i in e.update_ids
    }


def statuses(host: FakeHost) -> list[tuple[str, str, int]]:
    return [
        (e.status, e.speech_id, len(e.update_ids))
        for e in host.events
        if isinstance(e, ReplyUpdated)
    ]


# -- issue #12 item 9: what one reply carries is bounded --------------------------------------


async def test_thousands_of_pending_updates_give_bounded_instructions() -> None:
    """DEL-6, INV-9, issue #12 item 9: 3,000 updates pending in one busy period give one reply
    whose instructions name 50 ids and summarise the rest; every update is still in the chat,
    in the history and in the reply's events."""
    host = FakeHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        await executor.execute(burst, make_ctx("c", "burst", '{"n": 3001}'))
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
        host.set_busy(False)
        await host.wait_until(lambda: any(s == "completed" for s, _, _ in statuses(host)))
    [reply] = host.replies
    assert len(reply.instructions) < 1500
    assert "c_update_50, …and 2951 more updates)" in reply.instructions
    assert "c_update_51" not in reply.instructions
    [scheduled] = [e for e in host.events if isinstance(e, ReplyUpdated)][:1]
    assert scheduled.update_ids == (*(f"c_update_{i}" for i in range(1, 3001)), "c_final")
    assert len(host.history.items) == 2 * 3001 + 1  # and the reply's message
    assert len(host.current.chat_ctx.items) == 2 * 3001 + 1  # and the reply's message


class CountingIds(Sequence[str]):
    """A sequence of entry ids that counts how many of them are read."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.read = 0

    def __len__(self) -> int:
        return self.count

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        if not 0 <= index < self.count:
            raise IndexError(index)
        self.read += 1
        return f"c_update_{index + 1}"

    def __iter__(self) -> Iterator[str]:
        for i in range(self.count):
            yield self[i]


@pytest.mark.parametrize("count", [1, 49, 50, 51, 1_000, 100_000])
def test_reply_arguments_read_only_the_named_ids(count: int) -> None:
    """DEL-6, issue #12 item 9: building a reply's template arguments reads at most 50 ids,
    however many entries the batch holds, so a reply costs O(k) only for its events."""
    ids = CountingIds(count)
    args = reply_prompt_args(ids)
    named = min(count, NAMED_IDS_PER_REPLY)
    assert ids.read == named
    assert args["call_ids"] == [f"c_update_{i}" for i in range(1, named + 1)]
    text = args["call_ids_text"]
    assert text.startswith("c_update_1")
    if count > NAMED_IDS_PER_REPLY:
        rest = count - NAMED_IDS_PER_REPLY
        assert text.endswith(f"c_update_50, …and {rest} more update{'s' if rest > 1 else ''}")
    else:
        assert text.endswith(f"c_update_{count}")


async def test_a_callable_reply_template_gets_the_bounded_ids() -> None:
    """UPD-2, DEL-6: a callable template receives the named ids and the bounded text."""
    seen: list[tuple[int, str]] = []

    def template(args: Any) -> str:
        seen.append((len(args["call_ids"]), args["call_ids_text"]))
        return "reply please"

    host = FakeHost()
    host.set_busy(True)
    options = {"reply_at_tail_template": template, "reply_maybe_covered_template": template}
    async with ToolExecutor(host, options=options) as executor:
        await executor.execute(burst, make_ctx("c", "burst", '{"n": 201}'))
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
        host.set_busy(False)
        await host.wait_until(lambda: bool(host.replies))
    [(named, text)] = seen
    assert named == NAMED_IDS_PER_REPLY
    assert text.endswith("…and 151 more updates")


# -- issue #12 item 1: a host's stray cancellation does not kill the deliverer -----------------


class FaultyPlayoutHost:
    """A `FakeHost` whose first reply's playout, or first idle wait, raises what the test chose."""

    def __init__(
        self, fault: BaseException | None, idle_fault: BaseException | None = None
    ) -> None:
        self.inner = FakeHost()
        self.fault = fault
        self.idle_fault = idle_fault

    def eager_target(self) -> Any:
        return self.inner.eager_target()

    def insert_items(self, target: Any, items: Sequence[ChatItem]) -> None:
        self.inner.insert_items(target, items)

    def record_history(self, items: Sequence[ChatItem]) -> None:
        self.inner.record_history(items)

    def last_item_id(self, target: Any) -> str | None:
        return self.inner.last_item_id(target)

    async def wait_for_idle(self) -> Any:
        target = await self.inner.wait_for_idle()
        fault, self.idle_fault = self.idle_fault, None
        if fault is not None:
            raise fault
        return target

    def generate_reply(self, target: Any, *, instructions: str) -> Any:
        reply = self.inner.generate_reply(target, instructions=instructions)
        fault, self.fault = self.fault, None
        return reply if fault is None else FaultyReply(reply, fault)

    def emit(self, event: ToolEvent) -> None:
        self.inner.emit(event)


class FaultyReply:
    """A reply whose playout raises an exception instead of returning."""

    def __init__(self, reply: FakeReply, fault: BaseException) -> None:
        self.reply = reply
        self.fault = fault
        self.id = reply.id

    @property
    def interrupted(self) -> bool:
        return self.reply.interrupted

    @property
    def chat_items(self) -> Sequence[ChatItem]:
        return self.reply.chat_items

    async def wait_for_playout(self) -> None:
        await anyio.lowlevel.checkpoint()
        raise self.fault


async def test_a_stray_cancellation_from_playout_is_reported_and_delivery_goes_on(
    anyio_backend_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """INV-10, DEL-8, issue #12 item 1: a host's playout raising a cancellation nobody asked
    for (asyncio: awaiting a future someone else cancelled) gives the reply its terminal
    ``interrupted``, is logged, and delivery goes on: its entries are voiced again (LED-4). On trio, where no such
    cancellation exists, the same host raises a plain error."""
    fault: BaseException = (
        asyncio.CancelledError() if anyio_backend_name == "asyncio" else RuntimeError("boom")
    )
    faulty = FaultyPlayoutHost(fault)
    host = faulty.inner
    with caplog.at_level(logging.ERROR, logger="anyio_tools.delivery"):
        async with ToolExecutor(faulty) as executor:
            host.set_busy(True)
            await executor.execute(burst, make_ctx("a", "burst", '{"n": 3}'))
            await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
            host.set_busy(False)
            await host.wait_until(lambda: len(statuses(host)) >= 2)
            host.set_busy(True)
            await executor.execute(burst, make_ctx("b", "burst", '{"n": 3}'))
            await host.wait_until(lambda: sum(isinstance(e, CallEnded) for e in host.events) == 2)
            host.set_busy(False)
            await host.wait_until(lambda: len(settled(host)) == 6)
    first = host.replies[0]
    assert statuses(host)[:2] == [("scheduled", first.id, 3), ("interrupted", first.id, 3)]
    # LED-4, LED-5 (issue #15): the failed reply's final result was voiced again, with b's
    # entries; its updates were superseded by it. Nothing was lost.
    assert [s for s, _, _ in statuses(host)[2:]].count("interrupted") == 0
    assert settled(host) == {
        "a_update_1": "superseded",
        "a_update_2": "superseded",
        "a_final": "delivered",
        "b_update_1": "delivered",
        "b_update_2": "delivered",
        "b_final": "delivered",
    }
    assert any(first.id in r.getMessage() for r in caplog.records)
    assert tool_task_names() == []


@pytest.mark.virtual_time
async def test_the_deliverers_own_cancellation_still_stops_it() -> None:
    """INV-10, DEL-8: closing the executor while a reply plays out still ends the deliverer,
    and the reply still gets exactly one terminal event."""
    host = FakeHost(auto_finish=False)
    async with ToolExecutor(host, close_timeout=5) as executor:
        host.set_busy(True)
        await executor.execute(burst, make_ctx("a", "burst", '{"n": 2}'))
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
        host.set_busy(False)
        await host.wait_until(lambda: bool(host.replies))
    [reply] = host.replies
    assert statuses(host) == [("scheduled", reply.id, 2), ("interrupted", reply.id, 2)]
    assert tool_task_names() == []


async def test_a_stray_cancellation_from_wait_for_idle_drops_the_batch_and_delivery_goes_on(
    anyio_backend_name: str,
) -> None:
    """DEL-3, INV-9, issue #12 item 1: a host's idle wait raising a cancellation nobody asked
    for drops the batch with host_error, and the next batch is still delivered (trio: a plain
    error)."""
    fault: BaseException = (
        asyncio.CancelledError() if anyio_backend_name == "asyncio" else RuntimeError("boom")
    )
    faulty = FaultyPlayoutHost(None, idle_fault=fault)
    host = faulty.inner
    async with ToolExecutor(faulty) as executor:
        host.set_busy(True)
        await executor.execute(burst, make_ctx("a", "burst", '{"n": 2}'))
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
        host.set_busy(False)
        await host.wait_until(lambda: any(isinstance(e, ReplyDropped) for e in host.events))
        host.set_busy(True)
        await executor.execute(burst, make_ctx("b", "burst", '{"n": 2}'))
        await host.wait_until(lambda: sum(isinstance(e, CallEnded) for e in host.events) == 2)
        host.set_busy(False)
        await host.wait_until(lambda: len(statuses(host)) == 2)
    [dropped] = [e for e in host.events if isinstance(e, ReplyDropped)]
    assert (dropped.update_ids, dropped.reason) == (("a_update_1", "a_final"), "host_error")
    [reply] = host.replies
    assert statuses(host) == [("scheduled", reply.id, 2), ("completed", reply.id, 2)]
    assert tool_task_names() == []


class FaultyOnCloseReply(FaultyReply):
    """A reply that plays until the deliverer is cancelled, then raises when awaited again."""

    def __init__(self, reply: FakeReply, fault: BaseException) -> None:
        super().__init__(reply, fault)
        self.waits = 0

    async def wait_for_playout(self) -> None:
        self.waits += 1
        if self.waits == 1:
            await anyio.sleep_forever()
        await anyio.lowlevel.checkpoint()
        raise self.fault


async def test_a_stray_cancellation_while_closing_still_gives_the_terminal_event(
    anyio_backend_name: str,
) -> None:
    """INV-10, DEL-8, issue #12 item 1: when closing waits for the reply in flight and the
    host's playout raises a cancellation nobody asked for (trio: a plain error), the reply is
    reported interrupted and the executor closes without raising."""
    fault: BaseException = (
        asyncio.CancelledError() if anyio_backend_name == "asyncio" else RuntimeError("boom")
    )
    faulty = FaultyPlayoutHost(None)
    host = faulty.inner
    wrapped: list[FaultyOnCloseReply] = []

    def generate_reply(target: Any, *, instructions: str) -> Any:
        reply = FaultyOnCloseReply(host.generate_reply(target, instructions=instructions), fault)
        wrapped.append(reply)
        return reply

    faulty.generate_reply = generate_reply  # type: ignore[method-assign]
    async with ToolExecutor(faulty, close_timeout=5) as executor:
        host.set_busy(True)
        await executor.execute(burst, make_ctx("a", "burst", '{"n": 2}'))
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
        host.set_busy(False)
        await host.wait_until(lambda: bool(wrapped))
        await anyio.wait_all_tasks_blocked()
    [reply] = wrapped
    assert reply.waits == 2
    assert statuses(host) == [("scheduled", reply.id, 2), ("interrupted", reply.id, 2)]
    assert tool_task_names() == []
