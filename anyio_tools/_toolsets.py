"""Grouping tools: `Toolset`, member collection and flattening (SPEC DEC-4, DEC-9, DEC-10)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeAlias

import anyio
from anyio.lowlevel import checkpoint

from ._tools import FunctionTool, RawFunctionTool, Tool, is_tool

__all__ = ["Toolset", "ToolsetItem", "collect_member_tools", "flatten_tools", "walk_tools"]


def collect_member_tools(obj: object) -> list[Tool]:
    """Return the tools declared in the class body of ``obj``'s class, bound to ``obj``.

    Base classes come first, then each class in definition order; a subclass attribute of
    the same name replaces the base class's tool.
    """
    names: dict[str, None] = {}
    for klass in reversed(type(obj).__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, FunctionTool | RawFunctionTool):
                names[name] = None
    tools: list[Tool] = []
    for name in names:
        value = getattr(obj, name)
        if is_tool(value):
            tools.append(value)
    return tools


class Toolset:
    """A named group of tools and nested toolsets; transparent for routing.

    Subclasses may declare tools as methods with ``@function_tool``; they are collected and
    bound to the instance. Toolset ids need not be unique.

    Args:
        id: A name for the group (used in logs and task names).
        tools: Tools and nested toolsets.
    """

    def __init__(self, *, id: str, tools: Sequence[ToolsetItem] = ()) -> None:
        if not isinstance(id, str) or not id:
            raise ValueError(f"a toolset id must be a non-empty str, got {id!r}")
        for item in tools:
            if not (is_tool(item) or isinstance(item, Toolset)):
                raise TypeError(
                    f"toolset {id!r} got {item!r}; expected tools made with @function_tool "
                    "or nested Toolset objects"
                )
        self._id = id
        self._items: list[ToolsetItem] = [*collect_member_tools(self), *tools]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._id!r} ({len(self._items)} items)>"

    @property
    def id(self) -> str:
        """The toolset's name."""
        return self._id

    @property
    def tools(self) -> list[ToolsetItem]:
        """The direct items: tools and nested toolsets (a copy)."""
        return list(self._items)

    async def setup(self) -> None:
        """Prepare the toolset before first use; nested toolsets are set up concurrently.

        Subclasses that load tools (from a server, say) override this and call ``super()``.
        """
        nested = [item for item in self._items if isinstance(item, Toolset)]
        if not nested:
            await checkpoint()
            return
        async with anyio.create_task_group() as tg:
            for toolset in nested:
                tg.start_soon(toolset.setup, name=f"toolset-setup {toolset.id}")

    async def aclose(self) -> None:
        """Release what the toolset holds; nested toolsets are closed first."""
        for item in self._items:
            if isinstance(item, Toolset):
                await item.aclose()
        await checkpoint()


ToolsetItem: TypeAlias = Tool | Toolset
"""What a toolset (or an agent) may hold."""


def walk_tools(
    items: Sequence[ToolsetItem], path: tuple[Toolset, ...] = ()
) -> Iterator[tuple[Tool, tuple[Toolset, ...]]]:
    """Yield every tool with the chain of toolsets that encloses it, outermost first."""
    for item in items:
        if isinstance(item, Toolset):
            yield from walk_tools(item.tools, (*path, item))
        else:
            yield item, path


def flatten_tools(items: Sequence[ToolsetItem]) -> list[Tool]:
    """Return every tool reachable from ``items`` once, in order (DEC-10).

    The same tool object reached twice counts once.

    Raises:
        ValueError: Two different tools have the same name.
    """
    by_name: dict[str, Tool] = {}
    for tool, _ in walk_tools(items):
        seen = by_name.get(tool.name)
        if seen is None:
            by_name[tool.name] = tool
        elif seen.identity != tool.identity:
            raise ValueError(
                f"two different tools are named {tool.name!r}: {_describe(seen)} and "
                f"{_describe(tool)}; give one another name with function_tool(name=...)"
            )
    return list(by_name.values())


def _describe(tool: Tool) -> str:
    fn = tool.function
    where = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"
    return where if tool.instance is None else f"{where} (bound to {tool.instance!r})"
