"""An in-memory `ToolHost` for tests: agents with chat contexts, a history, a switchable idle
state, replies that finish at once or when the test says, and a list of events.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import final

import anyio

from anyio_tools._chat import ChatContext, ChatItem, ChatMessage
from anyio_tools._errors import ActivityClosedError, SessionClosedError
from anyio_tools._events import ToolEvent
from anyio_tools._host import ReplyTarget

__all__ = ["FakeAgent", "FakeHost", "FakeReply"]

_reply_ids = itertools.count(1)


@final
class FakeAgent:
    """A reply target with a name and a chat context."""

    def __init__(self, name: str = "agent") -> None:
        self.name = name
        self.chat_ctx = ChatContext()

    def __repr__(self) -> str:
        return f"<FakeAgent {self.name}>"


@final
class FakeReply:
    """A reply the fake host scheduled; finish or interrupt it from the test."""

    def __init__(self, host: FakeHost, target: FakeAgent, instructions: str) -> None:
        self.id = f"reply_{next(_reply_ids)}"
        self.target = target
        self.instructions = instructions
        self.interrupted = False
        self._heard: bool | None = None
        self.chat_items: list[ChatItem] = []
        self._host = host
        self._done = anyio.Event()

    @property
    def done(self) -> bool:
        """Whether the reply finished or was interrupted."""
        return self._done.is_set()

    def finish(self, text: str | None = "(reply)") -> None:
        """End the reply; with a text, the reply said it (an assistant message)."""
        if self.done:
            return
        if text is not None:
            self._say(text)
        self._done.set()
        self._host.reply_ended(self)

    def _say(self, text: str) -> None:
        message = ChatMessage(role="assistant", content=text)
        self.chat_items.append(message)
        self.target.chat_ctx.insert(message)
        self._host.history.insert(message)

    @property
    def heard(self) -> bool:
        """Whether the user heard the reply (LED-2): it finished without being cut, unless
        `interrupt` said otherwise."""
        if self._heard is not None:
            return self._heard
        return self.done and not self.interrupted

    def interrupt(self, *, heard: bool = False, text: str | None = None) -> None:
        """Cut the reply short; with *heard*, after its text (*text*) was fully played."""
        if not self.done:
            if text is not None:
                self._say(text)
            self._heard = heard
            self.interrupted = True
            self._done.set()
            self._host.reply_ended(self)

    async def wait_for_playout(self) -> None:
        """Wait until the reply finished or was interrupted."""
        await self._done.wait()


@final
class FakeHost:
    """A `ToolHost` kept in memory.

    Args:
        agent: The first current agent (a new one if not given).
        auto_finish: Finish every reply as soon as it is scheduled, saying *reply_text*.
        reply_text: What auto-finished replies say; None for replies that say nothing.
        owner: For an activity-scoped executor: the only agent it may deliver to (drops
            once that agent is no longer current); None for a session-scoped executor.
    """

    def __init__(
        self,
        agent: FakeAgent | None = None,
        *,
        auto_finish: bool = True,
        reply_text: str | None = "(reply)",
        owner: FakeAgent | None = None,
    ) -> None:
        self.current = agent if agent is not None else FakeAgent()
        self.owner = owner
        self.history = ChatContext()
        self.events: list[ToolEvent] = []
        self.replies: list[FakeReply] = []
        self.auto_finish = auto_finish
        self.reply_text = reply_text
        self.fail_replies = False
        self._busy = False
        self._closed = False
        self._changed = anyio.Event()

    # -- controls ---------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Whether a reply could be spoken now."""
        return not self._busy and not any(not r.done for r in self.replies)

    def set_busy(self, busy: bool) -> None:
        """Make the conversation busy (someone speaks) or let it go idle."""
        self._busy = busy
        self._notify()

    def handoff(self, agent: FakeAgent) -> None:
        """Make ``agent`` the current agent."""
        self.current = agent
        self._notify()

    def close(self) -> None:
        """Close the session: idle waiters raise `SessionClosedError`."""
        self._closed = True
        self._notify()

    def reply_ended(self, reply: FakeReply) -> None:
        """Note that a reply ended (called by `FakeReply`)."""
        self._notify()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds; it is re-checked whenever the host changes."""
        while not predicate():
            await self._changed.wait()

    def events_of(self, kind: type[ToolEvent]) -> list[ToolEvent]:
        """Return the events of one kind, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    def _notify(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    # -- ToolHost ---------------------------------------------------------------------------

    def eager_target(self) -> ReplyTarget:
        return self.owner if self.owner is not None else self.current

    def insert_items(self, target: ReplyTarget, items: Sequence[ChatItem]) -> None:
        assert isinstance(target, FakeAgent)
        target.chat_ctx.insert(items)
        self._notify()

    def record_history(self, items: Sequence[ChatItem]) -> None:
        self.history.insert(items)

    def last_item_id(self, target: ReplyTarget) -> str | None:
        assert isinstance(target, FakeAgent)
        last = target.chat_ctx.last_item
        return None if last is None else last.id

    async def wait_for_idle(self) -> ReplyTarget:
        while True:
            if self._closed:
                raise SessionClosedError("the session closed")
            if self.owner is not None and self.current is not self.owner:
                raise ActivityClosedError(f"{self.owner.name} is no longer active")
            if self.idle:
                return self.current
            await self._changed.wait()

    def generate_reply(self, target: ReplyTarget, *, instructions: str) -> FakeReply:
        assert isinstance(target, FakeAgent)
        if self.fail_replies:
            raise RuntimeError("the fake host was told to fail")
        reply = FakeReply(self, target, instructions)
        self.replies.append(reply)
        if self.auto_finish:
            reply.finish(self.reply_text)
        self._notify()
        return reply

    def emit(self, event: ToolEvent) -> None:
        self.events.append(event)
        self._notify()
