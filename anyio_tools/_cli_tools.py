"""Command line helpers: load tools named ``module:attribute`` and print their schemas (issue
#14).

``schema`` formats: ``openai`` (function tools), ``anthropic`` (``name``, ``description``,
``input_schema``), ``mcp`` (the MCP listing; needs the ``mcp`` extra).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from typing import Any, Final

from ._tools import Tool, is_tool
from ._toolsets import Toolset, ToolsetItem, flatten_tools

__all__ = ["SCHEMA_FORMATS", "load_tools", "schemas"]

SCHEMA_FORMATS: Final = ("openai", "anthropic", "mcp")


def load_tools(spec: str) -> list[ToolsetItem]:
    """Import ``module:attribute`` and return the tools it names.

    The attribute may be a tool, a toolset, or a list or tuple of them.

    Raises:
        ValueError: *spec* is not ``module:attribute``, or names nothing usable.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected module:attribute (e.g. 'my_tools:toolset'), got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r}: {exc}") from exc
    value: Any = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attribute!r}") from None
    items = list(value) if isinstance(value, list | tuple) else [value]
    for item in items:
        if not (is_tool(item) or isinstance(item, Toolset)):
            raise ValueError(
                f"{spec} holds {item!r}; expected a tool, a Toolset, or a list of them"
            )
    return items


def _openai(tool: Tool) -> dict[str, Any]:
    return {"type": "function", "function": tool.schema()}


def _anthropic(tool: Tool) -> dict[str, Any]:
    schema = tool.schema()
    out: dict[str, Any] = {"name": schema["name"]}
    if "description" in schema:
        out["description"] = schema["description"]
    out["input_schema"] = schema["parameters"]
    return out


def schemas(items: Sequence[ToolsetItem], fmt: str) -> str:
    """Return the JSON text of the schemas of every tool in ``items``, in format ``fmt``.

    Raises:
        ValueError: An unknown format, or two different tools share a name.
    """
    tools = flatten_tools(items)
    if fmt == "openai":
        listed = [_openai(tool) for tool in tools]
    elif fmt == "anthropic":
        listed = [_anthropic(tool) for tool in tools]
    elif fmt == "mcp":
        # The optional extra: only this format needs the SDK.
        from .mcp import mcp_tool

        listed = [
            mcp_tool(tool).model_dump(by_alias=True, mode="json", exclude_none=True)
            for tool in tools
        ]
    else:
        raise ValueError(f"format must be one of {', '.join(SCHEMA_FORMATS)}, got {fmt!r}")
    return json.dumps(listed, indent=2)
