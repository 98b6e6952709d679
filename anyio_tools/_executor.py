"""The tool executor: admission, one task per call, updates, cancellation, closing (SPEC
EXE-3..13, UPD-6..10, DUP-7, CAN-5..9, EVT-1..4, SC-1..8; issue #16: DLN-3, DLN-4, JOIN-1..4).

A `ToolExecutor` is an async context manager that owns one task group. Each admitted call runs
in a task (named ``tool-call <call_id>``) whose own cancel scope lets it be cancelled alone;
one more task (``deliver <name>``) voices deferred updates. Leaving the ``async with`` closes
the executor: every call still running is cancelled and waited for, and queued updates are
reported dropped.

- **DRN-1 One cancel per drain (issue #19).** The calls of cancellable tools run in a task
  group of their own, opened by the first of them in a task of the executor's group
  (``cancellable calls <name>``); the others run in the executor's group. A drain (and
  `cancel_all`, and closing) records the cause on every call it cancels (CAN-10), then
  cancels that group's scope once instead of each call's scope: one cancellation for N calls,
  as bare anyio cancels a task group. Non-cancellable calls are not in it, so a drain never
  reaches them (INV-18). A request that spares a call of the group (a committed one, CAN-11)
  cancels the others one by one instead, and calls that run elsewhere (not in a task of the
  executor) are always cancelled one by one. A single cancel (`CallHandle.cancel`, the cancel
  tool, ``replace``, a cancelled dispatcher) still cancels that call's own scope only. This
  refines SC-2 ("drain and close are loops over scopes, not group-wide cancels"): the reason
  given there, that non-cancellable calls must survive drain, holds because they are not in
  the group.

Dispatch returns at the call's first answer: its first update, its end, or its cancellation.
The dispatcher starts the call's task and yields once, so that the task takes its first step;
a call answered in it (it returned, raised or updated before it first waited) is answered
then, with no event. Otherwise the dispatcher waits on an event the call's answer sets (made
by that first waiter). This gives the semantics of ``task_group.start`` (SC-3, SC-4: a
cancelled dispatcher cancels its unreleased call) at the cost of one task per call.

``call()`` admits a call the same way and runs it in its caller's task instead, for callers
that wait for the end anyway (issue #14; CALL-1..4 in ``_caller.py``).
"""

from __future__ import annotations

import contextvars
import enum
import logging
import math
from collections.abc import AsyncGenerator, Callable, Collection, Container, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final, final

import anyio
import attrs
from anyio import AsyncContextManagerMixin, get_cancelled_exc_class
from anyio.lowlevel import checkpoint

from ._arguments import argument_object, parse_arguments
from ._caller import CallerTask, UpdateCallback, follow_joined
from ._calls import CallHandle
from ._chat import FunctionCall, FunctionCallOutput
from ._context import RunContext, UpdatePair
from ._deadlines import CallGuard
from ._deliverer import Deliverer
from ._duplicates import Decision, decide, joined_answer
from ._errors import CallRefusedError, ExecutorClosedError, InvalidArgumentsError
from ._events import (
    CallStarted,
    CallUpdated,
    CancelAnswer,
    CancelReason,
    DropReason,
)
from ._groups import collapse_groups
from ._host import ToolHost, emit_safely
from ._info import DuplicateMode, ToolInfo
from ._instrument import Instrumentation, ObservedHost, call_safely, default_instrumentation
from ._loop import ANY_LOOP, Loop
from ._nohost import NoConversation
from ._options import AsyncToolOptions, ToolOptions, check_seconds
from ._outcomes import CallResult, DispatchResult, Outcome
from ._registry import CallRegistry, RunningCall
from ._runner import CallRunner
from ._tools import PreparedArguments, Tool
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


_Limits = tuple[float | None, float | None]  # a call's own (timeout, idle_timeout)


class _Joined(Exception):
    """Admission decided that *item* joins the running *call* (JOIN-1)."""

    def __init__(self, item: FunctionCall, call: CallHandle) -> None:
        super().__init__(item.call_id)
        self.item = item
        self.call = call


def _first(*values: float | None) -> float | None:
    # DLN-3: the most specific level that sets a value wins; math.inf there means "none".
    for value in values:
        if value is not None:
            return None if value == math.inf else value
    return None


def _limits(timeout: float | None, idle_timeout: float | None) -> _Limits | None:
    if timeout is None and idle_timeout is None:
        return None
    return check_seconds("timeout", timeout), check_seconds("idle_timeout", idle_timeout)


def _error_answer(call: FunctionCall, text: str) -> DispatchResult:
    output = FunctionCallOutput(call_id=call.call_id, name=call.name, output=text, is_error=True)
    return DispatchResult(call, output)


def _kind(decision: Decision[CallHandle]) -> str:
    if decision.answer is not None:
        return "refused"
    return "replaced" if decision.replace else "admitted"


@final
class ToolExecutor(CallRunner, AsyncContextManagerMixin):
    """Run tool calls in owned tasks and voice their later updates.

    Enter it with ``async with`` before calling `start` or `execute`; leaving the block
    cancels every call still running, waits for them (bounded by *close_timeout*) and drops
    queued updates.

    Without a *host*, the executor runs calls without a conversation: `start` returns a
    `CallHandle` whose updates and result its caller follows; nothing is written to a chat,
    no reply is voiced and no event is emitted.

    Args:
        host: The framework side: where items go, when the conversation is idle, how to ask
            for a reply, where events go. None: no conversation.
        registry: The session's running-call registry; a fresh one if not given.
        options: Templates (partial options are completed from the library defaults).
        scope: Whether the executor belongs to an activity or to the session.
        name: A label used in task names and logs.
        close_timeout: Seconds closing waits for cancelled calls and a reply in flight.
        max_redeliveries: How many more deferred replies may carry an update after a reply
            that carried it was interrupted; then it is dropped (``retries_exhausted``).
        instrumentation: What observes calls and replies (`anyio_tools.otel.OpenTelemetry`);
            by default the one `anyio_tools.otel.instrument` installed, if any.

    Raises:
        ValueError: Bad options, a negative *close_timeout* or *max_redeliveries*.
        TypeError: A template that is neither a str nor a callable.
    """

    def __init__(
        self,
        host: ToolHost | None = None,
        *,
        registry: CallRegistry | None = None,
        options: ToolOptions | AsyncToolOptions | Mapping[str, Any] | None = None,
        scope: ExecutorScope | str = ExecutorScope.ACTIVITY,
        name: str = "tools",
        close_timeout: float = 5.0,
        max_redeliveries: int = 2,
        instrumentation: Instrumentation | None = None,
    ) -> None:
        if not close_timeout >= 0:
            raise ValueError(f"close_timeout must be >= 0, got {close_timeout!r}")
        if isinstance(max_redeliveries, bool) or not isinstance(max_redeliveries, int):
            raise TypeError(f"max_redeliveries must be an int, got {max_redeliveries!r}")
        if max_redeliveries < 0:
            raise ValueError(f"max_redeliveries must be >= 0, got {max_redeliveries}")
        self._host: ToolHost = NoConversation() if host is None else host
        self._emits = host is not None  # without a host no event is built (nobody listens)
        self._instrument = (  # issue #17
            default_instrumentation() if instrumentation is None else instrumentation
        )
        self._registry = registry if registry is not None else CallRegistry()
        self._options = (
            options if isinstance(options, ToolOptions) else ToolOptions.resolve(options)
        )
        self._scope = ExecutorScope(scope)
        # DLN-7: without deadlines anywhere a call gets no guard (checked once per call).
        self._unguarded = self._options.timeout is None and self._options.idle_timeout is None
        self._name = name
        self._close_timeout = close_timeout
        closed_reason = (
            DropReason.SESSION_CLOSED
            if self._scope is ExecutorScope.SESSION
            else DropReason.ACTIVITY_CLOSED
        )
        self._deliverer = (
            None
            if host is None
            else Deliverer(
                host if self._instrument is None else ObservedHost(host, self._instrument),
                self._options,
                closed_reason=closed_reason,
                close_timeout=close_timeout,
                max_redeliveries=max_redeliveries,
            )
        )
        self._calls: dict[str, CallHandle] = {}
        # Running calls of tools with a duplicate policy, by key, oldest first (DUP-1): an
        # admission looks up its key instead of scanning every running call.
        self._by_key: dict[tuple[str, str | None], dict[str, CallHandle]] = {}
        self._loop = ANY_LOOP  # the running loop's own hooks once entered
        self._all_ended: anyio.Event | None = None
        # Issue #19 item 2: the backend's cancellation class, looked up once when entered (a
        # drained call's end compares against it instead of asking anyio per call).
        self._cancelled_exc: type[BaseException] | None = None
        self._cancelled_outcome: Outcome | None = None  # the last one `_judge` made, shared
        self._gate: anyio.Lock | None = None  # made by the first duplicate check (DUP-7)
        self._state = ExecutorState.NEW
        self._task_group: anyio.abc.TaskGroup | None = None
        self._deliver_task: anyio.TaskHandle[None] | None = None
        # DRN-1: the group the cancellable calls run in, opened by the first one; set while
        # it is being opened by the task that opens it.
        self._cancellable: anyio.abc.TaskGroup | None = None
        self._opening: anyio.Event | None = None

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

    def calls(self) -> list[CallHandle]:
        """Return the handles of this executor's running calls, oldest first."""
        return list(self._calls.values())

    @property
    def pending_updates(self) -> int:
        """How many accepted deferred updates still wait for a reply to be scheduled."""
        return 0 if self._deliverer is None else self._deliverer.pending

    @property
    def accepted_updates(self) -> int:
        """How many deferred updates the executor accepted so far."""
        return 0 if self._deliverer is None else self._deliverer.accepted

    async def wait_updates_settled(self, count: int) -> None:
        """Wait until the first ``count`` deferred updates got a reply scheduled, were covered
        by a turn (LED-3) or were dropped.

        Cancelling the wait cancels nothing else.
        """
        if self._deliverer is None:
            await checkpoint()
            return
        await self._deliverer.wait_settled(count)

    def queued_updates_in(self, chat_ctx: Container[str]) -> list[str]:
        """Return the entry ids of the updates still waiting for a deferred reply whose
        items are in ``chat_ctx`` (a `ChatContext`, or any container of item ids).

        A host calls it with the chat context of an LLM request it is about to send, and
        passes the ids to `mark_covered` if that turn then completes heard (LED-7). Costs
        nothing when no update waits. Does not block.
        """
        return [] if self._deliverer is None else self._deliverer.queued_in(chat_ctx)

    def mark_covered(self, entry_ids: Collection[str]) -> None:
        """Tell the executor that a completed turn's LLM request contained these updates.

        A host calls it when a normal turn that saw queued updates completed heard: they
        need no deferred reply and end ``covered`` in the ledger (LED-3, LED-7). Ids that are
        not queued (already voiced, unknown) are ignored. Does not block.
        """
        if self._deliverer is not None:
            self._deliverer.mark_covered(entry_ids)

    # -- lifecycle --------------------------------------------------------------------------

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[ToolExecutor, None]:
        if self._state is not ExecutorState.NEW:
            raise RuntimeError(
                f"a ToolExecutor can be entered once; this one is {self._state.value}"
            )
        # Our tasks never raise (but KeyboardInterrupt and SystemExit), so what a group
        # carries is the body's own exception.
        with collapse_groups():
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                self._loop = Loop.running()
                self._cancelled_exc = get_cancelled_exc_class()
                self._state = ExecutorState.OPEN
                if self._deliverer is not None:
                    # Issue #19 item 5: the deliver task starts at the first deferred update,
                    # in the context the executor was entered in (as if started now).
                    self._deliverer.open(self._spawner(contextvars.copy_context()))
                try:
                    yield self
                finally:
                    await self._close()

    def _spawner(self, context: contextvars.Context) -> Callable[[], None]:
        def spawn() -> None:
            if self._deliverer is not None and self._task_group is not None:
                self._deliver_task = self._task_group.create_task(
                    self._deliverer.run(), name=f"deliver {self._name}", context=context
                )

        return spawn

    async def drain(self) -> None:
        """Refuse new calls, cancel the cancellable ones and wait for every call to end.

        Waiting for non-cancellable calls is not shielded: cancelling ``drain()`` stops the
        wait (close the executor next). Queued updates keep their chance of a reply.
        """
        if self._state is ExecutorState.OPEN:
            self._state = ExecutorState.DRAINING
        self._cancel_calls("the executor is draining", CancelReason.HANDOFF, cancellable_only=True)
        await self._wait_all_ended()

    async def cancel_all(self, *, cancellable_only: bool = False) -> None:
        """Cancel running calls and wait until every call ended.

        Args:
            cancellable_only: Cancel only the cancellable calls and wait for the others to
                end on their own.
        """
        self._cancel_calls("cancel_all", CancelReason.HOST, cancellable_only=cancellable_only)
        await self._wait_all_ended()

    async def aclose(self) -> None:
        """Close: cancel every call, drop queued updates, stop the delivery task.

        Waiting is shielded and bounded by *close_timeout*; a call that ignores cancellation
        longer is logged and then awaited by the task group. Idempotent. A checkpoint: a
        pending cancellation is noticed after the executor closed.
        """
        await self._close()
        await checkpoint()

    async def _close(self) -> None:
        if self._state is ExecutorState.CLOSED or self._task_group is None:
            self._state = ExecutorState.CLOSED
            return
        self._state = ExecutorState.DRAINING
        with anyio.move_on_after(self._close_timeout, shield=True) as scope:
            self._cancel_calls(
                "the executor is closing", CancelReason.SHUTDOWN, cancellable_only=False
            )
            await self._wait_all_ended()
        if scope.cancelled_caught:
            logger.warning(
                "executor %s: calls %s ignored cancellation for %ss",
                self._name,
                ", ".join(self._calls),
                self._close_timeout,
            )
        if self._deliverer is not None:
            self._deliverer.close()
        if self._deliver_task is not None:
            self._deliver_task.cancel()
            with anyio.move_on_after(self._close_timeout, shield=True):
                await self._deliver_task.wait()
        self._close_cancellable("the executor is closed")
        self._state = ExecutorState.CLOSED

    def _cancel_calls(self, reason: str, cause: CancelReason, *, cancellable_only: bool) -> None:
        # DRN-1: the grouped calls are cancelled by one cancel of their group, unless the
        # request spares one of them (a committed call, CAN-11): then one by one.
        grouped: list[CallHandle] = []
        whole_group = True
        for call in list(self._calls.values()):
            if cancellable_only and not call.cancellable:
                continue  # INV-18: never grouped, so the group is not spared
            if call.note_cancel(reason, cause) is not CancelAnswer.CANCELLED:
                whole_group = whole_group and not call.grouped
            elif call.grouped:
                grouped.append(call)
            else:
                call.cancel_task()
        if not grouped:
            return
        if whole_group:
            self._close_cancellable(reason)
        else:
            for call in grouped:
                call.cancel_task()

    def _close_cancellable(self, reason: str) -> None:
        # Cancels every call in the group and its host task, which then leaves the group once
        # they ended. A later cancellable call opens a new group (cancel_all() leaves the
        # executor open).
        group, self._cancellable = self._cancellable, None
        if group is not None:
            group.cancel_scope.cancel(reason)

    async def _cancellable_group(self) -> anyio.abc.TaskGroup | None:
        # DRN-1: opened by the first cancellable call, in a task of the executor's group; None
        # once the executor stopped admitting calls (admission then refuses the call).
        while self._cancellable is None:
            if self._state is not ExecutorState.OPEN or self._task_group is None:
                return None
            opening = self._opening
            if opening is not None:
                await opening.wait()
                continue
            opening = self._opening = anyio.Event()
            try:
                group = await self._task_group.start(
                    self._host_cancellable, name=f"cancellable calls {self._name}"
                )
                self._cancellable = group
            finally:
                self._opening = None
                opening.set()
        return self._cancellable

    async def _host_cancellable(
        self, *, task_status: anyio.abc.TaskStatus[anyio.abc.TaskGroup]
    ) -> None:
        async with anyio.create_task_group() as group:
            task_status.started(group)
            await anyio.sleep_forever()

    async def _wait_all_ended(self) -> None:
        # One event for "no call left" instead of one wait per call: draining thousands of
        # calls costs one wake-up, not thousands.
        if not self._calls:
            await checkpoint()
            return
        if self._all_ended is None:
            self._all_ended = anyio.Event()
        await self._all_ended.wait()

    # -- starting calls ---------------------------------------------------------------------

    def _check_open(self) -> None:
        state = self._state
        if state is ExecutorState.NEW:
            raise ExecutorClosedError(
                "cannot start a call on a ToolExecutor that was not entered; "
                "use it inside 'async with'"
            )
        if state is ExecutorState.CLOSED:
            raise ExecutorClosedError(
                f"cannot start a call on ToolExecutor {self._name!r}: it is closed (its "
                "'async with' block has exited); calls arriving while it drains are "
                "answered instead"
            )

    async def start(
        self,
        tool: Tool,
        ctx: RunContext[Any] | FunctionCall,
        raw_arguments: str | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the call's deadline, not this wait's
        idle_timeout: float | None = None,
    ) -> CallHandle:
        """Admit one call and start it; return its handle at once.

        Admission is all or nothing: either the call is parsed, checked against the tool's
        duplicate policy, registered, announced (`CallStarted`) and running when this
        returns, or nothing of it exists and `CallRefusedError` says why (with the answer
        the LLM should see). Arguments that parse but do not validate are admitted, and the
        call ends at once with an error. Blocks only for a duplicate policy's turn (and the
        end of the calls a ``replace`` policy cancels); always a checkpoint.

        Args:
            tool: The tool to run.
            ctx: A fresh context for the call, or just the call item (a context without
                session or turn is built for it).
            raw_arguments: The LLM's arguments text; by default the call item's.
            timeout: Seconds this call may run, instead of the tool's or the executor's
                (``math.inf``: no limit).
            idle_timeout: Seconds this call may go without an update or heartbeat, instead
                of the tool's or the executor's (``math.inf``: no limit).

        Returns:
            The running call. A call that joins a running one (``on_duplicate="join"``)
            does not run: the handle returned is the running call's.

        Raises:
            CallRefusedError: The call was not admitted (invalid JSON arguments, refused by
                the duplicate policy, executor draining, call id already running).
            ExecutorClosedError: The executor was never entered, or is closed.
            RuntimeError: The context is bound to another call already.
            ValueError: A *timeout* or *idle_timeout* that is not > 0.
        """
        if isinstance(ctx, FunctionCall):
            ctx = RunContext(function_call=ctx)
        limits = (
            None if timeout is None and idle_timeout is None else _limits(timeout, idle_timeout)
        )
        try:
            call = await self._admit_call(tool, ctx, raw_arguments, limits)
        except CallRefusedError as refused:
            logger.debug("call %s: refused (%s)", ctx.function_call.call_id, refused)
            await checkpoint()
            raise
        except _Joined as joined:
            await checkpoint()
            return joined.call
        await self._loop.checkpoint()
        return call

    async def execute(
        self,
        tool: Tool,
        ctx: RunContext[Any],
        raw_arguments: str | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the call's deadline, not this wait's
        idle_timeout: float | None = None,
    ) -> DispatchResult:
        """Run one call and return its first answer.

        Returns when the tool makes its first ``ctx.update()`` (the call goes on in the
        background), or ends, whichever comes first. Invalid arguments, duplicates refused by
        the tool's policy and calls arriving while the executor closes are answered without
        running anything. Cancelling ``execute()`` before it returned cancels the call too.

        Args:
            tool: The tool to run.
            ctx: A fresh context for the call (its ``function_call`` names the call).
            raw_arguments: The LLM's arguments text; by default the call item's.
            timeout: Seconds this call may run, instead of the tool's or the executor's
                (``math.inf``: no limit).
            idle_timeout: Seconds this call may go without an update or heartbeat, instead
                of the tool's or the executor's (``math.inf``: no limit).

        Returns:
            The answer and the call item to record. A call that joins a running one
            (``on_duplicate="join"``) returns when that call answers, with its answer
            wrapped in the join template.

        Raises:
            ExecutorClosedError: The executor was never entered, or is closed.
            RuntimeError: The context is bound to another call already.
            ValueError: A *timeout* or *idle_timeout* that is not > 0.
        """
        limits = (
            None if timeout is None and idle_timeout is None else _limits(timeout, idle_timeout)
        )
        try:
            info = tool.info
            if info.on_duplicate is DuplicateMode.ALLOW and (
                self._cancellable is not None or not info.cancellable
            ):
                # No duplicate policy (and the group of cancellable calls is open, DRN-1):
                # admission is synchronous, no coroutine of its own.
                item, prepared = self._prepare(tool, ctx, raw_arguments)
                call = self._admit(tool, ctx, item, prepared, limits)
            else:
                call = await self._admit_call(tool, ctx, raw_arguments, limits)
        except CallRefusedError as refused:
            logger.debug("call %s: refused (%s)", ctx.function_call.call_id, refused)
            await checkpoint()
            return refused.result
        except _Joined as joined:
            return await self._join(joined.item, joined.call)
        try:
            # One checkpoint first: the call's task takes its first step, and a call that
            # answers in it (it returned, raised or updated before it first waited) needs no
            # event. Otherwise wait for its first answer.
            await self._loop.checkpoint()
            if not call.answered:
                await call.wait_answered()
        except get_cancelled_exc_class():
            # EXE-13: the answer never reaches this dispatcher's caller, so the call was its
            # work, even when its first answer landed in the same tick as the cancellation.
            if call.outcome is None:
                turn = call.turn
                cause = (
                    CancelReason.USER_INTERRUPTION
                    if turn is not None and turn.interrupted
                    else CancelReason.HOST
                )
                call.request_cancel("its dispatcher was cancelled", cause)
                with anyio.move_on_after(self._close_timeout, shield=True):
                    await call.wait_ended()
            raise
        answer = call.answer_value
        assert answer is not None  # a call of a task is answered at once (not `release_end`)
        return answer

    async def call(
        self,
        tool: Tool,
        ctx: RunContext[Any] | FunctionCall,
        raw_arguments: str | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the call's deadline, not this wait's
        idle_timeout: float | None = None,
        on_update: UpdateCallback | None = None,
        arguments: Mapping[str, Any] | None = None,
    ) -> CallResult:
        """Run one call to its end in the calling task and return how it ended.

        For callers that wait for the end anyway (a server answering a request, a script):
        the call is admitted exactly as `start` admits one (all or nothing, the tool's
        duplicate policy, `CallStarted`, the registry), then its tool runs right here, under
        a cancel scope of its own, instead of in a task of the executor. It is listed by
        `calls` while it runs, and cancelling it there (or through the LLM's cancel tool, a
        ``replace`` duplicate, `drain` or closing the executor) makes this return its
        ``cancelled`` result. Blocks until the call ended; always a checkpoint. Cancelling
        ``call()`` cancels the call: it ends ``cancelled`` (cause ``host``) and the
        cancellation propagates.

        Args:
            tool: The tool to run.
            ctx: A fresh context for the call, or just the call item (a context without
                session or turn is built for it).
            raw_arguments: The LLM's arguments text; by default the call item's.
            timeout: Seconds this call may run, instead of the tool's or the executor's
                (``math.inf``: no limit).
            idle_timeout: Seconds this call may go without an update or heartbeat, instead
                of the tool's or the executor's (``math.inf``: no limit).
            on_update: Called with each update (`CallUpdated`), in order, synchronously
                inside the tool's ``ctx.update()``; what it raises, ``ctx.update()`` raises.
            arguments: The call's arguments as an object already parsed (as an MCP server
                receives them), instead of the call item's text: they are validated as they
                are, without parsing or repairing any text, and the call item's text, which
                should encode the same object, is kept as their record. Exclusive with
                *raw_arguments*.

        Returns:
            How the call ended. A call that joins a running one (``on_duplicate="join"``)
            runs nothing: it returns the running call's result, and *on_update* gets that
            call's updates.

        Raises:
            CallRefusedError: The call was not admitted (invalid JSON arguments, *arguments*
                that are not an object, refused by the duplicate policy, executor draining,
                call id already running).
            ExecutorClosedError: The executor was never entered, or is closed.
            RuntimeError: The context is bound to another call already.
            ValueError: A *timeout* or *idle_timeout* that is not > 0.
            TypeError: Both *raw_arguments* and *arguments*.
        """
        if isinstance(ctx, FunctionCall):
            ctx = RunContext(function_call=ctx)
        limits = _limits(timeout, idle_timeout)
        if arguments is not None and raw_arguments is not None:
            raise TypeError("call() takes raw_arguments or arguments, not both")
        # A full checkpoint, not checkpoint_if_cancelled(): a cancelled caller admits nothing,
        # and call() yields even when the tool's body never does (INV-27). Measured for
        # issue #14 (benchmark row 10, callgrind): in an MCP round trip, where the loop turns
        # anyway, it measured no dearer than checkpoint_if_cancelled() (2.071 M against
        # 2.073 M instructions per call).
        await self._loop.checkpoint()
        caller = CallerTask(on_update)
        try:
            if tool.info.on_duplicate is DuplicateMode.ALLOW:
                # No duplicate policy: admission is synchronous, no coroutine of its own (a
                # caller's-task call never opens the group of cancellable calls, DRN-1).
                item, prepared = self._prepare(tool, ctx, raw_arguments, arguments)
                call = self._admit(tool, ctx, item, prepared, limits, caller)
            else:
                call = await self._admit_call(tool, ctx, raw_arguments, limits, caller, arguments)
        except CallRefusedError as refused:
            logger.debug("call %s: refused (%s)", ctx.function_call.call_id, refused)
            raise
        except _Joined as joined:
            return await follow_joined(joined.call, on_update)
        await caller.run()
        outcome = call.outcome
        assert outcome is not None  # settled by the runner before it returned
        return outcome.result(call.call_id, call.cause)

    async def _join(self, item: FunctionCall, call: CallHandle) -> DispatchResult:
        # JOIN-2: the joiner mirrors the running call's first answer; it has no task, no
        # events and no entries of its own, so later updates are voiced once (JOIN-3).
        first = await call.answer()
        if first.non_blocking:
            item = attrs.evolve(item, extra={**item.extra, _NON_BLOCKING_KEY: True})
        output = joined_answer(
            item, call.call_id, first.output, self._options, created_at=self._loop.clock()
        )
        return DispatchResult(item, output, non_blocking=first.non_blocking)

    def _prepare(
        self,
        tool: Tool,
        ctx: RunContext[Any],
        raw_arguments: str | None,
        arguments: object = None,
    ) -> tuple[FunctionCall, PreparedArguments]:
        # EXE-5 (a): parse and validate; nothing changes yet.
        if self._state is not ExecutorState.OPEN:
            self._check_open()
        ctx.check_unbound()
        item = ctx.function_call
        text = item.arguments if raw_arguments is None else raw_arguments
        try:
            if arguments is None:
                parsed = parse_arguments(tool.name, text)
            else:  # parsed already (call(arguments=...)): the item's text is their record
                value = argument_object(tool.name, arguments)
        except InvalidArgumentsError as exc:
            result = DispatchResult(item, FunctionCallOutput.from_exception(item, exc))
            raise CallRefusedError(result, exc.message) from None
        if arguments is None:
            if parsed.text != item.arguments:
                item = attrs.evolve(item, arguments=parsed.text)
            value = parsed.value
        return item, tool.prepare(value)

    async def _admit_call(
        self,
        tool: Tool,
        ctx: RunContext[Any],
        raw_arguments: str | None,
        limits: _Limits | None = None,
        caller: CallerTask | None = None,
        arguments: object = None,
    ) -> CallHandle:
        item, prepared = self._prepare(tool, ctx, raw_arguments, arguments)
        grouped = caller is None and tool.info.cancellable  # a caller's-task call is not
        if grouped and self._cancellable is None:
            await self._cancellable_group()  # DRN-1: once per executor, before any change
        if tool.info.on_duplicate is DuplicateMode.ALLOW:
            return self._admit(tool, ctx, item, prepared, limits, caller)
        if self._gate is None:
            self._gate = anyio.Lock(fast_acquire=True)
        async with self._gate:  # DUP-7: FIFO, held through a replacement's wait
            same_key = self._by_key.get(prepared.key)
            matching = list(same_key.values()) if same_key else []
            decision = decide(item, tool.info, matching, self._options, confirm=prepared.confirm)
            if matching and self._instrument is not None:
                call_safely(self._instrument.duplicate_decided, item, _kind(decision), matching)
            if decision.answer is not None:
                raise CallRefusedError(
                    DispatchResult(item, decision.answer),
                    f"the duplicate policy of {tool.name!r} refused the call",
                )
            if decision.join is not None:
                raise _Joined(item, decision.join)
            for old in decision.replace:
                old.request_cancel("replaced by a duplicate call", CancelReason.REPLACE)
            for old in decision.replace:
                await old.wait_ended()
            if grouped and self._cancellable is None:
                await self._cancellable_group()
            return self._admit(tool, ctx, item, prepared, limits, caller)

    def _admit(
        self,
        tool: Tool,
        ctx: RunContext[Any],
        item: FunctionCall,
        prepared: PreparedArguments,
        limits: _Limits | None,
        caller: CallerTask | None = None,
    ) -> CallHandle:
        # EXE-5 (c)-(e): one synchronous step. Every check comes before the first change, and
        # nothing after the first change can fail: all or nothing.
        if self._state is not ExecutorState.OPEN or self._task_group is None:
            # Misuse (never entered, closed) was refused by `_prepare`; a call that waited in
            # admission (the gate, a replaced call's end, the group's opening) while the
            # executor drained or closed is answered.
            raise CallRefusedError(_error_answer(item, CLOSING_TEXT), CLOSING_TEXT)
        call_id = item.call_id
        if call_id in self._registry:
            text = f"a call with id `{call_id}` is already running"
            raise CallRefusedError(_error_answer(item, text), text)
        info = tool.info
        error = prepared.error
        key = prepared.key
        call = CallHandle(
            self,
            tool,
            ctx,
            item,
            None if error is not None else prepared.arguments,
            key,
            self._loop,
            self._options,
        )
        if limits is not None or info.guarded or not self._unguarded:
            call.guard = self._guard(info, limits)
        ctx.bind(call if caller is None else caller.binding(call), function_call=item)
        self._registry.add(call)
        self._calls[call_id] = call
        if info.on_duplicate is not DuplicateMode.ALLOW:
            self._by_key.setdefault(key, {})[call_id] = call
        if self._emits:
            emit_safely(self._host, CallStarted(item))
        logger.debug("call %s: admitted (tool %s)", call_id, info.name)
        run = self._run
        if self._instrument is not None:
            call_safely(self._instrument.call_started, call)
            run = self._run_instrumented
        if caller is not None:  # CALL-1: the body runs in the caller's task, after this
            call.task = caller
            call.in_caller_task = True
            caller.admitted(run, call, error)
            return call
        group = self._cancellable if call.cancellable else None
        if group is None:
            group = self._task_group
        else:
            call.grouped = True
        call.task = group.start_soon(run, call, error, name=f"tool-call {call_id}")
        return call

    def _guard(self, info: ToolInfo, limits: _Limits | None) -> CallGuard | None:
        # DLN-3: call, then tool, then the executor's options; DLN-7: no guard, no cost.
        options = self._options
        call_timeout, call_idle = (None, None) if limits is None else limits
        timeout = _first(call_timeout, info.timeout, options.timeout)
        idle = _first(call_idle, info.idle_timeout, options.idle_timeout)
        if timeout is None and idle is None and info.retry is None:
            return None
        return CallGuard(timeout, idle, info.retry, self._host)

    # -- CallOwner --------------------------------------------------------------------------

    def on_update(self, call: CallHandle, entry_id: str, message: str, pair: UpdatePair) -> None:
        """Take an update of a running call: release it (first) or deliver it (later)."""
        call_id = call.call.call_id
        if self._emits:
            emit_safely(self._host, CallUpdated(entry_id, call_id, message))
        logger.debug("call %s: update %s %r", call_id, entry_id, message)
        if self._instrument is not None:
            call_safely(self._instrument.call_updated, call, entry_id, message)
        call.record_update(message)
        if not call.updated:
            call.updated = True
            if not call.answered:
                # EXE-8: a new item, marked; the one announced by CallStarted stays as it was.
                old = call.call
                item = FunctionCall(  # attrs.evolve() without its introspection
                    call_id=old.call_id,
                    name=old.name,
                    arguments=old.arguments,
                    extra={**old.extra, _NON_BLOCKING_KEY: True},
                    id=old.id,
                    created_at=old.created_at,
                    seq=old.seq,
                )
                call.call = item
                call.ctx.mark_function_call(item)
                call.release(DispatchResult(item, pair[1], non_blocking=True))
                logger.debug("call %s: answered by its first update", call_id)
                return
        if self._deliverer is not None:
            self._deliverer.enqueue(pair[0], pair[1], call.ledger)

    async def cancel_call(
        self, call: CallHandle, reason: str, cause: CancelReason = CancelReason.HOST
    ) -> CancelAnswer:
        """Cancel one of this executor's calls and wait for its end (no permission check).

        A committed call is not cancelled and not waited for (CAN-11).
        """
        if self._calls.get(call.call_id) is not call:
            await checkpoint()
            return call.request_cancel(reason, cause)  # it ended: say how
        answer = call.request_cancel(reason, cause)
        if answer is CancelAnswer.COMMITTED:
            await checkpoint()
            return answer
        await call.wait_ended()
        return answer

    async def cancel(self, call_id: str) -> bool:
        """Cancel a running call of this executor and wait until its end was reported.

        Returns:
            True once the call ended cancelled; False if no such call runs here, or if it
            passed its commit point (``ctx.commit()``) and will finish.

        Raises:
            ToolError: The call is not cancellable, or its turn disallows interruptions.
        """
        await checkpoint()
        call = self._calls.get(call_id)
        if call is None:
            return False
        self._registry.check_cancellable(call_id)
        answer = await self.cancel_call(call, "cancelled on request", CancelReason.HOST)
        return answer is CancelAnswer.CANCELLED
