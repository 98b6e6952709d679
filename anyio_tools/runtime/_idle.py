"""Idleness, idle waits and the floor of a session (SPEC CON-9, CON-10, HOST-3, DEL-2, CTX-7,
RUN-2).

The session is idle when its current activity is active, no speech is playing or queued, and
the user is not speaking; running tools never make it busy. The floor is a session-wide hold
taken by ``RunContext.foreground()``: while it is held, every idle-waiter that does not act for
the holder keeps waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from anyio_tools._calls import current_call
from anyio_tools._errors import ActivityClosedError, SessionClosedError
from anyio_tools._floor import FloorToken, current_holder
from anyio_tools._host import ReplyTarget

from ._activity import Activity, ActivityState
from ._agent import Agent
from ._session_events import UserState

if TYPE_CHECKING:
    from ._speech import SpeechHandle

__all__ = ["IdleWaits", "RunState"]


class RunState:
    """One ``AgentSession.run()`` in progress."""

    def __init__(self) -> None:
        self.handles: list[SpeechHandle] = []
        self.items: list[Any] = []
        self.events: list[Any] = []
        self.guards = 0


class IdleWaits:
    """The idleness and floor part of `AgentSession` (a mixin; the session provides the state)."""

    _closing: bool
    _activity: Activity | None
    _current_agent: Agent | None
    _changed: anyio.Event
    _activity_event: anyio.Event
    _speech_demand: int
    _user_state: UserState
    _floor_token: FloorToken | None
    _run: RunState | None

    @property
    def current_agent(self) -> Agent:
        raise NotImplementedError

    def _notify(self) -> None:
        raise NotImplementedError

    def _idle(self) -> bool:
        activity = self._activity
        return (
            not self._closing
            and activity is not None
            and activity.state is ActivityState.ACTIVE
            and activity.agent is self._current_agent
            and self._speech_demand == 0
            and self._user_state is UserState.LISTENING
        )

    def _floor_free_for_caller(self) -> bool:
        token = self._floor_token
        return token is None or current_holder.get() is token

    def is_idle(self) -> bool:
        """Return whether the session is idle and the floor free for the caller, now."""
        return self._idle() and self._floor_free_for_caller()

    async def wait_for_idle(self) -> ReplyTarget:
        """Wait until the session is idle and the floor free for the caller.

        Returns:
            The current agent.

        Raises:
            SessionClosedError: The session closed first.
        """
        while True:
            if self._closing:
                raise SessionClosedError("the session closed")
            if self.is_idle():
                await anyio.lowlevel.checkpoint()
                if self._closing:
                    raise SessionClosedError("the session closed")
                if self.is_idle():
                    return self.current_agent
                continue
            await self._changed.wait()

    async def wait_for_reply_slot(self, owner: Activity | None) -> ReplyTarget:
        """Wait until a deferred reply may be scheduled (DEL-2); used by the tool hosts."""
        while True:
            if self._closing:
                raise SessionClosedError("the session is closing")
            if owner is not None and owner.state in (ActivityState.DRAINING, ActivityState.CLOSED):
                raise ActivityClosedError(f"{owner.agent.name} is no longer active")
            activity = self._activity
            if (
                self._idle()
                and self._floor_token is None
                and (owner is None or activity is owner)
                and activity is not None
            ):
                return activity.agent
            await self._changed.wait()

    async def wait_for_activity(self) -> None:
        """Wait until the agent starts speaking or thinking, or the user starts speaking."""
        await self._activity_event.wait()

    # -- floor ------------------------------------------------------------------------------

    def acts_for_holder(self) -> bool:
        """Return whether the calling code acts for the current holder of the floor."""
        token = current_holder.get()
        return token is not None and token is self._floor_token

    @asynccontextmanager
    async def hold_floor(self) -> AsyncIterator[ReplyTarget]:
        """Wait for idle and hold the floor until exit (CTX-7 (b)-(f))."""
        run_guard = self._run_guard()
        try:
            if self.acts_for_holder():  # CTX-7 (d): nested
                target = await self.wait_for_idle()
                yield target
                return
            while True:
                target = await self.wait_for_idle()
                if self._floor_token is None:
                    break
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

    def _run_guard(self) -> RunState | None:
        # RUN-2: a foreground entered by a call of the active run keeps that run open.
        run = self._run
        call = current_call.get()
        if run is None or call is None or call.ctx.turn not in run.handles:
            return None
        run.guards += 1
        return run
