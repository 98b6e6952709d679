"""A host written from scratch in under 100 lines drives the executor (issue #3 item 7, HOST-1..6).

It proves the `ToolHost` Protocol is enough: no runtime and no test helper from the library.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from anyio_tools import (
    ChatContext,
    ChatItem,
    ChatMessage,
    FunctionCall,
    ReplyUpdated,
    RunContext,
    ToolEvent,
    ToolExecutor,
    function_tool,
)


class Reply:
    def __init__(self, ident: str, agent: ChatContext) -> None:
        self.id = ident
        self.interrupted = False
        self.chat_items: list[ChatItem] = [agent.add_message("assistant", "noted")]

    async def wait_for_playout(self) -> None:
        await anyio.lowlevel.checkpoint()


class MiniHost:
    """One agent, a busy flag, replies that finish at once."""

    def __init__(self) -> None:
        self.agent = ChatContext()
        self.history = ChatContext()
        self.events: list[ToolEvent] = []
        self.instructions: list[str] = []
        self.busy = True
        self.changed = anyio.Event()

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.changed.set()
        self.changed = anyio.Event()

    def eager_target(self) -> object:
        return self.agent

    def insert_items(self, target: object, items: Sequence[ChatItem]) -> None:
        assert target is self.agent
        self.agent.insert(items)

    def record_history(self, items: Sequence[ChatItem]) -> None:
        self.history.insert(items)

    def last_item_id(self, target: object) -> str | None:
        last = self.agent.last_item
        return None if last is None else last.id

    async def wait_for_idle(self) -> object:
        while self.busy:
            await self.changed.wait()
        return self.agent

    def generate_reply(self, target: object, *, instructions: str) -> Reply:
        self.instructions.append(instructions)
        return Reply(f"reply_{len(self.instructions)}", self.agent)

    def emit(self, event: ToolEvent) -> None:
        self.events.append(event)


async def test_minimal_host_gets_one_reply_for_two_later_updates() -> None:
    """UPD-7, DEL-1, DEL-7: two updates in one busy period give exactly one reply."""
    done = anyio.Event()

    @function_tool
    async def track(ctx: RunContext[None]) -> None:
        """Track a parcel."""
        await ctx.update("picked up")
        await ctx.update("in transit")
        await ctx.update("out for delivery")
        done.set()

    host = MiniHost()
    async with ToolExecutor(host) as executor:
        call = FunctionCall(call_id="c1", name="track")
        result = await executor.execute(track, RunContext(function_call=call))
        assert result.non_blocking
        assert "picked up" in result.output.output
        await done.wait()
        assert host.instructions == []  # busy: nothing voiced yet
        host.set_busy(False)
        await anyio.wait_all_tasks_blocked()
        assert [e.status for e in host.events if isinstance(e, ReplyUpdated)] == [
            "scheduled",
            "completed",
        ]
    assert len(host.instructions) == 1
    assert "c1_update_1, c1_update_2" in host.instructions[0]
    assert [i.content for i in host.agent.items if isinstance(i, ChatMessage)] == ["noted"]
    assert [i.call_id for i in host.history.items] == [
        "c1_update_1",
        "c1_update_1",
        "c1_update_2",
        "c1_update_2",
    ]
