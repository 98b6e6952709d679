"""Filler speech while a tool works (SPEC FIL-1..7, CTX-8).

A scheduler waits until the conversation has been idle for a dwell, says something, and
(with an interval) repeats. It runs in a task group owned by ``RunContext.with_filler()``,
inside the tool's own task, and stops when that block exits or the tool's turn is interrupted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeAlias, final

import anyio

from ._errors import ActivityClosedError
from ._floor import current_holder
from ._groups import collapse_groups
from ._host import Conversation, TurnHandle

__all__ = ["FillerScheduler", "FillerSource", "check_filler_args"]

logger = logging.getLogger("anyio_tools.filler")

FillerSource: TypeAlias = str | Callable[[int], object]
"""A text to say, or a callable ``(step) -> speech handle | str | None``."""


def check_filler_args(
    source: object, delay: float, interval: float | None, max_steps: int | None
) -> None:
    """Validate ``with_filler()`` arguments before anything starts (FIL-1).

    Raises:
        ValueError: A negative delay or interval, or *max_steps* below 1.
        TypeError: A source that is neither a str nor a callable.
    """
    if not isinstance(source, str) and not callable(source):
        raise TypeError(f"source must be a str or a callable, got {type(source).__name__}")
    if not delay >= 0:
        raise ValueError(f"delay must be >= 0, got {delay!r}")
    if interval is not None and not interval >= 0:
        raise ValueError(f"interval must be None or >= 0, got {interval!r}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be None or >= 1, got {max_steps!r}")


@final
class FillerScheduler:
    """One filler: dwell, re-check, fire, repeat."""

    def __init__(
        self,
        conversation: Conversation,
        turn: TurnHandle | None,
        source: FillerSource,
        *,
        delay: float,
        interval: float | None,
        max_steps: int | None,
    ) -> None:
        self._conversation = conversation
        self._turn = turn
        self._source = source
        self._delay = delay
        self._interval = interval
        self._max_steps = max_steps
        self._reset = anyio.Event()
        self.produced = 0

    def reset_dwell(self) -> None:
        """Restart the current dwell (no lasting effect outside one)."""
        self._reset.set()

    def _interrupted(self) -> bool:
        return self._turn is not None and self._turn.interrupted

    async def run(self) -> None:
        """The scheduler's loop; runs until it stops on its own or is cancelled.

        It never raises into its tool (FIL-7, INV-18): a wait that fails because the
        conversation moved on, or anything else going wrong, stops this filler only.
        """
        current_holder.set(None)  # CTX-7c: fillers never act for a floor holder
        try:
            with collapse_groups():
                async with anyio.create_task_group() as task_group:
                    task_group.start_soon(self._watch_activity, name="filler activity watch")
                    await self._loop()
                    task_group.cancel_scope.cancel()
        except ActivityClosedError as exc:  # also SessionClosedError
            logger.debug("the filler stops: %s", exc)
        except Exception:
            logger.warning("the filler failed; it stops", exc_info=True)

    async def _watch_activity(self) -> None:
        while True:
            await self._conversation.wait_for_activity()
            self.reset_dwell()

    async def _loop(self) -> None:
        conversation = self._conversation
        while not self._interrupted():
            await conversation.wait_for_idle()
            self._reset = anyio.Event()
            with anyio.move_on_after(self._delay) as dwell:
                await self._reset.wait()
            if not dwell.cancelled_caught:
                continue  # FIL-3: reset during the dwell
            if not conversation.is_idle() or self._interrupted():
                # FIL-2 (3): re-check before firing. A host also reports "not idle" to a
                # call whose agent is paused under a sub-agent task (issue #18): the line is
                # skipped, and the next needs a full dwell once that agent is back.
                logger.debug("a filler line was skipped: the conversation is not idle")
                continue
            try:
                self._fire()
            except Exception:
                logger.warning("filler source raised; the filler stops", exc_info=True)
                return
            if self._interval is None:
                return
            if self._max_steps is not None and self.produced >= self._max_steps:
                return
            await anyio.sleep(self._interval)

    def _fire(self) -> None:
        source = self._source
        if isinstance(source, str):
            self._conversation.say(source)
            self.produced += 1
            return
        result = source(self.produced)
        if result is None:
            return
        if isinstance(result, str):
            self._conversation.say(result)
        self.produced += 1
