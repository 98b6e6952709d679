"""Between MCP results and ours: progress texts, tool results, call results (SPEC DEC-11,
GAP-10; issue #14)."""

from __future__ import annotations

import json
from typing import Any

import mcp_types

from anyio_tools._errors import ToolError
from anyio_tools._events import CallStatus
from anyio_tools._outcomes import CallResult
from anyio_tools._values import CANCELLED_TEXT

from ._wire import Progress

__all__ = ["call_tool_result", "render_progress", "result_value"]


def render_progress(item: Progress) -> str:
    """Return the update text for one progress notification.

    The message as it is; with a total, ``"message (3/10)"``; without a message,
    ``"progress 3/10"`` (or ``"progress 3"``).
    """
    progress, total, message = item
    amount = f"{progress:g}" if total is None else f"{progress:g}/{total:g}"
    if message:
        return message if total is None else f"{message} ({amount})"
    return f"progress {amount}"


def _content_text(item: mcp_types.ContentBlock) -> str:
    if isinstance(item, mcp_types.TextContent):
        return item.text
    # GAP-10: images, audio and resources are passed on as their JSON.
    return item.model_dump_json(by_alias=True, exclude_none=True)


def result_value(name: str, result: mcp_types.CallToolResult) -> Any:
    """Return what one MCP tool result gives the LLM.

    Structured content wins (it is rendered as JSON); else the text of the content items,
    one per line (other kinds as their JSON).

    Raises:
        ToolError: The result is an error (``isError``), or has no content at all.
    """
    texts = [_content_text(item) for item in result.content]
    if result.is_error:
        raise ToolError("\n".join(texts) or f"the MCP tool `{name}` reported an error")
    if result.structured_content is not None:
        return result.structured_content
    if not texts:
        raise ToolError(f"the MCP tool `{name}` returned no content")
    return "\n".join(texts)


def call_tool_result(result: CallResult) -> mcp_types.CallToolResult:
    """Return the MCP result for how one of our calls ended.

    A value that is a JSON object also goes out as structured content.
    """
    structured: dict[str, Any] | None = None
    if result.status is CallStatus.DONE and isinstance(result.value, dict):
        try:
            structured = json.loads(json.dumps(result.value))
        except (TypeError, ValueError):
            structured = None
    text = result.output
    if text is None:
        text = "" if result.status is CallStatus.DONE else (result.reason or CANCELLED_TEXT)
    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(type="text", text=text)],
        structured_content=structured,
        is_error=result.status is not CallStatus.DONE,
    )
