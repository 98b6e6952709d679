"""Who acts for the holder of the floor (SPEC CON-10, CTX-7c).

A holder token travels in a context variable: code in a ``foreground()`` body and tasks
spawned from it carry the token and may pass the floor; tasks an executor owns (deliverers,
fillers) clear it when they start, so they never act for a holder.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final, final

__all__ = ["FloorToken", "current_holder"]


@final
class FloorToken:
    """Identity of one ``foreground()`` hold."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"<FloorToken {self.label}>"


current_holder: Final[ContextVar[FloorToken | None]] = ContextVar(
    "anyio_tools_floor_holder", default=None
)
"""The floor hold the current code acts for, if any."""
