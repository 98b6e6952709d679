"""The context a tool receives for one call (SPEC CTX-1..6, CTX-9, UPD-1..6; issue #16:
``heartbeat()`` DLN-1, ``idempotency_key`` IDK-1).

A context records every update it makes (``ctx.updates``). When an executor runs the call it
binds itself to the context through the small `CallBinding` protocol and receives each update;
without a binding (a standalone run, or after the call ended) recording is all that happens.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Final, Generic, Protocol, TypeAlias, TypeVar, final

import anyio
from anyio.lowlevel import checkpoint

from ._chat import (
    Clock,
    FunctionCall,
    FunctionCallOutput,
    current_time,
    new_update_pair,
)
from ._filler import FillerScheduler, FillerSource, check_filler_args
from ._groups import collapse_groups
from ._host import Conversation, ReplyTarget, SessionHandle, TurnHandle
from ._options import ToolOptions, UpdatePromptArgs, render
from ._values import value_text

__all__ = ["CallBinding", "RunContext", "UpdatePair"]

logger = logging.getLogger("anyio_tools.context")

UserdataT = TypeVar("UserdataT")

UpdatePair: TypeAlias = tuple[FunctionCall, FunctionCallOutput]
"""A recorded update: a copy of the call item under the entry id, and its output."""

_DEFAULT_OPTIONS = ToolOptions.resolve()

# IDK-1: idempotency keys are UUIDv5 in a namespace of our own, so they are stable per call and
# never collide with keys another library derives from the same call id.
_IDEMPOTENCY_NAMESPACE: Final = uuid.UUID("8d5c2f7e-5a0e-4c4b-9a43-7d1f0b6a9e21")


class CallBinding(Protocol):
    """What a context needs from the executor that runs its call."""

    @property
    def options(self) -> ToolOptions:
        """The executor's resolved templates."""
        ...

    @property
    def clock(self) -> Clock:
        """The event loop's clock, read for the ``created_at`` of recorded items."""
        ...

    @property
    def checkpoint(self) -> Callable[[], Awaitable[None]]:
        """The event loop's checkpoint, awaited at the end of every update (INV-27)."""
        ...

    def on_update(self, entry_id: str, message: str, pair: UpdatePair) -> None:
        """Take one update: release the call (first update) or deliver it (later ones)."""
        ...

    async def wait_settled(self) -> None:
        """Wait until every update the executor accepted so far got a reply or was dropped."""
        ...

    def commit(self) -> bool:
        """Mark the call's point of no return; False if it is being cancelled (CAN-11)."""
        ...

    def heartbeat(self) -> None:
        """Take a sign of life: move the call's idle deadline forward (DLN-1)."""
        ...


@final
class RunContext(Generic[UserdataT]):
    """What a tool call can see and do: its session, its turn, its call, and progress updates.

    A host builds one context per call. A tool receives it through a parameter annotated
    ``RunContext`` (any name, never part of the schema).

    Args:
        function_call: The call item this context belongs to.
        session: The conversation, or None for a call run on its own.
        speech_handle: The turn that made the call, or None.
    """

    __slots__ = (
        "__weakref__",
        "_binding",
        "_detached",
        "_fillers",
        "_function_call",
        "_initial_step",
        "_session",
        "_speech_handle",
        "_updates",
    )

    def __init__(
        self,
        *,
        function_call: FunctionCall,
        session: SessionHandle[UserdataT] | None = None,
        speech_handle: TurnHandle | None = None,
    ) -> None:
        self._function_call = function_call
        self._session = session
        self._speech_handle = speech_handle
        # CTX-1: the step whose playout wait_for_playout() waits for.
        self._initial_step = speech_handle.num_steps - 1 if speech_handle is not None else -1
        self._updates: list[UpdatePair] = []
        self._binding: CallBinding | None = None
        self._detached = False
        self._fillers: list[FillerScheduler] | None = None  # created by the first with_filler()

    def __repr__(self) -> str:
        call = self._function_call
        return f"<RunContext {call.name} call_id={call.call_id!r}>"

    @property
    def function_call(self) -> FunctionCall:
        """The call item this context belongs to."""
        return self._function_call

    @property
    def call_id(self) -> str:
        """The call's id (shorthand for ``function_call.call_id``)."""
        return self._function_call.call_id

    @property
    def idempotency_key(self) -> str:
        """A key that names this call and no other, for external APIs that deduplicate.

        The same for every attempt of the call (retries included) and derived only from the
        tool's name and the call's id, so it is stable across processes too.
        """
        call = self._function_call
        return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{call.name}\x00{call.call_id}"))

    def heartbeat(self) -> None:
        """Tell the executor the call is making progress, without saying anything.

        Moves the call's idle deadline (``idle_timeout``) forward, as every ``update()``
        does; without an idle deadline, or once the call ended, it does nothing. Never
        blocks.
        """
        binding = self._binding
        if binding is not None:
            binding.heartbeat()

    @property
    def session(self) -> SessionHandle[UserdataT]:
        """The conversation this call belongs to.

        Raises:
            RuntimeError: The context was built without a session.
        """
        if self._session is None:
            raise RuntimeError(f"the context of call {self.call_id!r} was built without a session")
        return self._session

    @property
    def speech_handle(self) -> TurnHandle:
        """The turn that made this call.

        Raises:
            RuntimeError: The context was built without a turn.
        """
        if self._speech_handle is None:
            raise RuntimeError(f"the context of call {self.call_id!r} was built without a turn")
        return self._speech_handle

    @property
    def turn(self) -> TurnHandle | None:
        """The turn that made this call, or None for a call run without one."""
        return self._speech_handle

    @property
    def userdata(self) -> UserdataT:
        """The session's application data.

        Raises:
            ValueError: There is no session, or the session has no userdata.
        """
        if self._session is None:
            raise ValueError(
                f"the context of call {self.call_id!r} has no session, so it has no userdata"
            )
        return self._session.userdata

    @property
    def answered(self) -> bool:
        """Whether the call gave its first answer: its first update, or its end."""
        return bool(self._updates) or self._detached

    @property
    def updates(self) -> Sequence[UpdatePair]:
        """The updates recorded so far, oldest first (a read-only view)."""
        return self._updates

    def disallow_interruptions(self) -> None:
        """Forbid interrupting the turn that made this call (and cancelling its calls).

        Raises:
            RuntimeError: The turn was already interrupted, or there is no turn.
        """
        turn = self.speech_handle
        if turn.interrupted:
            raise RuntimeError(
                "cannot disallow interruptions: the turn that made call "
                f"{self.call_id!r} was already interrupted"
            )
        turn.allow_interruptions = False

    async def wait_for_playout(self) -> None:
        """Wait until the speech said before this call, in the same turn, finished playing.

        Unlike waiting for the whole turn, this does not wait for later steps or for the reply
        to the tools. Cancelling the wait cancels nothing else.

        Raises:
            RuntimeError: The context has no turn, or the turn had no generation yet.
        """
        turn = self.speech_handle
        if self._initial_step < 0:
            raise RuntimeError(
                f"the turn of call {self.call_id!r} had no generation when the call started"
            )
        await turn.wait_for_step_playout(self._initial_step)

    async def commit(self) -> bool:
        """Mark the point of no return: from now on, asking to cancel the call does not.

        Call it right before the work that cannot be undone (charging a card, sending a
        booking). Afterwards the LLM's cancel tool answers "too late: already committed,
        will finish", a handoff waits for the call, and the call runs to its end; only the
        closing of its executor, or the call's own deadline (``timeout``,
        ``idle_timeout``), still cancels it. A checkpoint: a cancellation requested
        before is delivered here, so a call never commits after it was told to stop.

        Returns:
            True once committed (also for a context run without an executor); False if the
            call is being cancelled and the cancellation cannot reach it (a shielded scope):
            do not do the irreversible work then.
        """
        binding = self._binding
        await (checkpoint() if binding is None else binding.checkpoint())
        return True if binding is None else binding.commit()

    async def update(
        self,
        message: object,
        *,
        template: str | Callable[[UpdatePromptArgs], str] | None = None,
    ) -> None:
        """Report progress to the conversation.

        The first update answers the call at once with ``message``, so the conversation goes on
        while the tool keeps working. Later updates are written into the conversation
        immediately, and one reply about them is spoken once the conversation is idle. This
        never waits for that reply. A checkpoint on every call (see `update_nowait` for the
        same update without it).

        Args:
            message: The progress text. A str is wrapped by the template; any other value is
                used as it is.
            template: A ``str.format`` template or a callable for this update, instead of the
                configured one. It can use ``function_name``, ``call_id`` and ``message``.
        """
        binding = self._record(message, template)
        await (checkpoint() if binding is None else binding.checkpoint())

    def update_nowait(
        self,
        message: object,
        *,
        template: str | Callable[[UpdatePromptArgs], str] | None = None,
    ) -> None:
        """Report progress to the conversation, like `update`, without a checkpoint.

        Does the same, in the same order, and never blocks: it neither yields to other tasks
        nor checks for cancellation. Use it where awaiting is not possible or where several
        updates must be taken in one step (a reader forwarding progress in the order it
        arrives); a tool body should prefer ``await ctx.update(...)``. Like `update`, after
        the call ended the update is only recorded, and a warning is logged.

        Args:
            message: The progress text. A str is wrapped by the template; any other value is
                used as it is.
            template: A ``str.format`` template or a callable for this update, instead of the
                configured one. It can use ``function_name``, ``call_id`` and ``message``.
        """
        self._record(message, template)

    def _record(
        self, message: object, template: str | Callable[[UpdatePromptArgs], str] | None
    ) -> CallBinding | None:
        # The body of update() and update_nowait(), called positionally (issue #19 item 4).
        # Returns the binding that took the update: a call cannot end in here, so update()
        # checkpoints through the same one.
        if self._fillers:
            for filler in self._fillers:
                filler.reset_dwell()  # UPD-3
        binding = self._binding
        call = self._function_call
        if isinstance(message, str):
            raw = message
            if template is None:
                template = (
                    binding.options if binding is not None else _DEFAULT_OPTIONS
                ).update_template
            args: UpdatePromptArgs = {
                "function_name": call.name,
                "call_id": call.call_id,
                "message": message,
            }
            # render()'s str case inline: one call less per update.
            text = (
                template.format_map(args) if isinstance(template, str) else render(template, args)
            )
        else:
            raw = str(message)
            shown = value_text(message)
            text = raw if shown is None else shown
        updates = self._updates
        k = len(updates)
        call_id = call.call_id
        entry_id = call_id if k == 0 else f"{call_id}_update_{k}"
        now = current_time() if binding is None else binding.clock()
        pair = new_update_pair(call, entry_id, text, now)
        updates.append(pair)
        if binding is not None:
            binding.on_update(entry_id, raw, pair)
        elif self._detached:
            logger.warning(
                "update %s of call %s arrived after the call ended; it was recorded only",
                entry_id,
                call_id,
            )
        return binding

    def _conversation(self, what: str) -> Conversation:
        session: object = self._session
        if not isinstance(session, Conversation):
            raise RuntimeError(  # noqa: TRY004 - a lifecycle misuse, not a bad argument
                f"{what} needs a session that implements anyio_tools.Conversation; "
                f"the context of call {self.call_id!r} has {session!r}"
            )
        return session

    @asynccontextmanager
    async def foreground(self) -> AsyncIterator[ReplyTarget]:
        """Hold the floor: wait until this call's pending replies were spoken and the session
        is idle, then keep every other deferred reply, filler and foreground waiting until
        the block exits.

        Use it around interactive steps (saying something, asking the user) so that no
        deferred reply lands between them. Entering again inside the block nests. Entering
        may block; cancelling the wait holds nothing. Exiting never blocks.

        Yields:
            The agent (reply target) that was idle.

        Raises:
            RuntimeError: The context has no session that supports it.
            ActivityClosedError: Before the floor was free, the session closed, or (for a
                tool of one agent) the conversation was handed to another agent.
        """
        conversation = self._conversation("foreground()")
        binding = self._binding
        nested = conversation.acts_for_holder()
        hold = conversation.hold_floor()  # HOST-3: the request's place in line is taken now
        if binding is not None and not nested:
            await binding.wait_settled()  # CTX-7 (a)
        async with hold as target:
            yield target

    @asynccontextmanager
    async def with_filler(
        self,
        source: FillerSource,
        *,
        delay: float = 0,
        interval: float | None = None,
        max_steps: int | None = None,
    ) -> AsyncIterator[None]:
        """Say filler speech while the block runs, whenever the conversation stays idle.

        A scheduler waits until the session has been idle for *delay* seconds, then says
        *source* (a str, or a callable ``(step) -> speech handle | str | None`` called at
        fire time with the number of fillers produced so far). The dwell restarts when the
        agent speaks or thinks, the user speaks, or this tool calls ``update()``. With
        *interval*, it repeats at least that many seconds apart; *max_steps* caps the
        number of fillers. It stops when the tool's turn is interrupted or the block exits
        (exiting waits for the scheduler to stop; speech already queued keeps playing).

        Raises:
            ValueError: A negative *delay* or *interval*, or *max_steps* below 1.
            TypeError: A *source* that is neither a str nor a callable.
            RuntimeError: The context has no session that supports it.
        """
        check_filler_args(source, delay, interval, max_steps)
        conversation = self._conversation("with_filler()")
        scheduler = FillerScheduler(
            conversation,
            self._speech_handle,
            source,
            delay=delay,
            interval=interval,
            max_steps=max_steps,
        )
        if self._fillers is None:
            self._fillers = []
        self._fillers.append(scheduler)
        try:
            # INV-23, INV-26: the scheduler never raises (FIL-7), so what leaves this group is
            # the body's own exception; never let it out wrapped in a group.
            with collapse_groups():
                async with anyio.create_task_group() as task_group:
                    task_group.start_soon(scheduler.run, name=f"filler {self.call_id}")
                    try:
                        yield
                    finally:
                        task_group.cancel_scope.cancel()
        finally:
            self._fillers.remove(scheduler)
            if not self._fillers:
                self._fillers = None

    # -- executor side ---------------------------------------------------------------------

    def bind(self, binding: CallBinding, *, function_call: FunctionCall | None = None) -> None:
        """Attach the executor that runs this call (done by the executor).

        Args:
            binding: The executor's side of the call.
            function_call: The call item as admitted (its arguments rewritten as valid JSON),
                replacing the one the context was built with.

        Raises:
            RuntimeError: The context is already bound, or its call already ended.
        """
        if self._binding is not None or self._detached:
            raise RuntimeError(
                f"the context of call {self.call_id!r} is already bound to an executor; "
                "build a new RunContext for each call"
            )
        self._binding = binding
        if function_call is not None:
            self._function_call = function_call

    def check_unbound(self) -> None:
        """Raise unless the context can still be bound to a call (done by the executor).

        Raises:
            RuntimeError: The context is bound to a call already, or its call ended.
        """
        if self._binding is not None or self._detached:
            raise RuntimeError(
                f"the context of call {self.call_id!r} is already bound to an executor; "
                "build a new RunContext for each call"
            )

    def mark_function_call(self, function_call: FunctionCall) -> None:
        """Replace the call item by a marked copy of it (done by the executor, EXE-8)."""
        if function_call.call_id != self._function_call.call_id:
            raise ValueError(
                f"cannot replace call {self.call_id!r} by call {function_call.call_id!r}"
            )
        self._function_call = function_call

    def detach(self) -> None:
        """Detach the executor once the call ended; later updates are only recorded."""
        self._binding = None
        self._detached = True
