"""Chat context and tools to OpenAI requests: Chat Completions and Responses (issue #13 item 2).

Both shapes are built from the blocks of `plan`, so each step is one assistant turn followed by
the answers of all its calls, before anything else (see ``_steps`` for the regrouping rules).
Pure: no network, no client library.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from anyio_tools._chat import ChatContext
from anyio_tools._tools import Tool
from anyio_tools.runtime import LLMRequest

from ._steps import Said, plan
from ._tool_schemas import openai_chat_tool, openai_responses_tool, tool_list

__all__ = [
    "chat_messages",
    "chat_request",
    "chat_tools",
    "responses_input",
    "responses_request",
    "responses_tools",
]


def chat_messages(
    chat_ctx: ChatContext, *, instructions: str | None = None, extra_instructions: str | None = None
) -> list[dict[str, Any]]:
    """Convert a chat context to Chat Completions ``messages``.

    Args:
        chat_ctx: The conversation.
        instructions: Put first, as a system message, when not empty.
        extra_instructions: Put last, as a system message, when not empty (a deferred reply's
            instructions concern this generation only).

    Returns:
        New dicts: system, user, assistant (with ``tool_calls``) and ``tool`` messages.
    """
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for block in plan(chat_ctx.items):
        if isinstance(block, Said):
            messages.append({"role": block.role, "content": block.text})
            continue
        assistant: dict[str, Any] = {"role": "assistant", "content": block.text or None}
        if block.calls:
            assistant["tool_calls"] = [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in block.calls
            ]
        messages.append(assistant)
        messages.extend(
            {"role": "tool", "tool_call_id": call.call_id, "content": call.output}
            for call in block.calls
        )
    if extra_instructions:
        messages.append({"role": "system", "content": extra_instructions})
    return messages


def chat_tools(tools: Sequence[Tool], *, strict: bool = True) -> list[dict[str, Any]]:
    """Convert tools to Chat Completions ``tools`` (``strict`` where the schema allows it)."""
    return [openai_chat_tool(tool, strict=strict) for tool in tool_list(tools)]


def chat_request(request: LLMRequest, *, strict: bool = True) -> dict[str, Any]:
    """Build the body of a Chat Completions request (without ``model`` and ``stream``).

    Args:
        request: What the runtime asks the LLM.
        strict: Ask for strict tool arguments where the schema allows it.

    Returns:
        ``messages``, and ``tools`` with ``tool_choice`` when there are tools.
    """
    body: dict[str, Any] = {
        "messages": chat_messages(
            request.chat_ctx,
            instructions=request.instructions,
            extra_instructions=request.extra_instructions,
        )
    }
    if request.tools:
        body["tools"] = chat_tools(request.tools, strict=strict)
        body["tool_choice"] = request.tool_choice
    return body


def responses_input(chat_ctx: ChatContext) -> list[dict[str, Any]]:
    """Convert a chat context to Responses API ``input`` items.

    Messages become ``message`` items; each step's calls become ``function_call`` items right
    after its text, followed by one ``function_call_output`` per call.
    """
    items: list[dict[str, Any]] = []
    for block in plan(chat_ctx.items):
        if isinstance(block, Said):
            items.append({"type": "message", "role": block.role, "content": block.text})
            continue
        if block.text:
            items.append({"type": "message", "role": "assistant", "content": block.text})
        items.extend(
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            }
            for call in block.calls
        )
        items.extend(
            {"type": "function_call_output", "call_id": call.call_id, "output": call.output}
            for call in block.calls
        )
    return items


def responses_tools(tools: Sequence[Tool], *, strict: bool = True) -> list[dict[str, Any]]:
    """Convert tools to Responses API ``tools`` (``strict`` where the schema allows it)."""
    return [openai_responses_tool(tool, strict=strict) for tool in tool_list(tools)]


def responses_request(request: LLMRequest, *, strict: bool = True) -> dict[str, Any]:
    """Build the body of a Responses API request (without ``model`` and ``stream``).

    The agent's instructions and a deferred reply's extra instructions become ``instructions``.
    """
    body: dict[str, Any] = {"input": responses_input(request.chat_ctx)}
    instructions = "\n\n".join(
        text for text in (request.instructions, request.extra_instructions) if text
    )
    if instructions:
        body["instructions"] = instructions
    if request.tools:
        body["tools"] = responses_tools(request.tools, strict=strict)
        body["tool_choice"] = request.tool_choice
    return body
