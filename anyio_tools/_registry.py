"""The running calls of one session, shared by all its executors (SPEC CAN-1, CAN-3, CAN-4).

One `CallRegistry` per session, passed to every executor that works for it; never a
module-level table, so two sessions (even nested ones) never see each other's calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, Protocol, final

import attrs

from ._errors import ToolError
from ._events import CallStatus, CancelAnswer, CancelReason
from ._host import TurnHandle

__all__ = ["CallRegistry", "RegisteredCall", "RunningCall"]


class RegisteredCall(Protocol):
    """What the registry needs from an admitted call (implemented by the executor)."""

    @property
    def call_id(self) -> str:
        """The call's id."""
        ...

    @property
    def name(self) -> str:
        """The tool's name."""
        ...

    @property
    def arguments(self) -> str:
        """The arguments as JSON text."""
        ...

    @property
    def cancellable(self) -> bool:
        """Whether the tool is flagged cancellable."""
        ...

    @property
    def non_blocking(self) -> bool:
        """Whether the call answered with an update and runs in the background."""
        ...

    @property
    def turn(self) -> TurnHandle | None:
        """The turn that made the call, if any."""
        ...

    async def cancel_and_wait(self) -> CancelAnswer:
        """Cancel the call on the LLM's request and wait for its end (unless committed)."""
        ...


@final
@attrs.frozen
class RunningCall:
    """A snapshot of one running call.

    Args:
        call_id: The call's id.
        name: The tool's name.
        arguments: The arguments as JSON text.
        cancellable: Whether the LLM may cancel it.
        non_blocking: Whether it answered with an update and runs in the background.
    """

    call_id: str
    name: str
    arguments: str
    cancellable: bool
    non_blocking: bool


def _check_cancellable(call: RegisteredCall) -> None:
    if not call.cancellable:
        raise ToolError(f"call `{call.call_id}` ({call.name}) is not cancellable")
    turn = call.turn
    if turn is not None and not turn.allow_interruptions:
        raise ToolError(
            f"call `{call.call_id}` ({call.name}) cannot be cancelled while its turn "
            "disallows interruptions"
        )


_REMEMBERED: Final = 256  # how many ended calls the cancel tool can still tell about


@final
class CallRegistry:
    """The calls running in one session, in admission order.

    A call is present from its admission until just before its end is reported.
    """

    __slots__ = ("_calls", "_ended")

    def __init__(self) -> None:
        self._calls: dict[str, RegisteredCall] = {}
        self._ended: dict[str, tuple[CallStatus, CancelReason | None]] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._calls

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._calls))

    def get(self, call_id: str) -> RegisteredCall | None:
        """Return the running call with this id, or None."""
        return self._calls.get(call_id)

    def add(self, call: RegisteredCall) -> None:
        """Register an admitted call.

        Raises:
            ValueError: A call with the same id is running.
        """
        call_id = call.call_id
        if call_id in self._calls:
            raise ValueError(f"a call with id {call_id!r} is already running")
        self._calls[call_id] = call

    def discard(self, call_id: str) -> None:
        """Forget a call (no error if it is not registered)."""
        self._calls.pop(call_id, None)

    def end(self, call_id: str, status: CallStatus, cause: CancelReason | None) -> None:
        """Forget an ended call and remember how it ended (`discard`, then `remember_end`)."""
        self._calls.pop(call_id, None)
        ended = self._ended
        ended[call_id] = (status, cause)
        if len(ended) > _REMEMBERED:
            del ended[next(iter(ended))]

    def remember_end(self, call_id: str, status: CallStatus, cause: CancelReason | None) -> None:
        """Keep how a call ended, for the cancel tool's answers (the last 256 calls)."""
        ended = self._ended
        ended[call_id] = (status, cause)
        if len(ended) > _REMEMBERED:
            del ended[next(iter(ended))]

    def ended(self, call_id: str) -> tuple[CallStatus, CancelReason | None] | None:
        """Return how a recently ended call ended (status, cancel cause), or None."""
        return self._ended.get(call_id)

    def running(self, *, cancellable_only: bool = False) -> list[RunningCall]:
        """Return snapshots of the running calls, oldest first."""
        return [
            RunningCall(c.call_id, c.name, c.arguments, c.cancellable, c.non_blocking)
            for c in self._calls.values()
            if c.cancellable or not cancellable_only
        ]

    def check_cancellable(self, call_id: str) -> RegisteredCall:
        """Return the running call if the LLM may cancel it (CAN-4).

        Raises:
            ToolError: The call is unknown, not cancellable, or its turn disallows
                interruptions.
        """
        call = self._calls.get(call_id)
        if call is None:
            raise ToolError(f"unknown: call `{call_id}` not found{self._ended_text(call_id)}")
        _check_cancellable(call)
        return call

    def _ended_text(self, call_id: str) -> str:
        ended = self._ended.get(call_id)
        if ended is None:
            return ""
        status, cause = ended
        if status is CallStatus.CANCELLED:
            return f"; it was already cancelled (reason: {cause})"
        return f"; it already ended ({status})"

    async def cancel(self, call_id: str) -> CancelAnswer:
        """Cancel a running call on the LLM's request and wait for its end (CAN-4, CAN-11).

        Returns:
            ``cancelled``, or ``too late: already committed, will finish`` when the call
            passed its commit point (nothing was cancelled; it goes on).

        Raises:
            ToolError: The call is unknown (``unknown: ...``, saying how it ended if it did
                lately), not cancellable, its turn disallows interruptions, or it ended
                before it could be cancelled.
        """
        call = self.check_cancellable(call_id)
        answer = await call.cancel_and_wait()
        if answer is CancelAnswer.UNKNOWN:
            raise ToolError(f"call `{call_id}` not found or already finished")
        return answer
