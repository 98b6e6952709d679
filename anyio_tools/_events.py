"""What the executor reports to its host, as frozen values (SPEC EVT-1..7, LED-1..6).

Events are emitted synchronously through `ToolHost.emit`, in program order. Per admitted call:
one `CallStarted`, any number of `CallUpdated`, one `CallEnded`. Per deferred reply: one
`ReplyUpdated` with status ``scheduled`` and one with its outcome, or one `ReplyDropped` for
items that never got a reply. Per owed item (an update after the first, a final result): one
`DeliverySettled` naming its one ledger outcome (issue #15).
"""

from __future__ import annotations

import enum
from typing import TypeAlias, final

import attrs

from ._chat import FunctionCall

__all__ = [
    "CallEnded",
    "CallRetried",
    "CallStarted",
    "CallStatus",
    "CallUpdated",
    "CancelAnswer",
    "CancelReason",
    "DeliveryOutcome",
    "DeliverySettled",
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
    RETRIES_EXHAUSTED = "retries_exhausted"
    """Every reply that carried the item was interrupted, up to the re-delivery limit."""
    CANCELLED = "cancelled"
    """The reply that carried the item was interrupted, and its call was cancelled since."""


class DeliveryOutcome(enum.StrEnum):
    """How an owed item ended in the delivery ledger (issue #15; exactly one per item)."""

    DELIVERED = "delivered"
    """A reply that voiced it completed, and the host counted it heard."""
    COVERED = "covered"
    """An LLM request already contained it and that turn completed without a word to add
    (a deferred reply that produced nothing, or a normal turn the host reported)."""
    SUPERSEDED = "superseded"
    """A later item of the same call made it moot before it was heard (only an update
    after the first is ever superseded, never a final result)."""
    DROPPED = "dropped"
    """It will never be voiced; `DeliverySettled.reason` says why."""


class CancelAnswer(enum.StrEnum):
    """What a request to cancel a call achieved (issue #15: honest cancellation)."""

    CANCELLED = "cancelled"
    """The call was cancelled (or it already ended cancelled)."""
    COMMITTED = "too late: already committed, will finish"
    """The call passed its point of no return (``ctx.commit()``); it goes on and finishes."""
    NOT_CANCELLABLE = "not cancellable"
    """The call may not be cancelled by whoever asked."""
    UNKNOWN = "unknown"
    """No such call is running (it never existed, or it already ended)."""


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
        cancel_cause: Why the call was cancelled (``cancelled`` only).
    """

    id: str
    call_id: str
    status: CallStatus
    message: str | None = None
    cancel_cause: CancelReason | None = None


@final
@attrs.frozen
class CallRetried:
    """An attempt of a call failed with a retryable error; another follows after *delay*.

    Emitted only for tools with a retry policy, before the wait (issue #16, RTY-4).

    Args:
        call_id: The call's id.
        attempt: The attempt that failed (1 for the first).
        error: The failure, as ``"ExceptionType: text"``.
        delay: Seconds the call waits before its next attempt.
    """

    call_id: str
    attempt: int
    error: str
    delay: float


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


@final
@attrs.frozen
class DeliverySettled:
    """Owed items reached their one delivery outcome (the ledger, issue #15).

    Args:
        update_ids: The entry ids settled, in update order.
        outcome: How they ended.
        reason: Why they were dropped (``dropped`` only).
    """

    update_ids: tuple[str, ...]
    outcome: DeliveryOutcome
    reason: DropReason | None = None


ToolEvent: TypeAlias = (
    CallStarted
    | CallUpdated
    | CallEnded
    | CallRetried
    | ReplyUpdated
    | ReplyDropped
    | DeliverySettled
)
"""Any event the executor emits."""
