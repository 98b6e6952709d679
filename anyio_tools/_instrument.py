"""The instrumentation seam: what an executor and a session tell an observer (issue #17).

An `Instrumentation` hears of each call's admission, its updates, its end, the duplicate
decisions about it and, through the events of its deferred replies, of each reply. Its
``call_scope`` is entered *inside the call's own task*, around the tool's body, so whatever it
makes current there (an OpenTelemetry span, for `anyio_tools.otel`) is current for the tool and
for every task the tool starts.

The executor holds ``None`` when nothing observes it and checks that once per step: with no
instrumentation installed, a call pays a few ``is not None`` tests and nothing else.

Rules:
- OBS-1: the hooks are synchronous and must not raise (an observer that fails is logged and
  ignored by `call_safely`); they never block a call.
- OBS-2: ``call_started`` runs in the dispatcher's task at admission (after `CallStarted`),
  ``call_scope`` in the call's task around the body, ``call_ended`` in the call's task after
  `CallEnded`, before the scope exits.
- OBS-3: ``event`` receives every event the executor's deliverer emits (`ReplyUpdated`,
  `ReplyDropped`), in order.
- OBS-4: a session's and an activity's scope are entered in the task that owns them, before
  their executors open, so their delivery tasks and ``on_enter`` inherit it; the scope is left
  in the same task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, final

from ._chat import ChatItem, FunctionCall
from ._events import ToolEvent
from ._host import ReplyHandle, ReplyTarget, ToolHost

if TYPE_CHECKING:
    from ._calls import CallHandle
    from ._outcomes import Outcome

__all__ = [
    "Instrumentation",
    "ObservedHost",
    "call_safely",
    "default_instrumentation",
    "set_default_instrumentation",
]

logger = logging.getLogger("anyio_tools.instrument")


class Instrumentation(Protocol):
    """An observer of calls and replies (see `anyio_tools.otel.OpenTelemetry`).

    Every method is synchronous, fast and must not raise.
    """

    def call_started(self, call: CallHandle) -> None:
        """A call was admitted (in the dispatcher's task)."""

    def call_scope(self, call: CallHandle) -> AbstractContextManager[object]:
        """Return what is entered in the call's own task around its body."""
        ...

    def call_updated(self, call: CallHandle, entry_id: str, message: str) -> None:
        """The call made an update (``entry_id`` is the update's chat entry)."""

    def call_ended(self, call: CallHandle, outcome: Outcome) -> None:
        """The call ended with ``outcome`` (in the call's task)."""

    def duplicate_decided(
        self, item: FunctionCall, decision: str, running: Sequence[CallHandle]
    ) -> None:
        """A duplicate policy decided ``decision`` about ``item`` given ``running`` calls."""

    def event(self, event: ToolEvent) -> None:
        """An event about a deferred reply was emitted."""

    def session_scope(self, name: str) -> AbstractContextManager[object]:
        """Return what is entered around a session's life."""
        ...

    def activity_scope(self, agent: str) -> AbstractContextManager[object]:
        """Return what is entered around one agent's activity."""
        ...


_default: Instrumentation | None = None


def default_instrumentation() -> Instrumentation | None:
    """The instrumentation executors and sessions use when given none (None: nothing)."""
    return _default


def set_default_instrumentation(instrumentation: Instrumentation | None) -> None:
    """Install (or, with None, remove) the process-wide default instrumentation."""
    global _default
    _default = instrumentation


def call_safely(hook: Callable[..., object], *args: object) -> None:
    """Call an instrumentation hook; a failure is logged, never raised (OBS-1)."""
    try:
        hook(*args)
    except Exception:
        logger.exception("instrumentation hook %s failed", getattr(hook, "__name__", hook))


@final
class ObservedHost:
    """A `ToolHost` that shows every event it forwards to an instrumentation first (OBS-3)."""

    __slots__ = ("_host", "_instrumentation")

    def __init__(self, host: ToolHost, instrumentation: Instrumentation) -> None:
        self._host = host
        self._instrumentation = instrumentation

    def eager_target(self) -> ReplyTarget:
        return self._host.eager_target()

    def insert_items(self, target: ReplyTarget, items: Sequence[ChatItem]) -> None:
        self._host.insert_items(target, items)

    def record_history(self, items: Sequence[ChatItem]) -> None:
        self._host.record_history(items)

    def last_item_id(self, target: ReplyTarget) -> str | None:
        return self._host.last_item_id(target)

    async def wait_for_idle(self) -> ReplyTarget:
        return await self._host.wait_for_idle()

    def generate_reply(self, target: ReplyTarget, *, instructions: str) -> ReplyHandle:
        return self._host.generate_reply(target, instructions=instructions)

    def emit(self, event: ToolEvent) -> None:
        call_safely(self._instrumentation.event, event)
        self._host.emit(event)
