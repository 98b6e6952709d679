"""What a tool's return value becomes as text, and the fixed answer texts (SPEC EXE-7, EXE-9).

Valid values are str, int, float, bool, complex, None, and lists, tuples, sets, frozensets
and dicts of valid values (dict keys scalar), at any depth. A valid value becomes ``str(value)``
(a str stays as it is, and falsy values keep their text: ``0`` becomes ``"0"``).
"""

from __future__ import annotations

import abc
from typing import Final

__all__ = [
    "CANCELLED_TEXT",
    "CLOSING_TEXT",
    "GENERIC_ERROR_TEXT",
    "HANDOFF_AFTER_UPDATE_TEXT",
    "INTERRUPTED_HANDOFF_TEXT",
    "SEVERAL_AGENTS_TEXT",
    "UNUSABLE_VALUE_TEXT",
    "HandoffAgent",
    "is_valid_value",
    "value_text",
]

GENERIC_ERROR_TEXT: Final = "An internal error occurred while running the tool."
"""What the LLM sees when a tool raises anything but `ToolError` or `StopResponse`."""

CANCELLED_TEXT: Final = "the tool call was cancelled before it produced a result"
"""The answer of a call cancelled before its first result."""

UNUSABLE_VALUE_TEXT: Final = "the tool returned an unusable value"
"""The error answer of a call whose return value cannot be shown to the LLM."""

SEVERAL_AGENTS_TEXT: Final = "several agents were returned; none was applied"
"""The error answer of a call that returned more than one agent."""

HANDOFF_AFTER_UPDATE_TEXT: Final = "a handoff cannot follow a progress update"
"""The error answer of a call that returned an agent after it had sent an update."""

INTERRUPTED_HANDOFF_TEXT: Final = "the handoff was cut short by an interruption and not applied"
"""The error answer of a handoff requested by a call of an interrupted turn."""

CLOSING_TEXT: Final = "the tool executor is closing"
"""The error answer of a call that arrives while its executor drains or closes."""


class HandoffAgent(abc.ABC):  # noqa: B024 - a marker: nothing to implement
    """Marker base of agents: a tool that returns one hands the conversation over to it.

    The reference runtime's ``Agent`` derives from it. A framework embedding anyio_tools
    registers its own agent class with ``HandoffAgent.register(MyAgent)``.
    """

    __slots__ = ()


_SCALARS: Final = (str, int, float, bool, complex, type(None))
_SEQUENCES: Final = (list, tuple, set, frozenset)


def is_valid_value(value: object) -> bool:
    """Return whether ``value`` is something a tool may return as its result."""
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, _SEQUENCES):
        return all(is_valid_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, _SCALARS) and is_valid_value(v) for k, v in value.items())
    return False


def value_text(value: object) -> str | None:
    """Return the text the LLM sees for a returned value, or None if it is unusable."""
    if isinstance(value, str):
        return value
    if not is_valid_value(value):
        return None
    return str(value)
