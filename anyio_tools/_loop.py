"""The running event loop's clock, checkpoint and events, looked up once (issue #6).

``anyio.current_time()``, ``anyio.lowlevel.checkpoint()`` and ``anyio.Event()`` find the
running backend on every call. An executor creates items, events and checkpoints on the path
of every tool call and update, so it looks the backend up once when it is entered, through
anyio's public ``current_token().backend_class`` (an ``anyio.abc.AsyncBackend``), and calls
the backend's own methods from then on.
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
        """Return the hooks of the running event loop's backend."""
        backend = anyio.lowlevel.current_token().backend_class
        return cls(backend.current_time, backend.checkpoint, backend.create_event)


ANY_LOOP: Final = Loop(current_time, anyio.lowlevel.checkpoint, anyio.Event)
"""Hooks that find the running loop on every call (for code not bound to one loop)."""
