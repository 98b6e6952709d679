"""Calls that run in their caller's task, for callers that wait for the end anyway
(``ToolExecutor.call``; issue #14; SPEC EXE-5, CAN-5, CTX-9).

- **CALL-1 Admission.** A call made with ``call()`` is admitted exactly as ``start()`` admits
  one: all or nothing (EXE-5), its tool's duplicate policy, the registry, `CallStarted`, its
  ledger. What differs is where its body runs: not in a task of the executor but in the task
  that called ``call()``, under a cancel scope of its own, through the same outcome runner
  (`CallRunner`), so it ends exactly as a started call would (one outcome, `CallEnded`).
- **CALL-2 Cancellation.** Cancelling the call (its handle in ``executor.calls()``, the LLM's
  cancel tool, a ``replace`` duplicate, draining or closing the executor) cancels that scope:
  ``call()`` returns the ``cancelled`` result. Cancelling the caller cancels the call too (its
  cause is ``host``), and ``call()`` raises the cancellation after the call's end was settled.
- **CALL-3 Updates.** Each update is handed to the caller's *on_update* synchronously, inside
  the tool's ``ctx.update()``, after the executor took it, in order.
- **CALL-4 Joining.** A call that joins a running one (``on_duplicate="join"``) runs nothing: it
  follows the running call, hands its updates (from its first) to *on_update* and returns its
  result.

`CallerTask` stands for the task on the call's handle (`CallTask`): ``cancel()`` cancels the
call's scope and ``wait()`` waits for the body to finish. The body's `current_call` is restored
for the caller afterwards (CTX-9).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import final

import anyio
from anyio.lowlevel import checkpoint

from ._calls import CallHandle, current_call
from ._chat import Clock
from ._context import CallBinding, UpdatePair
from ._errors import InvalidArgumentsError
from ._events import CallUpdated
from ._options import ToolOptions
from ._outcomes import CallResult

__all__ = ["CallerTask", "UpdateCallback", "follow_joined"]

UpdateCallback = Callable[[CallUpdated], None]
"""What ``ToolExecutor.call`` hands each update to."""

_Runner = Callable[[CallHandle, InvalidArgumentsError | None], Awaitable[None]]


@final
class CallerTask:
    """The body of one call, run in its caller's task (CALL-1, CALL-2).

    Args:
        on_update: What each update is handed to, if anything (CALL-3).
    """

    __slots__ = ("_body", "_ended", "_finished", "_on_update", "_scope")

    def __init__(self, on_update: UpdateCallback | None = None) -> None:
        self._on_update = on_update
        self._scope = anyio.CancelScope()
        self._finished = False
        self._ended: anyio.Event | None = None  # made by the first wait() only
        self._body: tuple[_Runner, CallHandle, InvalidArgumentsError | None] | None = None

    def binding(self, call: CallHandle) -> CallBinding:
        """Return what the call's context is bound to: the call, or a reporting wrapper."""
        on_update = self._on_update
        return call if on_update is None else _Reporting(call, on_update)

    def admitted(self, run: _Runner, call: CallHandle, error: InvalidArgumentsError | None) -> None:
        """Take the admitted call and the runner its body goes through (done by admission)."""
        self._body = (run, call, error)

    async def run(self) -> None:
        """Run the admitted call's body here, under the call's own cancel scope.

        Returns once the call's end was settled; a cancellation of the caller propagates
        after that.
        """
        assert self._body is not None, "run() follows admission"
        run, call, error = self._body
        self._body = None
        outer = current_call.get()  # CTX-9: the runner sets the current call in this task
        try:
            with self._scope:
                await run(call, error)
        finally:
            current_call.set(outer)
            self._finished = True
            ended = self._ended
            if ended is not None:
                ended.set()

    # -- CallTask ---------------------------------------------------------------------------

    def cancel(self) -> None:
        """Cancel the call's body (no effect once it finished)."""
        if not self._finished:
            self._scope.cancel()

    async def wait(self) -> None:
        """Wait until the call's body finished. A checkpoint."""
        if self._finished:
            await checkpoint()
            return
        if self._ended is None:
            self._ended = anyio.Event()
        await self._ended.wait()


@final
class _Reporting:
    """A call's binding that also hands each update to its caller (CALL-3)."""

    __slots__ = ("_call", "_on_update", "checkpoint", "clock", "options")

    def __init__(self, call: CallHandle, on_update: UpdateCallback) -> None:
        self._call = call
        self._on_update = on_update
        self.options: ToolOptions = call.options
        self.clock: Clock = call.clock
        self.checkpoint: Callable[[], Awaitable[None]] = call.checkpoint

    def on_update(self, entry_id: str, message: str, pair: UpdatePair) -> None:
        call = self._call
        call.on_update(entry_id, message, pair)
        self._on_update(CallUpdated(entry_id, call.call_id, message))

    async def wait_settled(self) -> None:
        await self._call.wait_settled()

    def commit(self) -> bool:
        return self._call.commit()

    def heartbeat(self) -> None:
        self._call.heartbeat()


async def follow_joined(call: CallHandle, on_update: UpdateCallback | None) -> CallResult:
    """Follow a running call that a new one joined: its updates, then its result (CALL-4)."""
    if on_update is not None:
        async for update in call.updates():
            on_update(update)
    return await call.result()
