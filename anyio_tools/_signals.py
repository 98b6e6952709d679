"""Wake-ups that cost nothing until a task waits (issue #19 item 5: memory per open session).

An `anyio.Event` on asyncio holds an ``asyncio.Event`` and its deque of waiters, about 900
bytes. A session and its activity kept five of them ready at all times and made a new one at
every change of state, mostly with nobody waiting. These two make their event when the first
task waits, and drop it once set:

- `Signal`: "something changed, check your condition again". `Signal.wake` wakes the tasks
  waiting now; a task that waits afterwards waits for the next wake.
- `Latch`: set once, for good (``closed``, ``close requested``). Waiting on a set latch is a
  checkpoint and returns.
"""

from __future__ import annotations

from typing import final

import anyio
from anyio.lowlevel import checkpoint

__all__ = ["Latch", "Signal"]


@final
class Signal:
    """Wakes the tasks waiting now; its event exists only while a task waits."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    def wake(self) -> None:
        """Wake every task waiting now (does not block)."""
        event = self._event
        if event is not None:
            self._event = None
            event.set()

    async def wait(self) -> None:
        """Wait for the next `wake`."""
        event = self._event
        if event is None:
            event = self._event = anyio.Event()
        await event.wait()


@final
class Latch:
    """Set once, for good; its event exists only while a task waits for it to be set."""

    __slots__ = ("_event", "_set")

    def __init__(self) -> None:
        self._set = False
        self._event: anyio.Event | None = None

    def is_set(self) -> bool:
        """Return whether `set` was called."""
        return self._set

    def set(self) -> None:
        """Set the latch and wake its waiters (does not block; idempotent)."""
        self._set = True
        event = self._event
        if event is not None:
            self._event = None
            event.set()

    async def wait(self) -> None:
        """Wait until the latch is set; a checkpoint when it already is."""
        if self._set:
            await checkpoint()
            return
        event = self._event
        if event is None:
            event = self._event = anyio.Event()
        await event.wait()
