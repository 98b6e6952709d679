"""Deadlines, heartbeats and retries of one call, inside its own task (issue #16; SPEC-style
rules DLN-1..7 in the README).

- DLN-1: a call has at most two clocks: a hard ``timeout`` counted from its start, and an
  ``idle_timeout`` counted from its start or its last heartbeat (every ``ctx.update()`` and
  every ``ctx.heartbeat()``; a new retry attempt counts too).
- DLN-2: both are one `anyio.CancelScope` around the tool's body (and its retries) whose
  ``deadline`` is the earlier of the two; a heartbeat moves that deadline forward. No watcher
  task exists: the event loop's own timer fires it. The idle deadline fires no earlier than
  ``idle_timeout`` after the last heartbeat and at most a slack of ``min(1 s, idle_timeout /
  10)`` later: a heartbeat that finds the deadline far enough ahead moves nothing, so a burst
  of heartbeats reschedules the timer once.
- DLN-3: values resolve per key, the most specific level that sets one winning: the call
  (``start``/``execute`` keywords), the tool (``function_tool``), then the executor's options
  (toolset, agent or session, OPT-2). ``math.inf`` means "no deadline" at any level.
- DLN-4: when a deadline passes, the call ends ``cancelled`` with reason
  `CancelReason.TIMEOUT`; the LLM gets the ``timeout_template`` text naming the deadline:
  as the call's answer if it had not answered yet, else as its ``_final`` entry.
- DLN-5: a cancellation the tool swallows after its deadline passed still counts as a timeout
  (CAN-9); a cancellation from anyone else (the LLM, a replace, a drain, its dispatcher)
  keeps its own meaning.
- DLN-6: a deadline covers the whole call: ``foreground()`` and ``with_filler()`` waits,
  retry attempts and their back-off.
- DLN-7: a guard is built only for a call with a deadline or a retry policy; other calls
  run exactly as before.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any, Final, Protocol, final

import anyio
from anyio import current_effective_deadline

from ._events import CallRetried
from ._groups import collapse, is_cancellation
from ._host import ToolHost, emit_safely
from ._retry import RetryPolicy
from ._tools import Tool

__all__ = ["CallGuard", "Deadline", "DeadlinePassed", "GuardedCall"]


class Deadline(enum.StrEnum):
    """Which of a call's deadlines passed."""

    TIMEOUT = "timeout"
    """The hard deadline, counted from the call's start."""
    IDLE_TIMEOUT = "idle_timeout"
    """The idle deadline, counted from the call's last update or heartbeat."""


# DLN-2: how much later than exact an idle deadline may fire, so that heartbeats rarely
# reschedule the timer: a tenth of the idle timeout, at most one second.
_SLACK_SHARE: Final = 0.1
_SLACK_MAX: Final = 1.0

_TEXTS: Final[Mapping[Deadline, str]] = {
    Deadline.TIMEOUT: "time limit of {seconds:g} seconds",
    Deadline.IDLE_TIMEOUT: "limit of {seconds:g} seconds without progress",
}


def deadline_text(deadline: Deadline, seconds: float) -> str:
    """Describe a deadline for the LLM: "time limit of 30 seconds"."""
    return _TEXTS[deadline].format(seconds=seconds)


class DeadlinePassed(Exception):
    """Raised in the call's task when one of its deadlines passed (DLN-4)."""

    def __init__(self, deadline: Deadline, seconds: float) -> None:
        super().__init__(deadline_text(deadline, seconds))
        self.deadline = deadline
        self.seconds = seconds


class GuardedCall(Protocol):
    """What a guard needs from its call."""

    @property
    def call_id(self) -> str:
        """The call's id."""
        ...

    @property
    def tool(self) -> Tool:
        """The tool to run."""
        ...

    @property
    def cancel_reason(self) -> str | None:
        """Why someone cancelled the call, if anyone did."""
        ...

    def take_arguments(self) -> dict[str, Any]:
        """Hand over the validated arguments (the call forgets them)."""
        ...

    def invoke_with(self, arguments: dict[str, Any]) -> Any:
        """Start one attempt of the tool on *arguments*; return its awaitable."""
        ...


@final
class CallGuard:
    """The deadlines and the retry policy of one call (built at admission, run in its task).

    Args:
        timeout: Seconds from the call's start, or None.
        idle_timeout: Seconds from the last heartbeat, or None.
        retry: The tool's retry policy, or None.
        host: Where `CallRetried` events go.
    """

    __slots__ = (
        "_hard",
        "_host",
        "_scope",
        "attempts",
        "idle_timeout",
        "passed",
        "retry",
        "timeout",
    )

    def __init__(
        self,
        timeout: float | None,
        idle_timeout: float | None,
        retry: RetryPolicy | None,
        host: ToolHost,
    ) -> None:
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self.retry = retry
        self._host = host
        self._scope: anyio.CancelScope | None = None
        self._hard = math.inf
        self.attempts = 0
        self.passed: Deadline | None = None

    def beat(self, now: float) -> None:
        """Note a sign of life at *now*: the idle deadline moves past *now* +
        ``idle_timeout`` (DLN-1, DLN-2).

        The scope's deadline moves only when it would otherwise fire too early, and then a
        little further than needed (the slack, DLN-2): a burst of heartbeats costs one timer
        reschedule, not one each.
        """
        scope = self._scope
        idle = self.idle_timeout
        if scope is None or idle is None:
            return
        wanted = now + idle
        if wanted > scope.deadline and not scope.cancel_called:
            scope.deadline = min(self._hard, wanted + min(_SLACK_MAX, idle * _SLACK_SHARE))

    def _which(self, scope: anyio.CancelScope) -> DeadlinePassed:
        # The scope's deadline is the earlier of the two; equal means the hard one passed.
        if self._hard <= scope.deadline or self.idle_timeout is None:
            assert self.timeout is not None
            self.passed = Deadline.TIMEOUT
            return DeadlinePassed(Deadline.TIMEOUT, self.timeout)
        self.passed = Deadline.IDLE_TIMEOUT
        return DeadlinePassed(Deadline.IDLE_TIMEOUT, self.idle_timeout)

    async def run(self, call: GuardedCall) -> Any:
        """Run the call's attempts under its deadlines; return the tool's value.

        Raises:
            DeadlinePassed: A deadline passed (also when the tool swallowed the cancellation).
            BaseException: Whatever the last attempt raised.
        """
        now = anyio.current_time()
        timeout, idle = self.timeout, self.idle_timeout
        self._hard = hard = math.inf if timeout is None else now + timeout
        deadline = (
            hard if idle is None else min(hard, now + idle + min(_SLACK_MAX, idle * _SLACK_SHARE))
        )
        with anyio.CancelScope(deadline=deadline) as scope:
            self._scope = scope
            try:
                if self.retry is None:  # the common case, without one more coroutine
                    self.attempts = 1
                    value = await call.invoke_with(call.take_arguments())
                else:
                    value = await self._attempts(call)
            except BaseException as exc:
                del call  # the traceback keeps this frame, the call its exception: no cycle
                # An error raised while our deadline cancelled the call (on trio grouped with
                # the cancellation) is still a timeout; a pure cancellation is absorbed by the
                # scope and reported below.
                if (
                    scope.cancel_called
                    and not is_cancellation(exc)
                    and not isinstance(collapse(exc), KeyboardInterrupt | SystemExit)
                ):
                    raise self._which(scope) from exc
                raise
        if scope.cancel_called:  # absorbed here, or swallowed by the tool (DLN-5)
            raise self._which(scope)
        return value

    async def _attempts(self, call: GuardedCall) -> Any:
        arguments = call.take_arguments()
        retry = self.retry
        assert retry is not None
        while True:
            self.attempts += 1
            if self.attempts > 1:
                self.beat(anyio.current_time())  # a new attempt is progress (DLN-1)
            try:
                return await call.invoke_with(dict(arguments))
            except Exception as exc:
                if (
                    self.attempts >= retry.attempts
                    or call.cancel_reason is not None
                    or current_effective_deadline() == -math.inf
                    or not retry.retryable(exc)
                ):
                    del call, arguments  # the traceback keeps this frame: no cycle
                    raise
                delay = retry.delay(self.attempts)
                emit_safely(
                    self._host, CallRetried(call.call_id, self.attempts, _describe(exc), delay)
                )
            await anyio.sleep(delay)


def _describe(error: BaseException) -> str:
    text = str(error)
    name = type(error).__name__
    return f"{name}: {text}" if text else name
