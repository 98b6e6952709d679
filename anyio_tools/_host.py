"""The roles a hosting framework plays for a tool's context (SPEC CTX-1..5, HOST-5).

Only shapes live here. The reference runtime (`anyio_tools.runtime`) implements them, and a
framework that embeds anyio_tools implements them for its own session and speech objects.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

__all__ = ["SessionHandle", "TurnHandle", "UserdataT_co"]

UserdataT_co = TypeVar("UserdataT_co", covariant=True)


class TurnHandle(Protocol):
    """One assistant turn (a speech handle), as a tool's context sees it (HOST-5)."""

    @property
    def id(self) -> str:
        """A unique id of the turn."""
        ...

    @property
    def interrupted(self) -> bool:
        """Whether the turn was interrupted; once true it stays true."""
        ...

    @property
    def allow_interruptions(self) -> bool:
        """Whether the user (and the LLM's cancel tool) may interrupt this turn."""
        ...

    @allow_interruptions.setter
    def allow_interruptions(self, value: bool) -> None: ...

    @property
    def num_steps(self) -> int:
        """How many generation steps the turn has started so far."""
        ...

    async def wait_for_step_playout(self, step: int) -> None:
        """Wait until the generation of ``step`` finished playing or was cut."""
        ...


class SessionHandle(Protocol[UserdataT_co]):
    """The conversation a tool call belongs to, as its context sees it."""

    @property
    def userdata(self) -> UserdataT_co:
        """The application's data for this session.

        Raises:
            ValueError: The session has no userdata.
        """
        ...
