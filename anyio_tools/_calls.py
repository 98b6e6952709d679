"""One admitted call as its executor tracks it (SPEC CON-7, CTX-9, CAN-1, EXE-6).

A `Call` is the registry record, the context's binding to its executor, and the place where
the dispatcher waits for the call's first answer. Its owner (the executor) does the work; the
call only keeps state and forwards.
"""

from __future__ import annotations

from collections.abc import Awaitable
from contextvars import ContextVar
from typing import Any, Protocol, final

import anyio
from anyio import TaskHandle

from ._chat import FunctionCall
from ._context import RunContext, UpdatePair
from ._host import TurnHandle
from ._loop import Loop
from ._options import ToolOptions
from ._outcomes import DispatchResult
from ._tools import Tool

__all__ = ["Call", "CallOwner", "current_call"]


class CallOwner(Protocol):
    """What a call needs from the executor that admitted it."""

    @property
    def options(self) -> ToolOptions:
        """The executor's templates."""
        ...

    def on_update(self, call: Call, entry_id: str, message: str, pair: UpdatePair) -> None:
        """Take an update the call's tool made."""
        ...

    async def wait_updates_settled(self, count: int) -> None:
        """Wait until the first ``count`` deferred updates were scheduled or dropped."""
        ...

    @property
    def accepted_updates(self) -> int:
        """How many deferred updates were accepted so far."""
        ...

    async def cancel_call(self, call: Call, reason: str) -> bool:
        """Cancel the call and wait for its end; False if it had already ended."""
        ...


@final
class Call:
    """An admitted call: its tool, context, arguments, task and first answer."""

    __slots__ = (
        "__weakref__",
        "_owner",
        "answer",
        "answered",
        "arguments_value",
        "call",
        "cancel_reason",
        "cancellable",
        "checkpoint",
        "clock",
        "ctx",
        "handle",
        "key",
        "options",
        "released",
        "tool",
        "updated",
    )

    def __init__(
        self,
        owner: CallOwner,
        tool: Tool,
        ctx: RunContext[Any],
        call: FunctionCall,
        arguments_value: dict[str, Any] | None,
        key: tuple[str, str | None],
        loop: Loop,
    ) -> None:
        self._owner = owner
        self.clock = loop.clock
        self.checkpoint = loop.checkpoint
        self.options = owner.options
        self.tool = tool
        self.ctx = ctx
        self.call = call
        self.arguments_value = arguments_value
        self.key = key
        self.cancellable = tool.info.cancellable
        self.released: anyio.Event | None = loop.new_event()
        self.answer: DispatchResult | None = None  # handed to the dispatcher, then forgotten
        self.answered = False
        self.handle: TaskHandle[None] | None = None
        self.updated = False
        self.cancel_reason: str | None = None

    def __repr__(self) -> str:
        return f"<Call {self.call.name} call_id={self.call.call_id!r}>"

    # -- RegisteredCall ---------------------------------------------------------------------

    @property
    def call_id(self) -> str:
        """The call's id."""
        return self.call.call_id

    @property
    def name(self) -> str:
        """The tool's name."""
        return self.call.name

    @property
    def arguments(self) -> str:
        """The arguments as JSON text."""
        return self.call.arguments

    @property
    def non_blocking(self) -> bool:
        """Whether the call was released by an update."""
        return self.updated

    @property
    def turn(self) -> TurnHandle | None:
        """The turn that made the call, if its context has one."""
        return self.ctx.turn

    async def cancel(self) -> bool:
        """Cancel the call and wait for its end; False if it had already ended."""
        return await self._owner.cancel_call(self, "cancelled on request")

    # -- CallBinding ------------------------------------------------------------------------

    def on_update(self, entry_id: str, message: str, pair: UpdatePair) -> None:
        """Forward an update of the call's tool to the executor."""
        self._owner.on_update(self, entry_id, message, pair)

    async def wait_settled(self) -> None:
        """Wait until the executor's updates accepted so far got a reply or were dropped."""
        owner = self._owner
        await owner.wait_updates_settled(owner.accepted_updates)

    # -- lifecycle --------------------------------------------------------------------------

    def release(self, answer: DispatchResult) -> None:
        """Give the dispatcher its answer (only the first one counts)."""
        if not self.answered:
            self.answered = True
            self.answer = answer
            if self.released is not None:
                self.released.set()

    def request_cancel(self, reason: str) -> None:
        """Cancel the call's task (no effect once it ended)."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if self.handle is not None:
            self.handle.cancel()

    def invoke(self) -> Awaitable[Any]:
        """Start the tool's function on the validated arguments (the call forgets them)."""
        arguments, self.arguments_value = self.arguments_value, None
        return self.tool.invoke(self.ctx, arguments or {})

    async def wait_ended(self) -> None:
        """Wait until the call's task finished (its end event was emitted)."""
        assert self.handle is not None, "a call's task is started at admission"
        await self.handle.wait()


current_call: ContextVar[Call | None] = ContextVar("anyio_tools_current_call", default=None)
"""The call whose tool body the current code runs in, if any (CTX-9)."""
