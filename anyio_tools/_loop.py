"""The running event loop's clock, checkpoint and events, as one value (issue #6, #11).

The hot path of an executor reads the clock, checkpoints and creates events through one
`Loop`, looked up once when the executor is entered. The hooks are anyio's public functions
(``anyio.current_time``, ``anyio.lowlevel.checkpoint``, ``anyio.Event``), which find the running
backend on every call: anyio documents no public way to keep the backend itself, and reaching
into an event loop token for the backend class would tie the library to anyio's internals.
Keeping the hooks in one place keeps that choice in one place too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, final

import anyio
import anyio.lowlevel

from ._chat import Clock, current_time

__all__ = ["ANY_LOOP", "Loop"]


@final
class Loop:
    """What the hot path needs from one event loop.

    Args:
        clock: Reads the loop's clock (the ``created_at`` of items).
        checkpoint: A checkpoint (SPEC INV-27).
        new_event: Creates an `anyio.Event`.
    """

    __slots__ = ("checkpoint", "clock", "new_event")

    def __init__(
        self,
        clock: Clock,
        checkpoint: Callable[[], Awaitable[None]],
        new_event: Callable[[], anyio.Event],
    ) -> None:
        self.clock = clock
        self.checkpoint = checkpoint
        self.new_event = new_event

    @classmethod
    def running(cls) -> Loop:
        """Return the hooks for the running event loop (anyio's public functions).

        Raises:
            RuntimeError: No event loop is running (anyio's ``NoEventLoopError``).
        """
        anyio.current_time()  # fail here, not at the first item, outside an event loop
        return _RUNNING


_RUNNING: Final = Loop(anyio.current_time, anyio.lowlevel.checkpoint, anyio.Event)

ANY_LOOP: Final = Loop(current_time, anyio.lowlevel.checkpoint, anyio.Event)
"""Hooks that also work outside an event loop (``created_at`` is 0.0 there)."""
