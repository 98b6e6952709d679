"""Agents: instructions, tools, an optional LLM, and their own chat context (SPEC CON-2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from anyio.lowlevel import checkpoint

from anyio_tools._chat import ChatContext
from anyio_tools._options import ToolHandlingOptions, ToolOptions
from anyio_tools._toolsets import ToolsetItem, collect_member_tools
from anyio_tools._values import HandoffAgent

from ._llm import LLM

__all__ = ["Agent"]


class Agent(HandoffAgent):
    """An agent the session can run; a tool that returns one hands the conversation to it.

    Subclass it to add tools as methods (``@function_tool`` on a method binds to the
    instance) and to override `on_enter` and `on_exit`.

    Args:
        instructions: The agent's system instructions.
        tools: Tools, toolsets and ``AsyncToolset`` objects of this agent.
        llm: The agent's LLM; the session's if None.
        tool_handling: Options for this agent's tools (``{"async_options": {...}}``).
        name: A name for logs and handoff markers; the class name by default.
        chat_ctx: The initial chat context (copied).

    Raises:
        ValueError: Bad *tool_handling* options.
    """

    def __init__(
        self,
        *,
        instructions: str,
        tools: Sequence[ToolsetItem] = (),
        llm: LLM | None = None,
        tool_handling: ToolHandlingOptions | Mapping[str, Any] | None = None,
        name: str | None = None,
        chat_ctx: ChatContext | None = None,
    ) -> None:
        self._instructions = instructions
        self._tools: list[ToolsetItem] = [*collect_member_tools(self), *tools]
        self._llm = llm
        self._options = ToolOptions.from_tool_handling(tool_handling)
        self._name = name if name is not None else type(self).__name__
        self._chat_ctx = chat_ctx.copy() if chat_ctx is not None else ChatContext()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r}>"

    @property
    def name(self) -> str:
        """The agent's name."""
        return self._name

    @property
    def instructions(self) -> str:
        """The agent's system instructions."""
        return self._instructions

    @property
    def tools(self) -> list[ToolsetItem]:
        """The agent's tools and toolsets (a copy)."""
        return list(self._tools)

    @property
    def llm(self) -> LLM | None:
        """The agent's own LLM, if any."""
        return self._llm

    @property
    def tool_options(self) -> ToolOptions | None:
        """The agent's resolved tool options, if it has any."""
        return self._options

    @property
    def chat_ctx(self) -> ChatContext:
        """The agent's chat context (the live one; read it, change it with
        `update_chat_ctx`)."""
        return self._chat_ctx

    def update_chat_ctx(self, chat_ctx: ChatContext) -> None:
        """Replace the agent's chat context with a copy of ``chat_ctx``."""
        self._chat_ctx = chat_ctx.copy()

    async def on_enter(self) -> None:
        """Run when the agent becomes active (override it; the default does nothing)."""
        await checkpoint()

    async def on_exit(self) -> None:
        """Run when the agent stops being active (override it; the default does nothing)."""
        await checkpoint()
