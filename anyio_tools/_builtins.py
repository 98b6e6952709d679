"""The built-in tools that let the LLM list and cancel running calls (SPEC CAN-2..4; the
honest answers of issue #15, CAN-12).

The cancel tool answers ``call `<id>` was cancelled`` or ``too late: call `<id>` already
committed, will finish``; it fails (an error answer) with ``unknown: ...`` for a call that is
not running (saying how it ended, if it did lately, including why it was cancelled) and with
``... is not cancellable`` for a call the LLM may not cancel.

They are ordinary tools (``allow``, not cancellable) bound to one session's registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Final, final

from ._duplicates import CANCEL_TOOL_NAME, LIST_TOOL_NAME
from ._events import CancelAnswer
from ._registry import CallRegistry
from ._tools import Tool, function_tool

__all__ = ["BUILTIN_TOOL_NAMES", "RunningCallTools", "check_builtin_names"]


BUILTIN_TOOL_NAMES: Final = frozenset({LIST_TOOL_NAME, CANCEL_TOOL_NAME})


def check_builtin_names(tools: Iterable[Tool]) -> None:
    """Refuse a tool named like a built-in when the built-ins are visible (DEC-10, CAN-2).

    The list and cancel tools are added next to ``tools`` as soon as one of them is
    cancellable; a user tool with one of their names would be silently replaced.

    Raises:
        ValueError: A tool of ``tools`` has a built-in's name and one of ``tools`` is
            cancellable.
    """
    tools = list(tools)
    if not any(tool.info.cancellable for tool in tools):
        return
    for tool in tools:
        if tool.name in BUILTIN_TOOL_NAMES:
            raise ValueError(
                f"two different tools are named {tool.name!r}: yours and the built-in one "
                "that lists or cancels running calls (added because a cancellable tool is "
                "visible); give yours another name with function_tool(name=...)"
            )


@final
class RunningCallTools:
    """The list and cancel tools for the calls of one session.

    Args:
        registry: The session's running-call registry.
    """

    def __init__(self, registry: CallRegistry) -> None:
        self._registry = registry

    @property
    def tools(self) -> list[Tool]:
        """Both tools, bound to this registry."""
        return [self.get_running_tasks, self.cancel_task]

    @function_tool(name=LIST_TOOL_NAME)
    async def get_running_tasks(self) -> str:
        """List the tool calls still running in the background that can be cancelled.

        Returns a JSON list with the call_id, name and arguments of each.
        """
        running = self._registry.running(cancellable_only=True)
        return json.dumps(
            [{"call_id": c.call_id, "name": c.name, "arguments": c.arguments} for c in running]
        )

    @function_tool(name=CANCEL_TOOL_NAME)
    async def cancel_task(self, call_id: str) -> str:
        """Cancel a tool call running in the background.

        Only do this when the user explicitly asks to stop it.

        Args:
            call_id: The call_id of the running call, as listed by the list tool.
        """
        answer = await self._registry.cancel(call_id)
        if answer is CancelAnswer.COMMITTED:
            return f"too late: call `{call_id}` already committed, will finish"
        return f"call `{call_id}` was cancelled"
