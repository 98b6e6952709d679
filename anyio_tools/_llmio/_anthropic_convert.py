"""Chat context and tools to an Anthropic Messages API request (issue #13 item 2).

Built from the blocks of `plan`: each step is one assistant message (text, then ``tool_use``
blocks) followed by one user message that starts with a ``tool_result`` block per call; user
texts join that user message after the results, so roles alternate. System messages of the
history join the top-level ``system`` text. Pure: no network, no client library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final, Literal

from anyio_tools._chat import ChatContext, ChatMessage
from anyio_tools._tools import Tool
from anyio_tools.runtime import LLMRequest, ToolChoice

from ._steps import AnsweredCall, Said, plan
from ._tool_schemas import anthropic_tool, tool_list

__all__ = [
    "CONTINUE_TEXT",
    "OPENING_TEXT",
    "anthropic_messages",
    "anthropic_request",
    "anthropic_system",
    "anthropic_tools",
]

OPENING_TEXT: Final = "(The conversation starts.)"
"""The user text put first when the conversation would start with the assistant (or is empty)."""

CONTINUE_TEXT: Final = "(Continue.)"
"""The user text put last when the conversation ends with the assistant, which Anthropic would
otherwise take as the start of the answer to continue."""

_INVALID_ID_CHARS: Final = re.compile(r"[^a-zA-Z0-9_-]")
_TOOL_CHOICE: Final[dict[ToolChoice, str]] = {"auto": "auto", "none": "none", "required": "any"}


def _tool_id(call_id: str) -> str:
    return _INVALID_ID_CHARS.sub("_", call_id) or "call"


def _append(
    messages: list[dict[str, Any]], role: Literal["user", "assistant"], blocks: list[Any]
) -> None:
    if not blocks:
        return
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _result(call: AnsweredCall) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": _tool_id(call.call_id)}
    if call.output:
        block["content"] = call.output
    if call.is_error:
        block["is_error"] = True
    return block


def anthropic_messages(
    chat_ctx: ChatContext, *, tools_defined: bool = True
) -> list[dict[str, Any]]:
    """Convert a chat context to Anthropic ``messages`` (roles alternate, user first and last).

    Args:
        chat_ctx: The conversation.
        tools_defined: Whether the request defines tools. Anthropic rejects ``tool_use`` and
            ``tool_result`` blocks in a request without tools (an agent without tools after a
            handoff), so then calls and answers are written as text.

    Returns:
        New dicts. Starts with `OPENING_TEXT` when the history does not start with the user
        (or is empty), ends with `CONTINUE_TEXT` when it ends with the assistant.
    """
    messages: list[dict[str, Any]] = []
    for block in plan(chat_ctx.items):
        if isinstance(block, Said):
            if block.role == "user":
                _append(messages, "user", [{"type": "text", "text": block.text}])
            continue
        said: list[dict[str, Any]] = []
        if block.text.strip():
            said.append({"type": "text", "text": block.text})
        if tools_defined:
            said.extend(
                {"type": "tool_use", "id": _tool_id(c.call_id), "name": c.name, "input": c.input}
                for c in block.calls
            )
            _append(messages, "assistant", said)
            _append(messages, "user", [_result(call) for call in block.calls])
        else:
            said.extend(
                {"type": "text", "text": f"(called {c.name} {json.dumps(c.input)})"}
                for c in block.calls
            )
            _append(messages, "assistant", said)
            _append(
                messages,
                "user",
                [
                    {"type": "text", "text": f"(result of {c.name}: {c.output or 'nothing'})"}
                    for c in block.calls
                ],
            )
    if not messages or messages[0]["role"] != "user":
        messages.insert(0, {"role": "user", "content": [{"type": "text", "text": OPENING_TEXT}]})
    if messages[-1]["role"] == "assistant":
        messages.append({"role": "user", "content": [{"type": "text", "text": CONTINUE_TEXT}]})
    return messages


def anthropic_system(
    chat_ctx: ChatContext, *, instructions: str | None = None, extra_instructions: str | None = None
) -> str:
    """Join the instructions, the history's system messages and extra instructions, in order."""
    parts = [instructions] if instructions else []
    parts.extend(
        item.content
        for item in chat_ctx.items
        if isinstance(item, ChatMessage)
        and item.role in ("system", "developer")
        and item.content.strip()
    )
    if extra_instructions:
        parts.append(extra_instructions)
    return "\n\n".join(parts)


def anthropic_tools(tools: Sequence[Tool], *, strict: bool = False) -> list[dict[str, Any]]:
    """Convert tools to Anthropic ``tools`` (name, description, ``input_schema``).

    Args:
        tools: The tools.
        strict: Mark tools ``strict`` (Anthropic then guarantees inputs that match the schema,
            on the models that support it), with the strict variant of their schema.
    """
    return [anthropic_tool(tool, strict=strict) for tool in tool_list(tools)]


def anthropic_request(request: LLMRequest, *, strict: bool = False) -> dict[str, Any]:
    """Build the body of a Messages API request (without ``model``, ``max_tokens``, ``stream``).

    Args:
        request: What the runtime asks the LLM.
        strict: Ask for strict tool inputs (see `anthropic_tools`).

    Returns:
        ``messages``, ``system`` when there is any, and ``tools`` with ``tool_choice`` (``none``,
        ``auto``, or ``any`` for "required") when there are tools.
    """
    body: dict[str, Any] = {
        "messages": anthropic_messages(request.chat_ctx, tools_defined=bool(request.tools))
    }
    system = anthropic_system(
        request.chat_ctx,
        instructions=request.instructions,
        extra_instructions=request.extra_instructions,
    )
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = anthropic_tools(request.tools, strict=strict)
        body["tool_choice"] = {"type": _TOOL_CHOICE[request.tool_choice]}
    return body
