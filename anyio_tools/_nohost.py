"""The host of an executor used without a conversation (issue #11): nothing is written to a
chat, no reply is voiced, no event is emitted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import final

import anyio

from ._chat import ChatItem
from ._events import ToolEvent
from ._host import ReplyHandle, ReplyTarget

__all__ = ["NoConversation"]


@final
class NoConversation:
    """The host of an executor used without a conversation: nothing to write to or voice."""

    def eager_target(self) -> ReplyTarget:
        return None

    def insert_items(self, target: ReplyTarget, items: Sequence[ChatItem]) -> None:
        pass

    def record_history(self, items: Sequence[ChatItem]) -> None:
        pass

    def last_item_id(self, target: ReplyTarget) -> str | None:
        return None

    async def wait_for_idle(self) -> ReplyTarget:  # pragma: no cover - nothing is delivered
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    def generate_reply(  # pragma: no cover - nothing is delivered
        self, target: ReplyTarget, *, instructions: str
    ) -> ReplyHandle:
        raise RuntimeError("an executor without a host voices no replies")

    def emit(self, event: ToolEvent) -> None:
        pass
