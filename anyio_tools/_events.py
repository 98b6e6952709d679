"""What the executor reports to its host, as frozen values (SPEC EVT-1..7).

Events are emitted synchronously through `ToolHost.emit`, in program order. Per admitted call:
one `CallStarted`, any number of `CallUpdated`, one `CallEnded`. Per deferred reply: one
`ReplyUpdated` with status ``scheduled`` and one with its outcome, or one `ReplyDropped` for
items that never got a reply.
"""

from __future__ import annotations

import enum
from typing import TypeAlias, final

import attrs

from ._chat import FunctionCall

__all__ = [
    "CallEnded",
    "CallStarted",
    "CallStatus",
    "CallUpdated",
    "CancelReason",
    "DropReason",
    "ReplyDropped",
    "ReplyStatus",
    "ReplyUpdated",
    "ToolEvent",
]


class CallStatus(enum.StrEnum):
    """How a call ended (or, on a `CallHandle`, that it is still running)."""

    RUNNING = "running"
    """The call has not ended yet (only seen on a `CallHandle`, never in `CallEnded`)."""
    DONE = "done"
    """The tool returned, or raised `StopResponse`."""
    ERROR = "error"
    """The tool raised (including `ToolError` and invalid arguments)."""
    CANCELLED = "cancelled"
    """The call was cancelled, by anyone."""


class CancelReason(enum.StrEnum):
    """Why a call was cancelled (issue #15: honest cancellation)."""

    LLM = "llm"
    """The LLM asked for it through the built-in cancel tool."""
    USER_INTERRUPTION = "user_interruption"
    """The user interrupted the turn the call belongs to."""
    REPLACE = "replace"
    """A duplicate call replaced it (``on_duplicate="replace"``)."""
    HANDOFF = "handoff"
    """Its agent's activity drained at a handoff."""
    TIMEOUT = "timeout"
    """One of its deadlines passed."""
    HOST = "host"
    """The program that runs it cancelled it (``CallHandle.cancel``, a cancelled dispatcher)."""
    SHUTDOWN = "shutdown"
    """Its executor or session closed."""


class ReplyStatus(enum.StrEnum):
    """Where a deferred reply stands."""

    SCHEDULED = "scheduled"
    """The host accepted the reply; an outcome follows."""
    COMPLETED = "completed"
    """The reply played to the end and produced chat items."""
    INTERRUPTED = "interrupted"
    """The reply was cut short (or the executor closed before it finished)."""
    SKIPPED = "skipped"
    """The reply produced nothing (the LLM found nothing new to say)."""


class DropReason(enum.StrEnum):
    """Why queued updates got no reply."""

    ACTIVITY_CLOSED = "activity_closed"
    """The activity that owns the executor drained or closed."""
    SESSION_CLOSED = "session_closed"
    """The session closed."""
    HOST_ERROR = "host_error"
    """The host failed to schedule the reply."""


@final
@attrs.frozen
class CallStarted:
    """A call was admitted; its tool is about to run.

    Args:
        call: The call item.
    """

    call: FunctionCall

    @property
    def call_id(self) -> str:
        """The call's id."""
        return self.call.call_id


@final
@attrs.frozen
class CallUpdated:
    """A running call reported progress.

    Args:
        id: The entry id: ``call_id`` for the first update, ``{call_id}_update_{k}`` after.
        call_id: The call's id.
        message: The update's text before templating.
    """

    id: str
    call_id: str
    message: str


@final
@attrs.frozen
class CallEnded:
    """A call ended; exactly one per admitted call, however it ends.

    Args:
        id: ``call_id`` if the call made no update, else ``{call_id}_final``.
        call_id: The call's id.
        status: How it ended.
        message: None when cancelled; the exception's text on error; the result's text when
            done (None for a result of None, `StopResponse` or an agent).
    """

    id: str
    call_id: str
    status: CallStatus
    message: str | None = None


@final
@attrs.frozen
class ReplyUpdated:
    """A deferred reply was scheduled, or reached its outcome.

    Args:
        update_ids: The entry ids the reply covers, in update order.
        status: Where the reply stands.
        speech_id: The id of the reply's speech.
    """

    update_ids: tuple[str, ...]
    status: ReplyStatus
    speech_id: str


@final
@attrs.frozen
class ReplyDropped:
    """Queued updates will get no reply; they stay in the chat.

    Args:
        update_ids: The entry ids dropped, in update order.
        reason: Why.
    """

    update_ids: tuple[str, ...]
    reason: DropReason


ToolEvent: TypeAlias = CallStarted | CallUpdated | CallEnded | ReplyUpdated | ReplyDropped
"""Any event the executor emits."""
