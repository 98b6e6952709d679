"""``AsyncToolset``: a toolset with its own executor (SPEC SCO-1..3, OPT-2).

On a session it is session-scoped: its calls survive handoffs and their replies go to the
agent current at delivery. On an agent it is activity-scoped: a fresh executor per
activation, drained with the activity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from anyio_tools._options import ToolHandlingOptions, ToolOptions
from anyio_tools._toolsets import Toolset, ToolsetItem

__all__ = ["AsyncToolset"]


class AsyncToolset(Toolset):
    """A toolset whose tools run on an executor of their own.

    Subclasses may load their tools in ``setup()`` (``anyio_tools.mcp.MCPToolset`` does).

    Args:
        id: A name for the toolset (used in task names and logs).
        tools: Tools and nested toolsets.
        tool_handling: Options for these tools; they win over the agent's and the
            session's, as a whole set.
        on_duplicate_call: Removed; raises `TypeError`.

    Raises:
        TypeError: *on_duplicate_call* was given.
        ValueError: Bad *tool_handling* options.
    """

    def __init__(
        self,
        *,
        id: str,
        tools: Sequence[ToolsetItem] | None = None,
        tool_handling: ToolHandlingOptions | Mapping[str, Any] | None = None,
        on_duplicate_call: object = None,
    ) -> None:
        if on_duplicate_call is not None:
            raise TypeError(
                "AsyncToolset(on_duplicate_call=...) was removed; set on_duplicate=... on "
                "each @function_tool instead, e.g. @function_tool(on_duplicate='confirm')"
            )
        super().__init__(id=id, tools=tools or ())
        self._options = ToolOptions.from_tool_handling(tool_handling)

    @property
    def tool_options(self) -> ToolOptions | None:
        """The toolset's own resolved options, if it has any."""
        return self._options
