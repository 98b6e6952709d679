"""The outcome runner: one task per call turns whatever its tool does into exactly one
outcome, then settles the call's end (issue #11; SPEC EXE-7, EXE-9, EVT-4, CAN-9, INV-1,
INV-23, INV-26; issue #16: DLN-4).

`CallRunner` is the part of `ToolExecutor` that runs in each call's task: it invokes the tool
(under its deadlines, if any), judges what the body raised (`judge`), and settles the end
synchronously: the answer or the ``_final`` entry, the registries, `CallEnded`. It is a mixin:
the executor owns the state it reads.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import anyio
from anyio import current_effective_deadline

from ._calls import CallHandle, current_call
from ._chat import new_call_item
from ._deadlines import DeadlinePassed, deadline_text
from ._errors import InvalidArgumentsError
from ._events import CallEnded, CallStatus
from ._host import ToolHost, emit_safely
from ._instrument import Instrumentation, call_safely
from ._loop import Loop
from ._options import TimeoutPromptArgs, ToolOptions, render
from ._outcomes import Outcome, answer, ended_message, final_output, judge
from ._registry import CallRegistry

if TYPE_CHECKING:
    from ._deliverer import Deliverer

__all__ = ["CallRunner"]

logger = logging.getLogger("anyio_tools.executor")


class CallRunner:
    """What runs in each call's task (a mixin of `ToolExecutor`, which owns the state)."""

    _host: ToolHost
    _emits: bool
    _instrument: Instrumentation | None
    _options: ToolOptions
    _registry: CallRegistry
    _deliverer: Deliverer | None
    _calls: dict[str, CallHandle]
    _by_key: dict[tuple[str, str | None], dict[str, CallHandle]]
    _all_ended: anyio.Event | None
    _loop: Loop
    _cancelled_exc: type[BaseException] | None
    _cancelled_outcome: Outcome | None

    def _timed_out(self, call: CallHandle, passed: DeadlinePassed) -> Outcome:
        args: TimeoutPromptArgs = {
            "function_name": call.name,
            "call_id": call.call_id,
            "deadline": passed.deadline.value,
            "seconds": passed.seconds,
            "deadline_text": deadline_text(passed.deadline, passed.seconds),
        }
        try:
            text = render(self._options.timeout_template, args)
        except Exception:  # a callable template failed: the call must still end (DLN-4)
            logger.exception("the timeout template failed for call %s", call.call_id)
            text = render(ToolOptions().timeout_template, args)
        logger.debug("call %s passed its %s", call.call_id, passed.deadline.value)
        return Outcome.timed_out(text)

    # -- the outcome runner -----------------------------------------------------------------

    async def _run_instrumented(
        self, call: CallHandle, error: InvalidArgumentsError | None
    ) -> None:
        # OBS-2: the scope (an OpenTelemetry span) is current in the call's own task.
        assert self._instrument is not None
        with self._instrument.call_scope(call):
            await self._run(call, error)

    async def _run(self, call: CallHandle, error: InvalidArgumentsError | None) -> None:
        # One outcome per call, whatever the body raises (issue #11): only the cancellation of
        # the call's own scope (or of an enclosing one) propagates, and KeyboardInterrupt and
        # SystemExit after they were reported.
        current_call.set(call)
        try:
            if error is not None:
                raise error
            guard = call.guard
            value = await (call.invoke() if guard is None else guard.run(call))
        except BaseException as exc:
            outcome, propagate = self._judge(call, exc)
            self._finish(call, outcome)
            cancelled = outcome.status is CallStatus.CANCELLED
            grouped = call.grouped
            # No reference cycle per call: the exception's traceback keeps this frame, so the
            # frame must not keep the call (whose outcome keeps the exception) nor the error.
            del call, outcome, error
            if not propagate:
                return
            if cancelled:
                if grouped:
                    # DRN-1: the call ends here. Its group's task, which waits in that group
                    # until it is cancelled, carries any cancellation from further out; letting
                    # this one out too would make anyio's task handle keep it (a cycle per
                    # drained call on asyncio) and collect it for nothing.
                    return
                # The cancellation leaves without the frames it was raised through (on trio,
                # the canceller's too): anyio's task handle keeps it, and they keep the call.
                # Nobody is shown this exception (a cancelled call's result has no error).
                raise exc.with_traceback(None)  # noqa: B904 - the same exception, re-raised
            raise
        # CAN-9: a swallowed cancellation still counts (our scope, or one around it, was
        # cancelled: -inf is anyio's "cancelled" deadline).
        if call.cancel_reason is not None or current_effective_deadline() == -math.inf:
            outcome = Outcome.cancelled(self._cancel_reason(call))
        else:
            item = call.call
            outcome = Outcome.of_value(value, tool=item.name, call_id=item.call_id)
        self._finish(call, outcome)

    def _cancelled_here(self, call: CallHandle) -> bool:
        # Our scope, or one around it, was cancelled: -inf is anyio's "cancelled" deadline.
        return call.cancel_reason is not None or current_effective_deadline() == -math.inf

    def _cancel_reason(self, call: CallHandle) -> str:
        return call.cancel_reason or "cancelled by an enclosing cancel scope"

    def _judge(self, call: CallHandle, exc: BaseException) -> tuple[Outcome, bool]:
        reason = call.cancel_reason
        if reason is not None and type(exc) is self._cancelled_exc:
            # Issue #19 item 2: a plain cancellation of a call we were asked to cancel (every
            # call a drain ends) is what `judge` would say, without its lookups: cancelled
            # with the request's reason, re-raised. The outcomes of one request are alike
            # (never changed), so consecutive calls share one.
            outcome = self._cancelled_outcome
            if outcome is None or outcome.reason != reason:
                outcome = self._cancelled_outcome = Outcome.cancelled(reason)
            return outcome, True
        cancelled = self._cancelled_here(call)
        if not cancelled and isinstance(exc, DeadlinePassed):  # DLN-4, DLN-5
            return self._timed_out(call, exc), False
        return judge(
            exc,
            cancelled=cancelled,
            reason=self._cancel_reason(call) if cancelled else None,
            tool=call.name,
            call_id=call.call_id,
        )

    def _finish(self, call: CallHandle, outcome: Outcome) -> None:
        # Sync, in the call's task (SC-8): answer or final entry, registries, end event.
        try:
            self._settle(call, outcome)
        except Exception:  # pragma: no cover - a bug of ours; the call must still end
            logger.exception("could not settle the end of call %s", call.call_id)
        call_id = call.call.call_id
        self._calls.pop(call_id, None)
        if self._by_key:  # only tools with a duplicate policy are keyed
            same_key = self._by_key.get(call.key)
            if same_key is not None:
                same_key.pop(call_id, None)
                if not same_key:
                    del self._by_key[call.key]
        if not self._calls and self._all_ended is not None:
            self._all_ended.set()
            self._all_ended = None
        call.end(outcome)  # sets the cause of a cancellation nobody asked for
        status = outcome.status
        self._registry.end(call_id, status, call.cause)
        debug = logger.isEnabledFor(logging.DEBUG)
        if self._emits or debug:
            message: str | None = None  # EVT-4: a cancelled call's end has no message
            if status is not CallStatus.CANCELLED:
                status, message = ended_message(outcome, updated=call.updated)
            if self._emits:
                ended_id = f"{call_id}_final" if call.updated else call_id
                cause = call.cause if status is CallStatus.CANCELLED else None
                emit_safely(self._host, CallEnded(ended_id, call_id, status, message, cause))
            if debug:
                logger.debug(
                    "call %s: ended %s (%s)", call_id, outcome.status, outcome.reason or message
                )
        if self._instrument is not None:
            call_safely(self._instrument.call_ended, call, outcome)
        call.ctx.detach()

    def _settle(self, call: CallHandle, outcome: Outcome) -> None:
        item = call.call
        if not call.answered:
            if call.in_caller_task:  # CALL-1: its caller takes the result instead
                call.release_end(outcome, self._loop.clock())
            else:
                call.release(answer(item, outcome, created_at=self._loop.clock()))
            return
        if self._deliverer is None or (
            outcome.status is CallStatus.CANCELLED and outcome.text is None
        ):
            return  # a cancelled call has no final entry (but a timeout's, DLN-4); no host
        # INV-6: the call item is created first (a lower sequence number at the same clock
        # reading), so it sorts before its output.
        now = self._loop.clock()
        final_item = new_call_item(
            f"{item.call_id}_final", item.name, item.arguments, dict(item.extra), now
        )
        final = final_output(item, outcome, created_at=now)
        if final is not None:
            self._deliverer.enqueue(final_item, final, call.ledger)
