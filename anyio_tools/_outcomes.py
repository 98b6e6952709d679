"""What a call's end becomes: its dispatch answer, its final entry, its end event, its result
(SPEC EXE-7, EXE-9, EVT-4; issue #11).

An `Outcome` is built once, in the call's task, the moment the tool's body ends; every text
derived from the value or the exception is computed there, guarded, so that turning a hostile
value into text can never break the call's end. The functions below are synchronous and pure.
"""

from __future__ import annotations

import logging
from typing import Final, cast, final

import attrs

from ._chat import FunctionCall, FunctionCallOutput, new_output
from ._errors import StopResponse, ToolError
from ._events import CallStatus, CancelReason
from ._groups import collapse, is_cancellation
from ._values import (
    CANCELLED_TEXT,
    GENERIC_ERROR_TEXT,
    HANDOFF_AFTER_UPDATE_TEXT,
    SEVERAL_AGENTS_TEXT,
    UNUSABLE_VALUE_TEXT,
    HandoffAgent,
    safe_str,
    value_text,
)

__all__ = [
    "CallResult",
    "DispatchResult",
    "Outcome",
    "answer",
    "ended_message",
    "final_output",
    "judge",
]

logger = logging.getLogger("anyio_tools.executor")


@final
@attrs.frozen
class DispatchResult:
    """The answer to one call, as the turn that made it sees it.

    Args:
        call: The call item to record (its arguments rewritten as valid JSON when they had
            to be repaired).
        output: The answer the LLM sees, under the call's id.
        handoff: The agent the tool asked to hand the conversation to, if any.
        non_blocking: Whether the call answered with a progress update and keeps running.
    """

    call: FunctionCall
    output: FunctionCallOutput
    handoff: object | None = None
    non_blocking: bool = False


@final
@attrs.frozen
class CallResult:
    """How a call ended, as ``CallHandle.result()`` reports it.

    Args:
        call_id: The call's id.
        status: ``done``, ``error`` or ``cancelled``.
        value: What the tool returned (``done``), else None.
        error: What the tool raised (``error``, or `StopResponse` for ``done``), else None.
        output: The text the LLM sees for the call's end, or None when the end asks for no
            reply (None returned, `StopResponse`, cancelled).
        reason: Why the call was cancelled (``cancelled`` only).
        cancel_cause: Why the call was cancelled, as a `CancelReason` (``cancelled`` only).
    """

    call_id: str
    status: CallStatus
    value: object = None
    error: BaseException | None = None
    output: str | None = None
    reason: str | None = None
    cancel_cause: CancelReason | None = None


_PLAIN: Final = frozenset({str, int, float, bool, type(None), dict})


def _split_agents(value: object) -> tuple[list[HandoffAgent], object] | None:
    if type(value) in _PLAIN:  # the common case, without the ABC instance check
        return None
    if isinstance(value, HandoffAgent):
        return [value], None
    if isinstance(value, list | tuple) and any(isinstance(v, HandoffAgent) for v in value):
        agents = [v for v in value if isinstance(v, HandoffAgent)]
        others = [v for v in value if not isinstance(v, HandoffAgent)]
        return agents, None if not others else others[0] if len(others) == 1 else others
    return None


def _error_message(error: BaseException) -> str:
    text = safe_str(error)
    if isinstance(error, Exception):
        return text
    name = type(error).__name__  # KeyboardInterrupt, GeneratorExit, ...: say what it was
    return f"{name}: {text}" if text else name


@final
class Outcome:
    """How a tool's body ended, with the texts the LLM and the events see (never changed).

    Build one with `of_value`, `of_error` or `cancelled`.
    """

    __slots__ = ("agents", "error", "handoff", "is_error", "reason", "status", "text", "value")

    def __init__(
        self,
        status: CallStatus,
        *,
        value: object = None,
        error: BaseException | None = None,
        text: str | None = None,
        is_error: bool = False,
        reason: str | None = None,
        handoff: object | None = None,
        agents: int = 0,
    ) -> None:
        self.status = status
        self.value = value
        self.error = error
        self.text = text  # None: no reply is required
        self.is_error = is_error
        self.reason = reason
        self.handoff = handoff
        self.agents = agents  # how many agents the value held (EXE-7 handoff rows)

    def __repr__(self) -> str:
        return f"<Outcome {self.status.value} text={self.text!r}>"

    @classmethod
    def of_value(cls, value: object, *, tool: str = "?", call_id: str = "?") -> Outcome:
        """The body returned ``value``; an unusable value gives an error outcome (logged)."""
        kind = type(value)
        if kind is str:  # the common cases first, as value_text() would
            return cls(CallStatus.DONE, value=value, text=cast(str, value))
        if kind is int or kind is float or kind is bool:
            return cls(CallStatus.DONE, value=value, text=str(value))
        split = _split_agents(value)
        if split is not None:
            agents, rest = split
            if len(agents) > 1:
                return cls(
                    CallStatus.DONE,
                    value=value,
                    text=SEVERAL_AGENTS_TEXT,
                    is_error=True,
                    agents=len(agents),
                )
            outcome = cls.of_value(rest, tool=tool, call_id=call_id)
            outcome.value, outcome.handoff, outcome.agents = value, agents[0], 1
            return outcome
        if value is None:
            return cls(CallStatus.DONE)
        text = value_text(value)
        if text is None:
            logger.error(
                "tool %s (call %s) returned a %s that cannot be serialised as JSON",
                tool,
                call_id,
                type(value).__name__,
            )
            return cls(
                CallStatus.ERROR,
                error=TypeError(f"the tool returned an unusable {type(value).__name__}"),
                text=UNUSABLE_VALUE_TEXT,
                is_error=True,
            )
        return cls(CallStatus.DONE, value=value, text=text)

    @classmethod
    def of_error(cls, error: BaseException) -> Outcome:
        """The body raised ``error`` (`StopResponse` counts as done, without a reply)."""
        if isinstance(error, StopResponse):
            return cls(CallStatus.DONE, error=error)
        text = error.message if isinstance(error, ToolError) else GENERIC_ERROR_TEXT
        return cls(CallStatus.ERROR, error=error, text=text, is_error=True)

    @classmethod
    def cancelled(cls, reason: str | None) -> Outcome:
        """The call was cancelled (``reason`` says by whom or why, if known)."""
        return cls(CallStatus.CANCELLED, reason=reason)

    @classmethod
    def timed_out(cls, text: str) -> Outcome:
        """A deadline cancelled the call; the LLM is told *text* (issue #16, DLN-4)."""
        return cls(CallStatus.CANCELLED, reason=CancelReason.TIMEOUT, text=text, is_error=True)

    def result(self, call_id: str, cause: CancelReason | None = None) -> CallResult:
        """Return the public view of this outcome (*cause*: why it was cancelled)."""
        return CallResult(
            call_id=call_id,
            status=self.status,
            value=self.value,
            error=self.error,
            output=self.text,
            reason=self.reason,
            cancel_cause=cause if self.status is CallStatus.CANCELLED else None,
        )


def answer(call: FunctionCall, outcome: Outcome, *, created_at: float) -> DispatchResult:
    """Return the answer of a call that ended before any update (EXE-7).

    Its output item is created at *created_at* (a reading of anyio's clock).
    """
    text = outcome.text
    if outcome.status is CallStatus.CANCELLED and text is None:
        output = new_output(
            call.call_id, call.name, CANCELLED_TEXT, created_at, reply_required=False
        )
        return DispatchResult(call, output)
    if text is None:
        output = new_output(call.call_id, call.name, "", created_at, reply_required=False)
    else:
        output = new_output(call.call_id, call.name, text, created_at, is_error=outcome.is_error)
    return DispatchResult(call, output, handoff=outcome.handoff)


def final_output(
    call: FunctionCall, outcome: Outcome, *, created_at: float
) -> FunctionCallOutput | None:
    """Return the ``_final`` answer of a call that ended after an update, if any (EXE-9).

    Its item is created at *created_at* (a reading of anyio's clock).
    """
    if outcome.status is CallStatus.CANCELLED and outcome.text is None:
        return None
    final_id = f"{call.call_id}_final"
    if outcome.agents:
        return new_output(final_id, call.name, HANDOFF_AFTER_UPDATE_TEXT, created_at, is_error=True)
    if outcome.text is None:
        return None
    return new_output(final_id, call.name, outcome.text, created_at, is_error=outcome.is_error)


def ended_message(outcome: Outcome, *, updated: bool) -> tuple[CallStatus, str | None]:
    """Return the status and message of a call's `CallEnded` (EVT-4)."""
    status = outcome.status
    if status is CallStatus.CANCELLED:
        return status, None
    if outcome.agents:
        if updated:
            return CallStatus.ERROR, HANDOFF_AFTER_UPDATE_TEXT
        return CallStatus.DONE, None
    error = outcome.error
    if error is not None:
        if isinstance(error, StopResponse):
            return CallStatus.DONE, None
        if outcome.text == UNUSABLE_VALUE_TEXT and isinstance(error, TypeError):
            return CallStatus.ERROR, UNUSABLE_VALUE_TEXT
        return CallStatus.ERROR, _error_message(error)
    return status, outcome.text


def judge(
    exc: BaseException, *, cancelled: bool, reason: str | None, tool: str, call_id: str
) -> tuple[Outcome, bool]:
    """Turn whatever a tool's body raised into its one outcome, and say whether to re-raise.

    The same on asyncio and trio (issue #11): exception groups are collapsed first.
    ``KeyboardInterrupt`` and ``SystemExit`` are reported as errors and re-raised. When the
    call was *cancelled* (its own scope or one around it), a pure cancellation is re-raised
    and a real error raised during the cancellation is logged; the outcome is ``cancelled``
    either way. A cancellation exception that nothing asked for is an error like any other.
    Must be called with an event loop running.
    """
    found = collapse(exc)
    if isinstance(found, KeyboardInterrupt | SystemExit):
        return Outcome.of_error(found), True
    if cancelled:
        if is_cancellation(exc):
            return Outcome.cancelled(reason), True
        # INV-23: on trio the error comes grouped with the cancellation; on asyncio alone.
        logger.warning(
            "tool %s (call %s) raised while being cancelled", tool, call_id, exc_info=exc
        )
        return Outcome.cancelled(reason), False
    if is_cancellation(exc):
        # On asyncio, awaiting a future someone else cancelled raises CancelledError in a task
        # nobody cancelled (issue #12): an error of this call, not a teardown.
        logger.error(
            "tool %s (call %s) raised a cancellation exception although nothing cancelled it",
            tool,
            call_id,
            exc_info=exc,
        )
        return Outcome.of_error(found), False
    if not isinstance(found, ToolError | StopResponse):
        logger.error("tool %s (call %s) raised", tool, call_id, exc_info=exc)
    return Outcome.of_error(found), False
