"""Speech handles and the speech output (SPEC CON-5, HOST-4, HOST-5, CTX-4, CTX-5).

A `SpeechHandle` is one assistant turn: its generation steps, whether it was interrupted,
the chat items it produced, and waits for its playout. Speech plays through a `SpeechOutput`;
the default `TextOutput` paces text at a number of characters per second (instant by default).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Protocol, final

import anyio

from anyio_tools._calls import current_call
from anyio_tools._chat import ChatItem
from anyio_tools._signals import Signal

__all__ = ["SpeechHandle", "SpeechOutput", "TextOutput"]

_ids = itertools.count(1)


class SpeechOutput(Protocol):
    """Where the agent's speech goes (a TTS and audio sink in a voice agent)."""

    async def play(self, text: str) -> None:
        """Play ``text``; return when it finished. Cancelled when the speech is interrupted."""
        ...


@final
class TextOutput:
    """Plays text by waiting as long as saying it takes.

    Args:
        chars_per_second: Speaking rate; None plays instantly.
    """

    def __init__(self, *, chars_per_second: float | None = None) -> None:
        if chars_per_second is not None and not chars_per_second > 0:
            raise ValueError(f"chars_per_second must be > 0, got {chars_per_second!r}")
        self._rate = chars_per_second

    async def play(self, text: str) -> None:
        """Wait ``len(text) / chars_per_second`` seconds (a checkpoint when instant)."""
        if self._rate is None:
            await anyio.lowlevel.checkpoint()
        else:
            await anyio.sleep(len(text) / self._rate)


@final
class SpeechHandle:
    """One assistant turn, from its first generation to its last playout.

    Args:
        allow_interruptions: Whether the user (and the LLM's cancel tool) may interrupt it.
    """

    def __init__(self, *, allow_interruptions: bool = True) -> None:
        self._id = f"speech_{next(_ids)}"
        self._allow_interruptions = allow_interruptions
        self._interrupted = False
        self._done = False
        # Issue #19 item 5: steps are played in order, one at a time, so two counts say
        # which have ended; one signal (no event until a task waits) wakes every wait.
        self._steps = 0  # started
        self._played = 0  # ended (played out or cut)
        self._changed = Signal()
        self._chat_items: list[ChatItem] = []
        self._llm_errors: list[BaseException] = []
        self._deferred_reply = False  # voices queued updates; covers nothing more (LED-7)

    def __repr__(self) -> str:
        state = "done" if self.done else "interrupted" if self._interrupted else "running"
        return f"<SpeechHandle {self._id} {state}>"

    @property
    def id(self) -> str:
        """A unique id of the turn."""
        return self._id

    @property
    def interrupted(self) -> bool:
        """Whether the turn was interrupted; once true it stays true."""
        return self._interrupted

    @property
    def heard(self) -> bool:
        """Whether the user heard the turn: it finished without being cut (LED-2).

        A deferred reply that was not heard is voiced again at the next idle.
        """
        return self._done and not self._interrupted

    @property
    def done(self) -> bool:
        """Whether the turn finished (played out, or interrupted and wound down)."""
        return self._done

    @property
    def allow_interruptions(self) -> bool:
        """Whether the turn may be interrupted."""
        return self._allow_interruptions

    @allow_interruptions.setter
    def allow_interruptions(self, value: bool) -> None:
        if not value and self._interrupted:
            raise RuntimeError(
                f"cannot disallow interruptions of {self._id}: it was already interrupted"
            )
        self._allow_interruptions = value

    @property
    def num_steps(self) -> int:
        """How many generation steps the turn has started so far."""
        return self._steps

    @property
    def chat_items(self) -> list[ChatItem]:
        """The chat items the turn produced so far (a copy)."""
        return list(self._chat_items)

    def interrupt(self, *, force: bool = False) -> None:
        """Cut the turn short: its playout stops and it takes no further step.

        Calls its tools made keep running.

        Raises:
            RuntimeError: The turn disallows interruptions (and *force* is false).
        """
        if not self._allow_interruptions and not force:
            raise RuntimeError(f"{self._id} does not allow interruptions")
        if self._interrupted or self.done:
            return
        self._interrupted = True
        self._changed.wake()

    async def wait_for_interrupt(self) -> None:
        """Wait until the turn is interrupted."""
        await self._wait_until(lambda: self._interrupted)

    async def wait_for_playout(self) -> None:
        """Wait until the whole turn finished, including its replies to its tools.

        Raises:
            RuntimeError: Called from a blocking tool of this very turn, which would wait
                for itself; use ``ctx.wait_for_playout()`` there.
        """
        call = current_call.get()
        if call is not None and call.ctx.turn is self and not call.non_blocking:
            raise RuntimeError(
                f"tool {call.name} would wait for its own turn {self._id} to finish; "
                "use ctx.wait_for_playout() to wait for the speech before the call"
            )
        await self._wait_until(lambda: self._done)

    async def wait_for_step_playout(self, step: int) -> None:
        """Wait until the generation of ``step`` finished playing or was cut."""
        if not 0 <= step < self._steps:
            raise ValueError(f"{self._id} has no step {step}; it has {self._steps}")
        await self._wait_until(lambda: self._played > step)

    async def _wait_until(self, condition: Callable[[], bool]) -> None:
        if condition():
            await anyio.lowlevel.checkpoint()
            return
        while not condition():
            await self._changed.wait()

    # -- runtime side -----------------------------------------------------------------------

    def _start_step(self) -> int:
        self._steps += 1
        return self._steps - 1

    def _end_step(self, step: int) -> None:
        if step >= self._played:  # never backwards (after _mark_done, say)
            self._played = step + 1
        self._changed.wake()

    def _add_items(self, *items: ChatItem) -> None:
        self._chat_items.extend(items)

    def _llm_failed(self, error: BaseException) -> None:
        self._llm_errors.append(error)

    def _mark_done(self) -> None:
        self._played = self._steps
        self._done = True
        self._changed.wake()
