"""Tool definitions in each provider's shape (issue #13 item 2; SPEC DEC-6).

A `FunctionTool`'s strict schema (every property required, no additional properties) is what
OpenAI's strict mode accepts; a raw tool's schema is sent as declared and marked strict only
when it already follows those rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from anyio_tools._tools import FunctionTool, Tool

__all__ = ["anthropic_tool", "openai_chat_tool", "openai_responses_tool", "strict_compatible"]


def strict_compatible(schema: object) -> bool:
    """Whether every object in a JSON schema lists all its properties as required and forbids
    additional ones (what OpenAI's strict mode demands)."""
    if isinstance(schema, Mapping):
        if schema.get("type") == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            if schema.get("additionalProperties", True) is not False:
                return False
            if set(schema.get("required", ())) != set(properties):
                return False
        return all(strict_compatible(value) for value in schema.values())
    if isinstance(schema, list):
        return all(strict_compatible(value) for value in schema)
    return True


def _function(tool: Tool, strict: bool) -> dict[str, Any]:
    if strict and isinstance(tool, FunctionTool):
        return dict(tool.schema(strict=True))
    schema = dict(tool.schema())
    if strict and strict_compatible(schema["parameters"]):
        schema["strict"] = True
    return schema


def openai_chat_tool(tool: Tool, *, strict: bool = True) -> dict[str, Any]:
    """Describe a tool for Chat Completions: ``{"type": "function", "function": {...}}``."""
    return {"type": "function", "function": _function(tool, strict)}


def openai_responses_tool(tool: Tool, *, strict: bool = True) -> dict[str, Any]:
    """Describe a tool for the Responses API: a flat ``{"type": "function", "name": ...}``."""
    function = _function(tool, strict)
    result: dict[str, Any] = {"type": "function", "name": function["name"]}
    if "description" in function:
        result["description"] = function["description"]
    result["parameters"] = function["parameters"]
    result["strict"] = bool(function.get("strict", False))
    return result


def anthropic_tool(tool: Tool, *, strict: bool = False) -> dict[str, Any]:
    """Describe a tool for Anthropic's Messages API: name, description, ``input_schema``, and
    ``strict`` (the same strict schema as OpenAI's) when asked and the schema allows it."""
    function = _function(tool, strict)
    result: dict[str, Any] = {"name": function["name"]}
    if "description" in function:
        result["description"] = function["description"]
    parameters = dict(function["parameters"])
    parameters.setdefault("type", "object")
    result["input_schema"] = parameters
    if function.get("strict"):
        result["strict"] = True
    return result


def tool_list(tools: Sequence[Tool]) -> list[Tool]:
    """The tools in order, the first of each name kept (providers reject duplicate names)."""
    seen: set[str] = set()
    kept: list[Tool] = []
    for tool in tools:
        if tool.name not in seen:
            seen.add(tool.name)
            kept.append(tool)
    return kept
