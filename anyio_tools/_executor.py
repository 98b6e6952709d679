"""The tool executor: admission, one task per call, updates, cancellation, closing (SPEC
EXE-3..13, UPD-6..10, DUP-7, CAN-5..9, EVT-1..4, SC-1..8).

A `ToolExecutor` is an async context manager that owns one task group. Each admitted call runs
in a task of that group (named ``tool-call <call_id>``) whose own cancel scope lets it be
cancelled alone; one more task (``deliver <name>``) voices deferred updates. Leaving the
``async with`` closes the executor: every call still running is cancelled and waited for, and
queued updates are reported dropped.

Dispatch returns at the call's first answer: its first update, its end, or its cancellation.
The call's task sets the answer and an event; the dispatcher waits on that event. This gives
the semantics of ``task_group.start`` (SC-3, SC-4: a cancelled dispatcher cancels its
unreleased call) at the cost of one task per call, which is what keeps dispatch within twice
the cost of a bare spawn-and-await.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final, final

import anyio
import attrs
from anyio import AsyncContextManagerMixin, get_cancelled_exc_class
from anyio.lowlevel import checkpoint

from ._arguments import parse_arguments
from ._calls import Call, current_call
from ._chat import FunctionCall, FunctionCallOutput, new_call_item
from ._context import RunContext, UpdatePair
from ._deliverer import Deliverer
from ._duplicates import decide
from ._errors import ExecutorClosedError, InvalidArgumentsError, StopResponse, ToolError
from ._events import CallEnded, CallStarted, CallStatus, CallUpdated, DropReason
from ._host import ToolHost, emit_safely
from ._info import DuplicateMode
from ._loop import ANY_LOOP, Loop
from ._options import AsyncToolOptions, ToolOptions
from ._outcomes import (
    CANCELLED_OUTCOME,
    DispatchResult,
    Outcome,
    answer,
    ended_message,
    final_output,
)
from ._registry import CallRegistry, RunningCall
from ._tools import Tool
from ._values import CLOSING_TEXT

__all__ = ["ExecutorScope", "ExecutorState", "ToolExecutor"]

logger = logging.getLogger("anyio_tools.executor")

_NON_BLOCKING_KEY: Final = "non_blocking"


class ExecutorState(enum.Enum):
    """Where an executor is in its life."""

    NEW = "new"
    """Built, not entered yet: it refuses calls."""
    OPEN = "open"
    """Inside its ``async with``: it admits calls."""
    DRAINING = "draining"
    """Draining or closing: new calls are answered "closing"; running ones finish."""
    CLOSED = "closed"
    """Closed: nothing runs any more, and `ToolExecutor.execute` raises."""


class ExecutorScope(enum.StrEnum):
    """Who an executor works for, which decides why its pending replies drop on close."""

    ACTIVITY = "activity"
    """One agent's activity; it closes with the activity."""
    SESSION = "session"
    """The whole session; it survives handoffs."""


def _error_answer(call: FunctionCall, text: str) -> DispatchResult:
    output = FunctionCallOutput(call_id=call.call_id, name=call.name, output=text, is_error=True)
    return DispatchResult(call, output)


@final
class ToolExecutor(AsyncContextManagerMixin):
    """Run tool calls in owned tasks and voice their later updates.

    Enter it with ``async with`` before calling `execute`; leaving the block cancels every
    call still running, waits for them (bounded by *close_timeout*) and drops queued updates.

    Args:
        host: The framework side: where items go, when the conversation is idle, how to ask
            for a reply, where events go.
        registry: The session's running-call registry; a fresh one if not given.
        options: Templates (partial options are completed from the library defaults).
        scope: Whether the executor belongs to an activity or to the session.
        name: A label used in task names and logs.
        close_timeout: Seconds closing waits for cancelled calls and a reply in flight.

    Raises:
        ValueError: Bad options or a negative *close_timeout*.
        TypeError: A template that is neither a str nor a callable.
    """

    def __init__(
        self,
        host: ToolHost,
        *,
        registry: CallRegistry | None = None,
        options: ToolOptions | AsyncToolOptions | Mapping[str, Any] | None = None,
        scope: ExecutorScope | str = ExecutorScope.ACTIVITY,
        name: str = "tools",
        close_timeout: float = 5.0,
    ) -> None:
        if not close_timeout >= 0:
            raise ValueError(f"close_timeout must be >= 0, got {close_timeout!r}")
        self._host = host
        self._registry = registry if registry is not None else CallRegistry()
        self._options = (
            options if isinstance(options, ToolOptions) else ToolOptions.resolve(options)
        )
        self._scope = ExecutorScope(scope)
        self._name = name
        self._close_timeout = close_timeout
        closed_reason = (
            DropReason.SESSION_CLOSED
            if self._scope is ExecutorScope.SESSION
            else DropReason.ACTIVITY_CLOSED
        )
        self._deliverer = Deliverer(
            host, self._options, closed_reason=closed_reason, close_timeout=close_timeout
        )
        self._calls: dict[str, Call] = {}
        self._loop = ANY_LOOP  # the running loop's own hooks once entered
        self._all_ended: anyio.Event | None = None
        self._gate = anyio.Lock(fast_acquire=True)
        self._state = ExecutorState.NEW
        self._task_group: anyio.abc.TaskGroup | None = None
        self._deliver_task: anyio.TaskHandle[None] | None = None

    def __repr__(self) -> str:
        return f"<ToolExecutor {self._name!r} {self._state.value}, {len(self._calls)} running>"

    # -- properties -------------------------------------------------------------------------

    @property
    def state(self) -> ExecutorState:
        """Where the executor is in its life."""
        return self._state

    @property
    def scope(self) -> ExecutorScope:
        """Who the executor works for."""
        return self._scope

    @property
    def options(self) -> ToolOptions:
        """The resolved templates."""
        return self._options

    @property
    def registry(self) -> CallRegistry:
        """The session's running-call registry this executor registers its calls in."""
        return self._registry

    def running(self) -> list[RunningCall]:
        """Return snapshots of this executor's running calls, oldest first."""
        return [
            RunningCall(c.call_id, c.name, c.arguments, c.cancellable, c.non_blocking)
            for c in self._calls.values()
        ]

    @property
    def pending_updates(self) -> int:
        """How many accepted deferred updates still wait for a reply to be scheduled."""
        return self._deliverer.pending

    @property
    def accepted_updates(self) -> int:
        """How many deferred updates the executor accepted so far."""
        return self._deliverer.accepted

    async def wait_updates_settled(self, count: int) -> None:
        """Wait until the first ``count`` deferred updates got a reply scheduled or dropped.

        Cancelling the wait cancels nothing else.
        """
        await self._deliverer.wait_settled(count)

    # -- lifecycle --------------------------------------------------------------------------

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[ToolExecutor, None]:
        if self._state is not ExecutorState.NEW:
            raise RuntimeError(
                f"a ToolExecutor can be entered once; this one is {self._state.value}"
            )
        try:
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                self._loop = Loop.running()
                self._state = ExecutorState.OPEN
                self._deliverer.open()
                self._deliver_task = task_group.start_soon(
                    self._deliverer.run, name=f"deliver {self._name}"
                )
                try:
                    yield self
                finally:
                    await self.aclose()
        except BaseExceptionGroup as group:
            # Our tasks never raise, so a group of one is the body's own exception.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from group.exceptions[0].__cause__
            raise

    async def drain(self) -> None:
        """Refuse new calls, cancel the cancellable ones and wait for every call to end.

        Waiting for non-cancellable calls is not shielded: cancelling ``drain()`` stops the
        wait (close the executor next). Queued updates keep their chance of a reply.
        """
        if self._state is ExecutorState.OPEN:
            self._state = ExecutorState.DRAINING
        for call in list(self._calls.values()):
            if call.cancellable:
                call.request_cancel("the executor is draining")
        await self._wait_all_ended()

    async def cancel_all(self, *, cancellable_only: bool = False) -> None:
        """Cancel running calls and wait until every call ended.

        Args:
            cancellable_only: Cancel only the cancellable calls and wait for the others to
                end on their own.
        """
        for call in list(self._calls.values()):
            if call.cancellable or not cancellable_only:
                call.request_cancel("cancel_all")
        await self._wait_all_ended()

    async def aclose(self) -> None:
        """Close: cancel every call, drop queued updates, stop the delivery task.

        Waiting is shielded and bounded by *close_timeout*; a call that ignores cancellation
        longer is logged and then awaited by the task group. Idempotent.
        """
        if self._state is ExecutorState.CLOSED or self._task_group is None:
            self._state = ExecutorState.CLOSED
            await checkpoint()
            return
        self._state = ExecutorState.DRAINING
        with anyio.move_on_after(self._close_timeout, shield=True) as scope:
            for call in list(self._calls.values()):
                call.request_cancel("the executor is closing")
            await self._wait_all_ended()
        if scope.cancelled_caught:
            logger.warning(
                "executor %s: calls %s ignored cancellation for %ss",
                self._name,
                ", ".join(self._calls),
                self._close_timeout,
            )
        self._deliverer.close()
        if self._deliver_task is not None:
            self._deliver_task.cancel()
            with anyio.CancelScope(shield=True):
                await self._deliver_task.wait()
        self._state = ExecutorState.CLOSED

    async def _wait_all_ended(self) -> None:
        # One event for "no call left" instead of one wait per call: draining thousands of
        # calls costs one wake-up, not thousands.
        if not self._calls:
            await checkpoint()
            return
        if self._all_ended is None:
            self._all_ended = anyio.Event()
        await self._all_ended.wait()

    # -- dispatch ---------------------------------------------------------------------------

    async def execute(
        self, tool: Tool, ctx: RunContext[Any], raw_arguments: str | None = None
    ) -> DispatchResult:
        """Run one call and return its first answer.

        Returns when the tool makes its first ``ctx.update()`` (the call goes on in the
        background), or ends, whichever comes first. Invalid arguments, duplicates refused by
        the tool's policy and calls arriving while the executor closes are answered without
        running anything. Cancelling ``execute()`` before the answer cancels the call too.

        Args:
            tool: The tool to run.
            ctx: A fresh context for the call (its ``function_call`` names the call).
            raw_arguments: The LLM's arguments text; by default the call item's.

        Returns:
            The answer and the call item to record.

        Raises:
            ExecutorClosedError: The executor was never entered, or is closed.
        """
        state = self._state
        if state is not ExecutorState.OPEN:
            if state is ExecutorState.NEW:
                raise ExecutorClosedError(
                    "cannot execute on a ToolExecutor that was not entered; "
                    "use it inside 'async with'"
                )
            if state is ExecutorState.CLOSED:
                raise ExecutorClosedError(
                    f"cannot execute on ToolExecutor {self._name!r}: it is closed (its "
                    "'async with' block has exited); calls arriving while it drains are "
                    "answered instead"
                )
        item = ctx.function_call
        text = item.arguments if raw_arguments is None else raw_arguments
        try:
            parsed = parse_arguments(tool.name, text)
        except InvalidArgumentsError as exc:
            await checkpoint()
            return DispatchResult(item, FunctionCallOutput.from_exception(item, exc))
        if parsed.text != item.arguments:
            item = attrs.evolve(item, arguments=parsed.text)
        prepared = tool.prepare(parsed.value)
        if tool.info.on_duplicate is DuplicateMode.ALLOW:
            result = self._admit(tool, ctx, item, prepared.arguments, prepared.error, prepared.key)
        else:
            async with self._gate:  # DUP-7: FIFO, held through a replacement's wait
                matching = [c for c in self._calls.values() if c.key == prepared.key]
                decision = decide(
                    item, tool.info, matching, self._options, confirm=prepared.confirm
                )
                if decision.answer is not None:
                    result = DispatchResult(item, decision.answer)
                else:
                    for old in decision.replace:
                        old.request_cancel("replaced by a duplicate call")
                    for old in decision.replace:
                        await old.wait_ended()
                    result = self._admit(
                        tool, ctx, item, prepared.arguments, prepared.error, prepared.key
                    )
        if isinstance(result, DispatchResult):
            await checkpoint()
            return result
        released = result.released
        assert released is not None
        try:
            await released.wait()
        except get_cancelled_exc_class():
            if not result.answered:
                # EXE-13: the unreleased call was this dispatcher's work.
                result.request_cancel("its dispatcher was cancelled")
                with anyio.move_on_after(self._close_timeout, shield=True):
                    await result.wait_ended()
            raise
        # Forget the event and the answer while the call runs on in the background.
        answer, result.answer, result.released = result.answer, None, None
        assert answer is not None
        return answer

    def _admit(
        self,
        tool: Tool,
        ctx: RunContext[Any],
        item: FunctionCall,
        arguments: dict[str, Any] | None,
        error: InvalidArgumentsError | None,
        key: tuple[str, str | None],
    ) -> Call | DispatchResult:
        # EXE-5 (c)-(e): one synchronous step.
        if self._state is not ExecutorState.OPEN or self._task_group is None:
            return _error_answer(item, CLOSING_TEXT)
        if item.call_id in self._registry:
            return _error_answer(item, f"a call with id `{item.call_id}` is already running")
        call = Call(self, tool, ctx, item, arguments, key, self._loop)
        if error is not None:
            call.arguments_value = None
        self._registry.add(call)
        self._calls[item.call_id] = call
        ctx.bind(call, function_call=item)
        emit_safely(self._host, CallStarted(item))
        call.handle = self._task_group.start_soon(
            self._run, call, error, name=f"tool-call {item.call_id}"
        )
        return call

    async def _run(self, call: Call, error: InvalidArgumentsError | None) -> None:
        outcome = CANCELLED_OUTCOME
        current_call.set(call)
        try:
            if error is not None:
                raise error
            value = await call.invoke()
            if call.cancel_reason is None:
                outcome = Outcome.of_value(value)
        except get_cancelled_exc_class():
            raise
        except Exception as exc:
            if call.cancel_reason is None:
                outcome = Outcome.of_error(exc)
                if not isinstance(exc, ToolError | StopResponse):
                    logger.error("tool %s (call %s) raised", call.name, call.call_id, exc_info=exc)
        finally:
            self._finish(call, outcome)

    def _finish(self, call: Call, outcome: Outcome) -> None:
        # Sync, in the call's finally (SC-8): answer or final entry, registries, end event.
        item = call.call
        if not call.answered:
            call.release(answer(item, outcome, created_at=self._loop.clock()))
        elif outcome.status is not CallStatus.CANCELLED:  # a cancelled call has no final entry
            # INV-6: the call item is created first (a lower sequence number at the same clock
            # reading), so it sorts before its output.
            now = self._loop.clock()
            final_item = new_call_item(
                f"{item.call_id}_final", item.name, item.arguments, dict(item.extra), now
            )
            final = final_output(item, outcome, created_at=now)
            if final is not None:
                try:
                    self._deliverer.enqueue(final_item, final)
                except Exception:
                    logger.exception("could not deliver the result of call %s", item.call_id)
        self._registry.discard(item.call_id)
        self._calls.pop(item.call_id, None)
        if not self._calls and self._all_ended is not None:
            self._all_ended.set()
            self._all_ended = None
        status, message = ended_message(outcome, updated=call.updated)
        ended_id = f"{item.call_id}_final" if call.updated else item.call_id
        emit_safely(self._host, CallEnded(ended_id, item.call_id, status, message))
        call.ctx.detach()

    # -- CallOwner --------------------------------------------------------------------------

    def on_update(self, call: Call, entry_id: str, message: str, pair: UpdatePair) -> None:
        """Take an update of a running call: release it (first) or deliver it (later)."""
        emit_safely(self._host, CallUpdated(entry_id, call.call_id, message))
        if not call.updated:
            call.updated = True
            if not call.answered:
                call.call.extra[_NON_BLOCKING_KEY] = True
                call.release(DispatchResult(call.call, pair[1], non_blocking=True))
                return
        self._deliverer.enqueue(*pair)

    async def cancel_call(self, call: Call, reason: str) -> bool:
        """Cancel one of this executor's calls and wait for its end (no permission check)."""
        if self._calls.get(call.call_id) is not call:
            await checkpoint()
            return False
        call.request_cancel(reason)
        await call.wait_ended()
        return True

    async def cancel(self, call_id: str) -> bool:
        """Cancel a running call of this executor and wait until its end was reported.

        Returns:
            True once the call ended cancelled; False if no such call runs here.

        Raises:
            ToolError: The call is not cancellable, or its turn disallows interruptions.
        """
        await checkpoint()
        call = self._calls.get(call_id)
        if call is None:
            return False
        self._registry.check_cancellable(call_id)
        return await self.cancel_call(call, "cancelled on request")
