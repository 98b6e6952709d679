"""Idleness, idle waits and the floor of a session (SPEC CON-9, CON-10, HOST-3, DEL-2, CTX-7,
RUN-2).

The session is idle when its current activity is active, no speech is playing or queued, no
follow-up step is due (every call of a step answered), and the user is not speaking; running
tools never make it busy. The floor is a session-wide hold
taken by ``RunContext.foreground()``: while it is held, every idle-waiter that does not act for
the holder keeps waiting.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from anyio_tools._calls import current_call
from anyio_tools._errors import ActivityClosedError, SessionClosedError
from anyio_tools._floor import FloorToken, current_holder
from anyio_tools._host import ReplyTarget
from anyio_tools._signals import Signal

from ._activity import Activity, ActivityState
from ._agent import Agent
from ._session_events import UserState

if TYPE_CHECKING:
    from ._speech import SpeechHandle

__all__ = ["NOT_OPEN", "IdleWaits", "RunState"]

NOT_OPEN = "use the AgentSession inside 'async with' (it is not open)"


class RunState:
    """One ``AgentSession.run()`` in progress."""

    __slots__ = ("_done_upto", "activities", "changed", "events", "guards", "handles", "items")

    def __init__(self) -> None:
        self.handles: list[SpeechHandle] = []
        self.items: list[Any] = []
        self.events: list[Any] = []
        self.guards = 0
        self.activities: list[Activity] = []  # started during the run (issue #20 item 1)
        # Issue #19 item 5: what wakes run(); only once every turn of the run is done (or
        # the session closes, or has no agent), not at every change of state.
        self.changed = Signal()
        self._done_upto = 0  # handles[:_done_upto] are done (a turn never comes undone)

    def turns_done(self) -> bool:
        """Whether every turn of the run is done (the first condition of its end)."""
        handles = self.handles
        upto = self._done_upto
        count = len(handles)
        while upto < count and handles[upto].done:
            upto += 1
        self._done_upto = upto
        return upto == count


class _Waiter:
    """One idle wait in the queue: its place, its conditions and the event that wakes it."""

    __slots__ = ("event", "failure", "ready", "ticket")

    def __init__(
        self,
        ticket: int,
        ready: Callable[[], ReplyTarget | None],
        failure: Callable[[], ActivityClosedError | None],
    ) -> None:
        self.ticket = ticket
        self.ready = ready
        self.failure = failure
        self.event = anyio.Event()


class IdleWaits:
    """The idleness and floor part of `AgentSession` (a mixin; the session provides the state).

    HOST-3: idle waiters (deliveries, fillers, floor requests) queue in request order. At each
    change of state the first waiter whose condition holds is woken, and only that one; the
    next is woken once it resumed, so it re-checks idleness after the served waiter's
    synchronous follow-up. A cancelled waiter leaves the queue and passes its turn on.
    """

    _opened: bool
    _closing: bool
    _activity: Activity | None
    _paused: list[Activity]
    _current_agent: Agent | None
    _changed: Signal
    _activity_event: Signal
    _speech_demand: int
    _user_state: UserState
    _floor_token: FloorToken | None
    _run: RunState | None
    _waiters: list[_Waiter]
    _serving: _Waiter | None
    _tickets: itertools.count[int]

    @property
    def current_agent(self) -> Agent:
        raise NotImplementedError

    def _notify(self) -> None:
        raise NotImplementedError

    def _follow_up_due(self) -> bool:
        raise NotImplementedError

    def _init_waits(self) -> None:
        self._waiters = []
        self._serving = None
        self._tickets = itertools.count()

    def _idle(self) -> bool:
        activity = self._activity
        return (
            not self._closing
            and activity is not None
            and activity.state is ActivityState.ACTIVE
            and activity.agent is self._current_agent
            and self._speech_demand == 0
            and self._user_state is not UserState.SPEAKING
            and not self._follow_up_due()  # CON-9: a due follow-up counts as being produced
        )

    def _floor_free_for_caller(self) -> bool:
        token = self._floor_token
        return token is None or current_holder.get() is token

    def is_idle(self) -> bool:
        """Return whether the session is idle and the floor free for the caller, now.

        For a call of a paused agent (one under a `run_task`), the session is not idle until
        that agent is back.
        """
        return self._idle() and self._floor_free_for_caller() and self._paused_owner() is None

    def _paused_owner(self) -> Activity | None:
        # Issue #18, HND-2: the activity of the calling call, if that activity is paused under
        # a task. Its fillers and idle waits wait for it: they must not speak into the task's
        # conversation. Looked up only while a task runs.
        if not self._paused:
            return None
        owner = self._owner_of_current_call()
        return owner if owner is not None and owner.state is ActivityState.PAUSED else None

    # -- the queue of idle waiters (HOST-3) -------------------------------------------------

    def _serve_waiters(self) -> None:
        """Wake the waiters that must fail, and the first one that may go (if none is woken)."""
        for waiter in self._waiters:
            if waiter.event.is_set():
                continue
            if waiter.failure() is not None:
                waiter.event.set()
            elif self._serving is None and waiter.ready() is not None:
                self._serving = waiter
                waiter.event.set()

    async def _wait_turn(
        self,
        ticket: int,
        ready: Callable[[], ReplyTarget | None],
        failure: Callable[[], ActivityClosedError | None],
    ) -> ReplyTarget:
        waiter = _Waiter(ticket, ready, failure)
        bisect.insort(self._waiters, waiter, key=lambda w: w.ticket)
        try:
            self._serve_waiters()
            while True:
                await waiter.event.wait()  # a checkpoint even when woken at once (INV-27)
                if self._serving is waiter:
                    self._serving = None
                error = failure()
                if error is not None:
                    raise error
                target = ready()
                if target is not None:
                    return target
                waiter.event = anyio.Event()  # not ready after all: keep the place in line
                self._serve_waiters()
        finally:
            # Sync: the caller's follow-up runs before the next waiter resumes and re-checks.
            self._waiters.remove(waiter)
            if self._serving is waiter:
                self._serving = None
            self._serve_waiters()

    def _closed_failure(self) -> ActivityClosedError | None:
        return SessionClosedError("the session closed") if self._closing else None

    async def wait_for_idle(self) -> ReplyTarget:
        """Wait until the session is idle and the floor free for the caller.

        Waiters are served in the order they asked. A call of a paused agent (one under a
        `run_task`) waits until that agent is back.

        Returns:
            The current agent.

        Raises:
            RuntimeError: The session was never entered (use it inside ``async with``).
            SessionClosedError: The session closed first.
        """
        self._check_entered()
        return await self._wait_idle(next(self._tickets), self._paused_owner())

    def _check_entered(self) -> None:
        # Issue #20 item 2: the same error as say(), run(), start() and update_agent().
        if not self._opened:
            raise RuntimeError(NOT_OPEN)

    async def _wait_idle(self, ticket: int, owner: Activity | None) -> ReplyTarget:
        holder = current_holder.get()  # read here: the check runs in other tasks

        def ready() -> ReplyTarget | None:
            token = self._floor_token
            if not self._idle() or (token is not None and holder is not token):
                return None
            if owner is not None and self._activity is not owner:  # paused: wait (HND-2)
                return None
            return self.current_agent

        def failure() -> ActivityClosedError | None:
            if owner is not None and owner.state in (ActivityState.DRAINING, ActivityState.CLOSED):
                return ActivityClosedError(f"{owner.agent.name} is no longer active")
            return self._closed_failure()

        return await self._wait_turn(ticket, ready, failure)

    async def wait_for_reply_slot(self, owner: Activity | None) -> ReplyTarget:
        """Wait until a deferred reply may be scheduled (DEL-2); used by the tool hosts."""

        def ready() -> ReplyTarget | None:
            activity = self._activity
            if (
                self._idle()
                and self._floor_token is None
                and (owner is None or activity is owner)
                and activity is not None
            ):
                return activity.agent
            return None

        def failure() -> ActivityClosedError | None:
            if self._closing:
                return SessionClosedError("the session is closing")
            if owner is not None and owner.state in (ActivityState.DRAINING, ActivityState.CLOSED):
                return ActivityClosedError(f"{owner.agent.name} is no longer active")
            return None

        return await self._wait_turn(next(self._tickets), ready, failure)

    async def wait_for_activity(self) -> None:
        """Wait until the agent starts speaking or thinking, or the user starts speaking."""
        await self._activity_event.wait()

    # -- floor ------------------------------------------------------------------------------

    def acts_for_holder(self) -> bool:
        """Return whether the calling code acts for the current holder of the floor."""
        token = current_holder.get()
        return token is not None and token is self._floor_token

    def hold_floor(self) -> AbstractAsyncContextManager[ReplyTarget]:
        """Wait for idle and hold the floor until exit (CTX-7 (b)-(f)).

        The request takes its place in line when this is called, not when the block is
        entered, so a foreground waiting for its updates to settle keeps its turn.
        """
        return self._hold_floor(next(self._tickets))

    @asynccontextmanager
    async def _hold_floor(self, ticket: int) -> AsyncIterator[ReplyTarget]:
        run_guard = self._run_guard()
        try:
            # CTX-7 (f): an agent-scoped call fails once its activity drains (the drain waits
            # for the call); a session-scoped one waits for the next agent (CTX-7 (b)).
            owner = self._owner_of_current_call()
            if self.acts_for_holder():  # CTX-7 (d): nested
                target = await self._wait_idle(ticket, owner)
                yield target
                return
            # A holder-free waiter is ready only while the floor is free, and nothing awaits
            # between its wake-up and taking the floor (HOST-3: one atomic step).
            target = await self._wait_idle(ticket, owner)
            token = FloorToken(repr(current_call.get()))
            self._floor_token = token
            reset = current_holder.set(token)
            try:
                yield target
            finally:
                current_holder.reset(reset)
                self._floor_token = None
                self._notify()
        finally:
            if run_guard is not None:
                run_guard.guards -= 1
                self._notify()

    def _owner_of_current_call(self) -> Activity | None:
        # The activity whose executors run the current call, if any: the current one or one
        # paused under a task (issue #18: a paused agent's foreground waits for it to come
        # back). A close handoff starts the next activity after the old one closed, and
        # closing ends the calls of its executors.
        call = current_call.get()
        if call is None:
            return None
        call_id = call.call_id
        candidates: list[Activity] = list(self._paused)
        if self._activity is not None:
            candidates.append(self._activity)
        for candidate in candidates:
            for executor in candidate.executors:
                if any(running.call_id == call_id for running in executor.running()):
                    return candidate
        return None

    def _run_guard(self) -> RunState | None:
        # RUN-2: a foreground entered by a call of the active run keeps that run open.
        run = self._run
        call = current_call.get()
        if run is None or call is None or call.ctx.turn not in run.handles:
            return None
        run.guards += 1
        return run
