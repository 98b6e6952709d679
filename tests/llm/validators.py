"""Request validators that reject what the real provider APIs reject (HTTP 400).

Each function returns the list of rule violations of one request body (empty: valid). The rules
are those the providers document and enforce: for OpenAI Chat Completions, an assistant message
with ``tool_calls`` must be followed at once by one ``tool`` message per call id, and a ``tool``
message must answer such a call; for the Responses API, every ``function_call`` has exactly one
``function_call_output`` after it and every output a call before it; for Anthropic, roles
alternate starting with ``user``, ``tool_use`` blocks only in assistant messages and answered
by ``tool_result`` blocks placed first in the very next user message, unique ids, non-empty
text, tools defined whenever tool blocks occur, no trailing whitespace in a final assistant
message. Chat Completions call ids are at most 40 characters. Tool schemas: names ``^[a-zA-Z0-9_-]{1,64}$``, unique, object parameter schemas, and
strict schemas that require every property and forbid additional ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def _strict_ok(schema: Any, path: str = "parameters") -> Iterator[str]:
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            if schema.get("additionalProperties") is not False:
                yield f"strict schema {path}: 'additionalProperties' must be false"
            if set(schema.get("required", [])) != set(properties):
                yield f"strict schema {path}: 'required' must list every key in properties"
        for key, value in schema.items():
            yield from _strict_ok(value, f"{path}.{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _strict_ok(value, f"{path}[{index}]")


def _function_errors(function: Any, where: str) -> Iterator[str]:
    if not isinstance(function, dict):
        yield f"{where}: must be an object"
        return
    name = function.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        yield f"{where}.name: {name!r} does not match ^[a-zA-Z0-9_-]{{1,64}}$"
    parameters = function.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        yield f"{where}.parameters: must be a JSON schema of type object"
    if function.get("strict"):
        yield from _strict_ok(parameters)
    if "description" in function and not isinstance(function["description"], str):
        yield f"{where}.description: must be a string"


def _tool_choice_errors(body: dict[str, Any], allowed: tuple[str, ...]) -> Iterator[str]:
    choice = body.get("tool_choice")
    if choice is None:
        return
    if not body.get("tools"):
        yield "tool_choice is only allowed when tools are specified"
    if isinstance(choice, str) and choice not in allowed:
        yield f"tool_choice: {choice!r} is not one of {allowed}"


def _unique_names(names: list[Any]) -> Iterator[str]:
    if len(names) != len(set(map(str, names))):
        yield f"tools: duplicate function names {names}"


def openai_chat(body: dict[str, Any]) -> list[str]:
    """Violations of a Chat Completions request."""
    errors: list[str] = []
    if not isinstance(body.get("model"), str):
        errors.append("model: required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*errors, "messages: must be a non-empty array"]
    waiting: set[str] = set()  # call ids that still need their tool message
    answerable: set[str] = set()  # call ids of the latest assistant message with tool_calls
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        role = message.get("role")
        if waiting and role != "tool":
            errors.append(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                f"responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(sorted(waiting))} (at {where})"
            )
            waiting = set()
        if role in ("system", "developer", "user"):
            if not isinstance(message.get("content"), str):
                errors.append(f"{where}.content: must be a string")
            answerable = set()
        elif role == "assistant":
            calls = message.get("tool_calls")
            content = message.get("content")
            if content is not None and not isinstance(content, str):
                errors.append(f"{where}.content: must be a string or null")
            if calls is None:
                if content is None:
                    errors.append(f"{where}: content is required unless tool_calls is given")
                answerable = set()
                continue
            if not isinstance(calls, list) or not calls:
                errors.append(f"{where}.tool_calls: must be a non-empty array")
                continue
            ids = [call.get("id") for call in calls]
            if len(set(ids)) != len(ids) or not all(isinstance(i, str) and i for i in ids):
                errors.append(f"{where}.tool_calls: ids must be unique non-empty strings")
            for position, call_id in enumerate(ids):
                if isinstance(call_id, str) and len(call_id) > 40:
                    errors.append(
                        f"Invalid '{where}.tool_calls[{position}].id': string too long. Expected "
                        f"a string with maximum length 40, but got a string with length "
                        f"{len(call_id)} instead."
                    )
            for call in calls:
                if call.get("type") != "function":
                    errors.append(f"{where}.tool_calls: type must be 'function'")
                function = call.get("function") or {}
                if not isinstance(function.get("arguments"), str):
                    errors.append(f"{where}.tool_calls: arguments must be a string")
                if not isinstance(function.get("name"), str):
                    errors.append(f"{where}.tool_calls: name must be a string")
            waiting = set(ids)
            answerable = set(ids)
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in answerable:
                errors.append(
                    f"{where}: messages with role 'tool' must be a response to a preceding "
                    f"message with 'tool_calls' (tool_call_id {call_id!r})"
                )
            elif call_id not in waiting:
                errors.append(f"{where}: tool_call_id {call_id!r} was answered twice")
            waiting.discard(call_id)
            if not isinstance(message.get("content"), str):
                errors.append(f"{where}.content: must be a string")
        else:
            errors.append(f"{where}.role: {role!r} is not a valid role")
    if waiting:
        errors.append(f"tool_call_ids without response messages: {', '.join(sorted(waiting))}")
    tools = body.get("tools") or []
    for index, tool in enumerate(tools):
        if tool.get("type") != "function":
            errors.append(f"tools[{index}].type: must be 'function'")
        errors.extend(_function_errors(tool.get("function"), f"tools[{index}].function"))
    errors.extend(_unique_names([(t.get("function") or {}).get("name") for t in tools]))
    errors.extend(_tool_choice_errors(body, ("auto", "none", "required")))
    return errors


def openai_responses(body: dict[str, Any]) -> list[str]:
    """Violations of a Responses API request."""
    errors: list[str] = []
    if not isinstance(body.get("model"), str):
        errors.append("model: required")
    items = body.get("input")
    if not isinstance(items, list):
        return [*errors, "input: must be an array"]
    if "instructions" in body and not isinstance(body["instructions"], str):
        errors.append("instructions: must be a string")
    calls: dict[str, int] = {}
    answered: set[str] = set()
    for index, item in enumerate(items):
        where = f"input[{index}]"
        kind = item.get("type", "message")
        if kind == "message":
            if item.get("role") not in ("user", "assistant", "system", "developer"):
                errors.append(f"{where}.role: {item.get('role')!r} is not valid")
            if not isinstance(item.get("content"), str | list):
                errors.append(f"{where}.content: must be a string or an array")
        elif kind == "function_call":
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                errors.append(f"{where}.call_id: required")
            elif call_id in calls:
                errors.append(f"{where}: duplicate function_call call_id {call_id!r}")
            calls[str(call_id)] = index
            if not isinstance(item.get("arguments"), str) or not isinstance(item.get("name"), str):
                errors.append(f"{where}: name and arguments must be strings")
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if call_id not in calls:
                errors.append(
                    f"No tool call found for function call output with call_id {call_id}."
                )
            elif call_id in answered:
                errors.append(f"{where}: a second output for call_id {call_id}")
            answered.add(str(call_id))
            if not isinstance(item.get("output"), str | list):
                errors.append(f"{where}.output: must be a string or an array")
        else:
            errors.append(f"{where}.type: {kind!r} is not supported here")
    for call_id in calls.keys() - answered:
        errors.append(f"No tool output found for function call {call_id}.")
    tools = body.get("tools") or []
    for index, tool in enumerate(tools):
        if tool.get("type") != "function":
            errors.append(f"tools[{index}].type: must be 'function'")
        errors.extend(_function_errors(tool, f"tools[{index}]"))
    errors.extend(_unique_names([t.get("name") for t in tools]))
    errors.extend(_tool_choice_errors(body, ("auto", "none", "required")))
    return errors


def _anthropic_text_ok(text: Any, where: str) -> Iterator[str]:
    if not isinstance(text, str) or not text:
        yield f"{where}: text content blocks must be non-empty"
    elif not text.strip():
        yield f"{where}: text content blocks must contain non-whitespace text"


def anthropic_messages(body: dict[str, Any]) -> list[str]:
    """Violations of an Anthropic Messages API request."""
    errors: list[str] = []
    if not isinstance(body.get("model"), str):
        errors.append("model: Field required")
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        errors.append("max_tokens: Field required (a positive integer)")
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        errors.append("system: must be a string or an array of text blocks")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*errors, "messages: at least one message is required"]
    has_tool_blocks = False
    seen_ids: set[str] = set()
    pending: list[str] = []  # tool_use ids of the previous assistant message
    previous_role = None
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        role = message.get("role")
        if role not in ("user", "assistant"):
            errors.append(f"{where}.role: Input should be 'user' or 'assistant'")
            continue
        if index == 0 and role != "user":
            errors.append("messages: first message must use the 'user' role")
        if role == previous_role:
            errors.append(f"{where}: roles must alternate between 'user' and 'assistant'")
        previous_role = role
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            errors.append(f"{where}: all messages must have non-empty content")
            pending = []
            continue
        results: list[str] = []
        after_other = False
        for position, block in enumerate(blocks):
            spot = f"{where}.content.{position}"
            kind = block.get("type")
            if kind == "text":
                errors.extend(_anthropic_text_ok(block.get("text"), spot))
                after_other = True
            elif kind == "tool_use":
                has_tool_blocks = True
                if role != "assistant":
                    errors.append(f"{spot}: tool_use blocks are only allowed in assistant turns")
                tool_id = block.get("id")
                if not isinstance(tool_id, str) or not _TOOL_USE_ID.match(tool_id):
                    errors.append(f"{spot}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
                elif tool_id in seen_ids:
                    errors.append(f"{spot}: tool_use ids must be unique ({tool_id})")
                seen_ids.add(str(tool_id))
                if not isinstance(block.get("input"), dict):
                    errors.append(f"{spot}.input: Input should be a valid dictionary")
                if not isinstance(block.get("name"), str):
                    errors.append(f"{spot}.name: Field required")
            elif kind == "tool_result":
                has_tool_blocks = True
                if role != "user":
                    errors.append(f"{spot}: tool_result blocks are only allowed in user turns")
                if after_other:
                    errors.append(
                        f"{spot}: tool_result blocks must come first in the user message, "
                        "before any other content"
                    )
                results.append(str(block.get("tool_use_id")))
                if "is_error" in block and not isinstance(block["is_error"], bool):
                    errors.append(f"{spot}.is_error: must be a boolean")
            else:
                errors.append(f"{spot}.type: {kind!r} is not supported here")
        if role == "user":
            unexpected = [r for r in results if r not in pending]
            if unexpected:
                errors.append(
                    f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{', '.join(unexpected)}. Each `tool_result` block must have a "
                    "corresponding `tool_use` block in the previous message."
                )
            missing = [p for p in pending if p not in results]
            if missing:
                errors.append(
                    f"{where}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}"
                )
            if len(results) != len(set(results)):
                errors.append(f"{where}: a tool_use id was answered twice")
            pending = []
        else:
            pending = [str(block.get("id")) for block in blocks if block.get("type") == "tool_use"]
    if pending:
        errors.append(
            f"`tool_use` ids were found without `tool_result` blocks immediately after: "
            f"{', '.join(pending)}"
        )
    last = messages[-1]
    if last.get("role") == "assistant":
        content = last.get("content")
        text = content if isinstance(content, str) else (content or [{}])[-1].get("text")
        if isinstance(text, str) and text != text.rstrip():
            errors.append("final assistant content cannot end with trailing whitespace")
    tools = body.get("tools") or []
    if has_tool_blocks and not tools:
        errors.append(
            "Requests which include `tool_use` or `tool_result` blocks must define tools."
        )
    for index, tool in enumerate(tools):
        name = tool.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            errors.append(f"tools.{index}.name: does not match ^[a-zA-Z0-9_-]{{1,64}}$")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            errors.append(f"tools.{index}.input_schema: must be a JSON schema of type object")
        elif tool.get("strict"):
            errors.extend(_strict_ok(schema, f"tools.{index}.input_schema"))
    errors.extend(_unique_names([t.get("name") for t in tools]))
    choice = body.get("tool_choice")
    if choice is not None:
        if not tools:
            errors.append("tool_choice may only be specified while providing tools")
        if not isinstance(choice, dict) or choice.get("type") not in (
            "auto",
            "any",
            "tool",
            "none",
        ):
            errors.append(f"tool_choice: {choice!r} is not valid")
    return errors
