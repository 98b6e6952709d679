"""The `ToolHost` implementations the session gives its executors (SPEC HOST-1..6, UPD-8,
DEL-2, DEL-3).

An activity-scoped host always targets its activity's agent and fails idle waits once that
activity drains; a session-scoped host targets whichever agent is current.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, final

from anyio_tools._chat import ChatItem
from anyio_tools._events import ToolEvent
from anyio_tools._host import ReplyTarget

from ._activity import Activity
from ._agent import Agent
from ._speech import SpeechHandle

if TYPE_CHECKING:
    from ._session import AgentSession

__all__ = ["ActivityHost", "SessionHost"]


def _agent(target: ReplyTarget) -> Agent:
    if not isinstance(target, Agent):
        raise TypeError(f"expected an Agent as reply target, got {target!r}")
    return target


class _BaseHost:
    def __init__(self, session: AgentSession[object]) -> None:
        self._session = session

    def insert_items(self, target: ReplyTarget, items: Sequence[ChatItem]) -> None:
        _agent(target).chat_ctx.insert(items)

    def record_history(self, items: Sequence[ChatItem]) -> None:
        self._session.record(items)

    def last_item_id(self, target: ReplyTarget) -> str | None:
        last = _agent(target).chat_ctx.last_item
        return None if last is None else last.id

    def generate_reply(self, target: ReplyTarget, *, instructions: str) -> SpeechHandle:
        return self._session.schedule_reply(_agent(target), instructions=instructions)

    def emit(self, event: ToolEvent) -> None:
        self._session.emit(event)


@final
class ActivityHost(_BaseHost):
    """The host of an activity's executors."""

    def __init__(self, session: AgentSession[object], activity: Activity) -> None:
        super().__init__(session)
        self._activity = activity

    def eager_target(self) -> ReplyTarget:
        return self._activity.agent

    async def wait_for_idle(self) -> ReplyTarget:
        return await self._session.wait_for_reply_slot(self._activity)


@final
class SessionHost(_BaseHost):
    """The host of the session-scoped executors."""

    def eager_target(self) -> ReplyTarget:
        return self._session.current_agent

    async def wait_for_idle(self) -> ReplyTarget:
        return await self._session.wait_for_reply_slot(None)
