"""One admitted call: the handle its caller holds and the record its executor keeps (SPEC
CON-7, CTX-9, CAN-1, EXE-6, EXE-13; issue #11; the ledger, cancellation causes and commit
points of issue #15: LED-1, CAN-10..12; issue #16: heartbeats, attempts, timeouts).

- **CAN-10 Causes.** Every cancel request carries a `CancelReason`; the first request that
  took effect is the call's cause, on `CallHandle.cancel_cause`, `CallEnded.cancel_cause` and
  `CallResult.cancel_cause`.
- **CAN-11 Commit point.** After ``await ctx.commit()`` a cancel request does not cancel the
  call, except the closing of its executor (``shutdown``, nothing outlives its owner): it
  answers `CancelAnswer.COMMITTED` and the call goes on to its end. A drain therefore waits for
  a committed call, and ``replace`` waits for it before admitting the new call. A deadline
  (issue #16) is not a request: a committed call that outlives its own ``timeout`` or
  ``idle_timeout`` still ends ``cancelled`` with cause ``timeout``, so a hung commit cannot
  stall its conversation.
- **CAN-12 Honest answers.** `CallHandle.cancel` returns what the request achieved:
  ``cancelled``, ``too late: already committed, will finish``, or ``unknown`` once the call had
  ended otherwise.

A `CallHandle` is the one object a call is. The executor that admitted it does the work (runs
the tool, turns its end into an outcome, delivers its updates); the handle keeps the call's
state and lets its caller wait for the first answer, follow every update, await the final
result, or cancel it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Protocol, final

import anyio

from ._chat import Clock, FunctionCall
from ._context import RunContext, UpdatePair
from ._deadlines import CallGuard, Deadline
from ._events import CallStatus, CallUpdated, CancelAnswer, CancelReason
from ._host import TurnHandle
from ._ledger import CallLedger, Delivery
from ._loop import Loop
from ._options import ToolOptions
from ._outcomes import CallResult, DispatchResult, Outcome
from ._outcomes import answer as answer_of
from ._tools import Tool

__all__ = ["Call", "CallHandle", "CallOwner", "CallTask", "current_call"]

logger = logging.getLogger("anyio_tools.executor")


class CallOwner(Protocol):
    """What a call needs from the executor that admitted it."""

    @property
    def options(self) -> ToolOptions:
        """The executor's templates."""
        ...

    def on_update(self, call: CallHandle, entry_id: str, message: str, pair: UpdatePair) -> None:
        """Take an update the call's tool made."""
        ...

    async def wait_updates_settled(self, count: int) -> None:
        """Wait until the first ``count`` deferred updates were scheduled or dropped."""
        ...

    @property
    def accepted_updates(self) -> int:
        """How many deferred updates were accepted so far."""
        ...

    async def cancel_call(
        self, call: CallHandle, reason: str, cause: CancelReason = CancelReason.HOST
    ) -> CancelAnswer:
        """Cancel the call and wait for its end, unless it had ended or committed."""
        ...


class CallTask(Protocol):
    """Where a call's body runs: a task of its executor (an ``anyio.TaskHandle``), or the task
    of a caller that waits for its end (``ToolExecutor.call``)."""

    def cancel(self) -> None:
        """Cancel the call's body (no effect once it finished)."""
        ...

    async def wait(self) -> None:
        """Wait until the call's body finished (its end was settled)."""
        ...


@final
class CallHandle:
    """One tool call admitted by a `ToolExecutor`, from its start to its end.

    ``ToolExecutor.start()`` returns it. The call runs in a task of the executor; the handle
    lets its holder wait for the call's first answer (`answer`), follow its progress updates
    (`updates`), wait for its final result (`result`) and cancel it (`cancel`).
    """

    __slots__ = (
        "__weakref__",
        "_ended_at",
        "_ledger",
        "_owner",
        "_update_messages",
        "_update_wakeup",
        "answer_value",
        "answered",
        "arguments_value",
        "call",
        "cancel_reason",
        "cancellable",
        "cause",
        "checkpoint",
        "clock",
        "committed",
        "ctx",
        "grouped",
        "guard",
        "in_caller_task",
        "key",
        "options",
        "outcome",
        "released",
        "task",
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
        options: ToolOptions,
    ) -> None:
        self._owner = owner
        self.clock: Clock = loop.clock
        self.checkpoint: Callable[[], Awaitable[None]] = loop.checkpoint
        self.options = options
        self.tool = tool
        self.ctx = ctx
        self.call = call
        self.arguments_value = arguments_value
        self.key = key
        self.cancellable = tool.info.cancellable
        # Made by the first waiter of an unanswered call only, dropped once set: most calls
        # answer in their task's first step, before anyone waits (issue #19).
        self.released: anyio.Event | None = None
        self.answer_value: DispatchResult | None = None
        self.answered = False
        self.task: CallTask | None = None
        self.grouped = False  # runs in its executor's group of cancellable calls (DRN-1)
        self.in_caller_task = False  # runs in the task that called `ToolExecutor.call` (CALL-1)
        self._ended_at = 0.0  # when a caller's-task call ended unanswered (`release_end`)
        self.updated = False
        self.cancel_reason: str | None = None
        self.cause: CancelReason | None = None  # CAN-10
        self.committed = False  # CAN-11
        self._ledger: CallLedger | None = None  # LED-1; made by the first owed item
        self.outcome: Outcome | None = None  # set once, when the call ends
        self._update_messages: list[str] | None = None  # raw messages, for updates()
        self._update_wakeup: anyio.Event | None = None
        self.guard: CallGuard | None = None  # deadlines and retries, if any (DLN-7)

    def __repr__(self) -> str:
        return f"<CallHandle {self.call.name} call_id={self.call.call_id!r} {self.status.value}>"

    # -- public -----------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The call's id."""
        return self.call.call_id

    @property
    def call_id(self) -> str:
        """The call's id (the same as `id`)."""
        return self.call.call_id

    @property
    def name(self) -> str:
        """The tool's name."""
        return self.call.name

    @property
    def arguments(self) -> str:
        """The arguments as JSON text (repaired when the LLM's text was not valid JSON)."""
        return self.call.arguments

    @property
    def status(self) -> CallStatus:
        """``running`` until the call ends, then ``done``, ``error`` or ``cancelled``."""
        outcome = self.outcome
        return CallStatus.RUNNING if outcome is None else outcome.status

    @property
    def non_blocking(self) -> bool:
        """Whether the call answered with a progress update and went on in the background."""
        return self.updated

    @property
    def attempts(self) -> int:
        """How many attempts the call started so far (more than 1 only after retries)."""
        guard = self.guard
        return 1 if guard is None else max(guard.attempts, 1)

    @property
    def timed_out(self) -> Deadline | None:
        """Which deadline ended the call, if one did (``timeout`` or ``idle_timeout``)."""
        guard = self.guard
        return None if guard is None else guard.passed

    @property
    def turn(self) -> TurnHandle | None:
        """The turn that made the call, if its context has one."""
        return self.ctx.turn

    @property
    def cancel_cause(self) -> CancelReason | None:
        """Why the call was cancelled (or is being cancelled); None if nobody cancelled it."""
        return self.cause

    @property
    def is_committed(self) -> bool:
        """Whether the tool passed its point of no return (``ctx.commit()``)."""
        return self.committed

    @property
    def ledger(self) -> CallLedger:
        """The call's delivery ledger (LED-1), made when first needed: most calls owe nothing."""
        ledger = self._ledger
        if ledger is None:
            ledger = self._ledger = CallLedger()
            outcome = self.outcome
            ledger.cancelled = outcome is not None and outcome.status is CallStatus.CANCELLED
        return ledger

    def deliveries(self) -> tuple[Delivery, ...]:
        """Return where each item the call owes the conversation stands (its ledger).

        One entry per update after the first and per final result voiced by a deferred
        reply, in update order; ``outcome`` is None while the item is still owed.
        """
        ledger = self._ledger
        return () if ledger is None else ledger.snapshot()

    async def answer(self) -> DispatchResult:
        """Wait for the call's first answer: its first update, or its end.

        Blocks until the tool calls ``ctx.update()`` for the first time or ends (returns,
        raises or is cancelled). Cancelling the wait cancels nothing else.

        Returns:
            What the LLM sees for the call now, and the call item to record.
        """
        if self.answered:
            await self.checkpoint()
        else:
            await self.wait_answered()
        return self._answer_now()

    def _answer_now(self) -> DispatchResult:
        """Return the first answer of a call that gave it (`answered`)."""
        answer = self.answer_value
        if answer is None:  # ended in its caller's task, nobody waiting: built now
            outcome = self.outcome
            assert outcome is not None, "the call answered"  # release_end, then end
            answer = self.answer_value = answer_of(self.call, outcome, created_at=self._ended_at)
        return answer

    async def wait_answered(self) -> None:
        """Wait until the call gave its first answer (no checkpoint if it did already)."""
        if not self.answered:
            released = self.released
            if released is None:
                released = self.released = anyio.Event()
            await released.wait()

    async def updates(self) -> AsyncIterator[CallUpdated]:
        """Iterate over every update of the call, in order, ending when the call ends.

        Updates made before the iteration started come first. Each step is a checkpoint;
        cancelling the iteration cancels nothing else.

        Yields:
            One `CallUpdated` per ``ctx.update()`` of the tool (its entry id and message).
        """
        index = 0
        call_id = self.call.call_id
        while True:
            messages = self._update_messages
            if messages is not None and index < len(messages):
                await self.checkpoint()
                entry_id = call_id if index == 0 else f"{call_id}_update_{index}"
                index += 1
                yield CallUpdated(entry_id, call_id, messages[index - 1])
                continue
            if self.outcome is not None:
                await self.checkpoint()
                return
            if self._update_wakeup is None:
                self._update_wakeup = anyio.Event()
            await self._update_wakeup.wait()

    async def result(self) -> CallResult:
        """Wait until the call ended and return how.

        Cancelling the wait cancels nothing else (use `cancel` for that).

        Returns:
            The status, the value or the exception, the text the LLM sees for the end, and
            the cancellation's reason.
        """
        task = self.task
        assert task is not None  # a call's task is started at admission
        await task.wait()
        outcome = self.outcome
        assert outcome is not None  # set in the task's finally
        return outcome.result(self.call.call_id, self.cause)

    def cancel(
        self, reason: str = "cancelled by its caller", *, cause: CancelReason | str = "host"
    ) -> CancelAnswer:
        """Cancel the call; does not wait (see `result`).

        This cancels any call, including one whose tool is not flagged cancellable: it is
        meant for the program that started the call. The LLM's cancel tool still refuses
        those. A call past its commit point is not cancelled: it goes on to its end.

        Args:
            reason: Why, as `CallResult.reason` reports it.
            cause: Why, as a `CancelReason` (``host`` by default).

        Returns:
            ``cancelled``; ``too late: already committed, will finish``; or ``unknown`` if
            the call had already ended (``cancelled`` if it ended cancelled).

        Raises:
            ValueError: *cause* is not a `CancelReason`.
        """
        return self.request_cancel(reason, CancelReason(cause))

    # -- RegisteredCall ---------------------------------------------------------------------

    async def cancel_and_wait(self) -> CancelAnswer:
        """Cancel the call on the LLM's request and wait for its end (unless committed)."""
        return await self._owner.cancel_call(self, "cancelled on request", CancelReason.LLM)

    # -- CallBinding ------------------------------------------------------------------------

    def on_update(self, entry_id: str, message: str, pair: UpdatePair) -> None:
        """Forward an update of the call's tool to the executor (an update is a heartbeat)."""
        guard = self.guard
        if guard is not None:
            guard.beat(pair[1].created_at)  # the update's own clock reading
        self._owner.on_update(self, entry_id, message, pair)

    def heartbeat(self) -> None:
        """Move the call's idle deadline forward, if it has one (DLN-1)."""
        guard = self.guard
        if guard is not None:
            guard.beat(self.clock())

    async def wait_settled(self) -> None:
        """Wait until the executor's updates accepted so far got a reply or were dropped."""
        owner = self._owner
        await owner.wait_updates_settled(owner.accepted_updates)

    # -- executor side ----------------------------------------------------------------------

    def record_update(self, message: str) -> None:
        """Keep an update's message for `updates` and wake its iterators."""
        if self._update_messages is None:
            self._update_messages = [message]
        else:
            self._update_messages.append(message)
        if self._update_wakeup is not None:  # _wake_iterators() only when one waits
            self._wake_iterators()

    def _wake_iterators(self) -> None:
        wakeup = self._update_wakeup
        if wakeup is not None:
            self._update_wakeup = None
            wakeup.set()

    def release(self, answer: DispatchResult) -> None:
        """Give the call's first answer (only the first one counts)."""
        if not self.answered:
            self.answered = True
            self.answer_value = answer
            released, self.released = self.released, None  # waiters hold their own reference
            if released is not None:
                released.set()

    def release_end(self, outcome: Outcome, created_at: float) -> None:
        """Give the first answer of a caller's-task call that ended before any update.

        CALL-1: its caller gets the result, not this answer, so the answer item is built
        only when someone asks for it (`answer`, a joining call), as of *created_at*; built
        at once if someone waits for it already.
        """
        if self.released is not None:
            self.release(answer_of(self.call, outcome, created_at=created_at))
        elif not self.answered:
            self.answered = True
            self._ended_at = created_at

    def end(self, outcome: Outcome) -> None:
        """Record how the call ended (once) and wake whoever iterates its updates."""
        self.outcome = outcome
        if outcome.status is CallStatus.CANCELLED:
            if self._ledger is not None:  # LED-4: what was not heard is not voiced again
                self._ledger.cancelled = True
            if self.cause is None:
                # A deadline (issue #16) says so on its outcome; otherwise an enclosing scope
                # was cancelled: the host's doing.
                timed_out = outcome.reason == CancelReason.TIMEOUT
                self.cause = CancelReason.TIMEOUT if timed_out else CancelReason.HOST
        self._wake_iterators()

    def request_cancel(self, reason: str, cause: CancelReason = CancelReason.HOST) -> CancelAnswer:
        """Cancel the call's task unless it ended or committed (CAN-10, CAN-11)."""
        answer = self.note_cancel(reason, cause)
        if answer is CancelAnswer.CANCELLED and self.outcome is None:
            self.cancel_task()
        return answer

    def note_cancel(self, reason: str, cause: CancelReason = CancelReason.HOST) -> CancelAnswer:
        """Record a cancel request unless the call ended or committed, without cancelling.

        What `request_cancel` answers; the caller cancels the call's task (`cancel_task`) or
        a scope around it (a drain cancels its executor's group of cancellable calls, DRN-1).
        """
        outcome = self.outcome
        if outcome is not None:
            if outcome.status is CallStatus.CANCELLED:
                return CancelAnswer.CANCELLED
            return CancelAnswer.UNKNOWN
        if self.committed and cause is not CancelReason.SHUTDOWN and self.cause is None:
            return CancelAnswer.COMMITTED
        if self.cancel_reason is None:
            self.cancel_reason = reason
            self.cause = cause
        if logger.isEnabledFor(logging.DEBUG):  # a drain asks for thousands (issue #19)
            logger.debug("call %s: cancellation requested (%s)", self.call.call_id, reason)
        return CancelAnswer.CANCELLED

    def cancel_task(self) -> None:
        """Cancel the call's own task (after `note_cancel`)."""
        if self.task is not None:
            self.task.cancel()

    def commit(self) -> bool:
        """Mark the point of no return; False if a cancellation was already requested."""
        if self.cause is not None or self.outcome is not None:
            return False
        self.committed = True
        return True

    def invoke(self) -> Awaitable[Any]:
        """Start the tool's function on the validated arguments (the call forgets them)."""
        arguments, self.arguments_value = self.arguments_value, None
        return self.tool.invoke(self.ctx, arguments or {})

    def take_arguments(self) -> dict[str, Any]:
        """Hand over the validated arguments (the call forgets them)."""
        arguments, self.arguments_value = self.arguments_value, None
        return arguments or {}

    def invoke_with(self, arguments: dict[str, Any]) -> Awaitable[Any]:
        """Start one attempt of the tool's function on *arguments*."""
        return self.tool.invoke(self.ctx, arguments)

    async def wait_ended(self) -> None:
        """Wait until the call's task finished (its end event was emitted)."""
        task = self.task
        assert task is not None, "a call's task is started at admission"
        await task.wait()


Call = CallHandle
"""The executor's name for a `CallHandle`."""

current_call: ContextVar[CallHandle | None] = ContextVar("anyio_tools_current_call", default=None)
"""The call whose tool body the current code runs in, if any (CTX-9)."""
