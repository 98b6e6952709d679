"""What a call's end becomes: its dispatch answer, its final entry, its end event (SPEC EXE-7,
EXE-9, EVT-4).

All functions here are synchronous and pure; the executor calls them in the call's ``finally``.
"""

from __future__ import annotations

from typing import Final, final

import attrs

from ._chat import FunctionCall, FunctionCallOutput, output_for_exception, output_for_value
from ._errors import StopResponse
from ._events import CallStatus
from ._values import (
    CANCELLED_TEXT,
    HANDOFF_AFTER_UPDATE_TEXT,
    SEVERAL_AGENTS_TEXT,
    HandoffAgent,
)

__all__ = [
    "CANCELLED_OUTCOME",
    "DispatchResult",
    "Outcome",
    "answer",
    "ended_message",
    "final_output",
]


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
@attrs.define  # not frozen: one is built per call, and frozen attrs classes cost more to build
class Outcome:
    """How a tool's body ended: a value, an exception, or a cancellation (never changed)."""

    status: CallStatus
    value: object = None
    error: BaseException | None = None

    @classmethod
    def of_value(cls, value: object) -> Outcome:
        """The body returned ``value``."""
        return cls(CallStatus.DONE, value)

    @classmethod
    def of_error(cls, error: BaseException) -> Outcome:
        """The body raised ``error`` (`StopResponse` counts as done)."""
        status = CallStatus.DONE if isinstance(error, StopResponse) else CallStatus.ERROR
        return cls(status, None, error)


_PLAIN: Final = frozenset({str, int, float, bool, type(None), dict})


CANCELLED_OUTCOME: Final = Outcome(CallStatus.CANCELLED)
"""The outcome of every cancelled call (one shared instance)."""


def _split_agents(value: object) -> tuple[list[HandoffAgent], list[object]] | None:
    if type(value) in _PLAIN:  # the common case, without the ABC instance check
        return None
    if isinstance(value, HandoffAgent):
        return [value], list[object]()
    if isinstance(value, list | tuple) and any(isinstance(v, HandoffAgent) for v in value):
        agents = [v for v in value if isinstance(v, HandoffAgent)]
        return agents, [v for v in value if not isinstance(v, HandoffAgent)]
    return None


def answer(call: FunctionCall, outcome: Outcome, *, created_at: float) -> DispatchResult:
    """Return the answer of a call that ended before any update (EXE-7).

    Its output item is created at *created_at* (a reading of anyio's clock).
    """
    if outcome.status is CallStatus.CANCELLED:
        output = FunctionCallOutput(
            call_id=call.call_id,
            name=call.name,
            output=CANCELLED_TEXT,
            reply_required=False,
            created_at=created_at,
        )
        return DispatchResult(call, output)
    if outcome.error is not None:
        output = FunctionCallOutput.from_exception(call, outcome.error, created_at=created_at)
        return DispatchResult(call, output)
    split = _split_agents(outcome.value)
    if split is None:
        output = FunctionCallOutput.from_value(call, outcome.value, created_at=created_at)
        return DispatchResult(call, output)
    agents, others = split
    if len(agents) > 1:
        output = FunctionCallOutput(
            call_id=call.call_id,
            name=call.name,
            output=SEVERAL_AGENTS_TEXT,
            is_error=True,
            created_at=created_at,
        )
        return DispatchResult(call, output)
    rest: object = None if not others else others[0] if len(others) == 1 else others
    output = FunctionCallOutput.from_value(call, rest, created_at=created_at)  # None: no reply
    return DispatchResult(call, output, handoff=agents[0])


def final_output(
    call: FunctionCall, outcome: Outcome, *, created_at: float
) -> FunctionCallOutput | None:
    """Return the ``_final`` answer of a call that ended after an update, if any (EXE-9).

    Its item is created at *created_at* (a reading of anyio's clock).
    """
    final_id = f"{call.call_id}_final"
    if outcome.status is CallStatus.CANCELLED:
        return None
    if outcome.error is not None:
        if isinstance(outcome.error, StopResponse):
            return None
        return output_for_exception(final_id, call.name, outcome.error, created_at)
    if outcome.value is None:
        return None
    if _split_agents(outcome.value) is not None:
        return FunctionCallOutput(
            call_id=final_id,
            name=call.name,
            output=HANDOFF_AFTER_UPDATE_TEXT,
            is_error=True,
            created_at=created_at,
        )
    return output_for_value(final_id, call.name, outcome.value, created_at)


def ended_message(outcome: Outcome, *, updated: bool) -> tuple[CallStatus, str | None]:
    """Return the status and message of a call's `CallEnded` (EVT-4)."""
    if outcome.status is CallStatus.CANCELLED:
        return CallStatus.CANCELLED, None
    if outcome.error is not None:
        if isinstance(outcome.error, StopResponse):
            return CallStatus.DONE, None
        return CallStatus.ERROR, str(outcome.error)
    value = outcome.value
    if value is None:
        return CallStatus.DONE, None
    if _split_agents(value) is not None:
        if updated:
            return CallStatus.ERROR, HANDOFF_AFTER_UPDATE_TEXT
        return CallStatus.DONE, None
    return CallStatus.DONE, str(value)
