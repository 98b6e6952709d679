"""What a tool's return value becomes as text, and the fixed answer texts (SPEC EXE-7, EXE-9).

A str stays as it is; other scalars become ``str(value)`` (falsy values keep their text: ``0``
becomes ``"0"``); dicts, lists, tuples, sets, dataclasses, pydantic models and attrs
instances become JSON (pydantic_core's serializer, issue #11), never Python ``repr``. A value
that cannot be serialised (cyclic, too deep, an unknown type) is unusable: the call ends with
an error.
"""

from __future__ import annotations

import abc
from typing import Final

import attrs
from pydantic_core import to_json

__all__ = [
    "CANCELLED_TEXT",
    "CLOSING_TEXT",
    "GENERIC_ERROR_TEXT",
    "HANDOFF_AFTER_UPDATE_TEXT",
    "INTERRUPTED_HANDOFF_TEXT",
    "SEVERAL_AGENTS_TEXT",
    "UNUSABLE_VALUE_TEXT",
    "HandoffAgent",
    "json_text",
    "safe_str",
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


def _fallback(value: object) -> object:
    # pydantic_core knows dataclasses and pydantic models; attrs instances become their
    # fields (one level: the serializer comes back here for nested ones).
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)  # type: ignore[arg-type]
    raise TypeError(f"cannot serialise a {type(value).__name__} as JSON")


def json_text(value: object) -> str | None:
    """Return ``value`` as compact JSON text, or None if it cannot be serialised.

    Uses pydantic_core's serializer: dicts, lists, tuples, sets, dataclasses, pydantic models
    and attrs instances, at any depth up to the serializer's limit. Cyclic or too deep values,
    and values of unknown types, give None.
    """
    try:
        return to_json(value, fallback=_fallback).decode()
    except (ValueError, TypeError, RecursionError):
        return None


def value_text(value: object) -> str | None:
    """Return the text the LLM sees for a returned value, or None if it is unusable.

    A str is used as it is; other scalars (int, float, bool, complex) as ``str(value)``;
    anything else as JSON (`json_text`).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, _SCALARS):
        return str(value)
    return json_text(value)


def safe_str(value: object) -> str:
    """Return ``str(value)``, or a description of the value when its ``__str__`` fails."""
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ is the value's problem, not ours
        return f"<{type(value).__name__} whose str() failed>"
