"""Fake OpenAI (Chat Completions, Responses) and Anthropic servers for the adapter tests.

Each `FakeProvider` validates every request body with the rules of ``validators`` and answers a
violation with HTTP 400 in the provider's error shape, like the real API. A valid request is
summarised as a `View` (provider-neutral) and passed to the test's script, whose `Turn` is
streamed back in the provider's server-sent-event format.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import attrs

from anyio_tools.anthropic import CONTINUE_TEXT

from . import validators
from .fake_http import Received, Reply

Kind = Literal["chat", "responses", "anthropic"]


@attrs.frozen
class Turn:
    """What the fake model says: a text (streamed in words), then tool calls."""

    text: str = ""
    calls: tuple[tuple[str, dict[str, Any] | str], ...] = ()


@attrs.frozen
class View:
    """A valid request, provider-neutral: enough for a script to decide what to say."""

    system: str
    last_role: str  # "user", "assistant" or "tool": what the conversation ends with
    last_user_text: str | None
    outputs: tuple[tuple[str, str], ...]  # (tool name, output) answering the last step
    call_names: tuple[tuple[str, str], ...]  # (call id, name) of every call in the history
    tools: tuple[str, ...]
    tool_choice: str | None


Script = Callable[[View], Turn | Reply | str]


def _view_chat(body: dict[str, Any]) -> View:
    messages = body["messages"]
    system = "\n".join(m["content"] for m in messages if m["role"] in ("system", "developer"))
    names: dict[str, str] = {}
    for m in messages:
        for call in m.get("tool_calls") or ():
            names[call["id"]] = call["function"]["name"]
    trailing = [m for m in messages if m["role"] != "system"]
    outputs = []
    for m in reversed(trailing):
        if m["role"] != "tool":
            break
        outputs.insert(0, (names[m["tool_call_id"]], m["content"]))
    users = [m["content"] for m in messages if m["role"] == "user"]
    return View(
        system=system,
        last_role="tool" if outputs else trailing[-1]["role"] if trailing else "user",
        last_user_text=users[-1] if users else None,
        outputs=tuple(outputs),
        call_names=tuple(names.items()),
        tools=tuple(t["function"]["name"] for t in body.get("tools") or ()),
        tool_choice=body.get("tool_choice"),
    )


def _view_responses(body: dict[str, Any]) -> View:
    items = body["input"]
    names = {i["call_id"]: i["name"] for i in items if i.get("type") == "function_call"}
    outputs = []
    for item in reversed(items):
        if item.get("type") != "function_call_output":
            break
        outputs.insert(0, (names[item["call_id"]], item["output"]))
    users = [i["content"] for i in items if i.get("type") == "message" and i["role"] == "user"]
    system = "\n".join(
        [body.get("instructions", "")]
        + [i["content"] for i in items if i.get("type") == "message" and i["role"] == "system"]
    )
    last = items[-1] if items else {"role": "user"}
    return View(
        system=system,
        last_role="tool" if outputs else last.get("role", "assistant"),
        last_user_text=users[-1] if users else None,
        outputs=tuple(outputs),
        call_names=tuple(names.items()),
        tools=tuple(t["name"] for t in body.get("tools") or ()),
        tool_choice=body.get("tool_choice"),
    )


def _view_anthropic(body: dict[str, Any]) -> View:
    messages = body["messages"]
    names: dict[str, str] = {}
    users: list[str] = []
    for m in messages:
        for block in m["content"]:
            if block["type"] == "tool_use":
                names[block["id"]] = block["name"]
            elif (
                block["type"] == "text"
                and m["role"] == "user"
                and not block["text"].startswith("(")
            ):
                users.append(block["text"])
    last = messages[-1]["content"]
    outputs = tuple(
        (names[b["tool_use_id"]], b.get("content", "")) for b in last if b["type"] == "tool_result"
    )
    ends_with_text = last[-1]["type"] == "text"
    if ends_with_text and last[-1]["text"] == CONTINUE_TEXT:
        last_role = "assistant"
    else:
        last_role = "user" if ends_with_text or not outputs else "tool"
    choice = body.get("tool_choice")
    return View(
        system=body.get("system", ""),
        last_role=last_role,
        last_user_text=users[-1] if users else None,
        outputs=outputs,
        call_names=tuple(names.items()),
        tools=tuple(t["name"] for t in body.get("tools") or ()),
        tool_choice={"any": "required"}.get(choice["type"], choice["type"]) if choice else None,
    )


def _words(text: str) -> list[str]:
    words = text.split(" ") if text else []
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _arguments(value: dict[str, Any] | str) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _chat_events(turn: Turn, ids: Callable[[], str]) -> list[tuple[str | None, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> tuple[None, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return None, {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "fake",
            "choices": [choice],
        }

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": word}) for word in _words(turn.text)]
    for index, (name, arguments) in enumerate(turn.calls):
        text = _arguments(arguments)
        head = {"index": index, "id": ids(), "type": "function"}
        events.append(
            chunk({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
        )
        half = len(text) // 2  # arguments arrive in pieces, as they do from the real API
        for piece in (text[:half], text[half:]):
            events.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            )
    events.append(chunk({}, "tool_calls" if turn.calls else "stop"))
    events.append((None, "[DONE]"))
    return events


def _responses_events(turn: Turn, ids: Callable[[], str]) -> list[tuple[str | None, Any]]:
    response = {
        "id": "resp_1",
        "object": "response",
        "created_at": 0,
        "model": "fake",
        "status": "in_progress",
        "output": [],
        "tool_choice": "auto",
        "tools": [],
        "parallel_tool_calls": True,
    }
    events: list[tuple[str | None, Any]] = []
    seq = iter(range(1_000_000))

    def add(kind: str, **data: Any) -> None:
        events.append((kind, {"type": kind, "sequence_number": next(seq), **data}))

    add("response.created", response=response)
    output: list[dict[str, Any]] = []
    if turn.text:
        message = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": turn.text, "annotations": []}],
        }
        add(
            "response.output_item.added",
            output_index=0,
            item={**message, "status": "in_progress", "content": []},
        )
        for word in _words(turn.text):
            add(
                "response.output_text.delta",
                item_id="msg_1",
                output_index=0,
                content_index=0,
                delta=word,
                logprobs=[],
            )
        add("response.output_item.done", output_index=0, item=message)
        output.append(message)
    for name, arguments in turn.calls:
        item = {
            "id": f"fc_{len(output)}",
            "type": "function_call",
            "status": "completed",
            "call_id": ids(),
            "name": name,
            "arguments": _arguments(arguments),
        }
        add(
            "response.output_item.added",
            output_index=len(output),
            item={**item, "arguments": "", "status": "in_progress"},
        )
        add(
            "response.function_call_arguments.delta",
            item_id=item["id"],
            output_index=len(output),
            delta=item["arguments"],
        )
        add("response.output_item.done", output_index=len(output), item=item)
        output.append(item)
    add("response.completed", response={**response, "status": "completed", "output": output})
    return events


def _anthropic_events(turn: Turn, ids: Callable[[], str]) -> list[tuple[str | None, Any]]:
    events: list[tuple[str | None, Any]] = []

    def add(kind: str, **data: Any) -> None:
        events.append((kind, {"type": kind, **data}))

    usage = {"input_tokens": 1, "output_tokens": 1}
    add(
        "message_start",
        message={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "fake",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        },
    )
    index = 0
    if turn.text:
        add("content_block_start", index=0, content_block={"type": "text", "text": ""})
        events.append(("ping", {"type": "ping"}))
        for word in _words(turn.text):
            add("content_block_delta", index=0, delta={"type": "text_delta", "text": word})
        add("content_block_stop", index=0)
        index = 1
    for name, arguments in turn.calls:
        text = _arguments(arguments)
        add(
            "content_block_start",
            index=index,
            content_block={"type": "tool_use", "id": ids(), "name": name, "input": {}},
        )
        half = len(text) // 2
        for piece in (text[:half], text[half:]):
            add(
                "content_block_delta",
                index=index,
                delta={"type": "input_json_delta", "partial_json": piece},
            )
        add("content_block_stop", index=index)
        index += 1
    stop = "tool_use" if turn.calls else "end_turn"
    add(
        "message_delta",
        delta={"stop_reason": stop, "stop_sequence": None},
        usage={"output_tokens": 1},
    )
    add("message_stop")
    return events


_VALIDATE = {
    "chat": validators.openai_chat,
    "responses": validators.openai_responses,
    "anthropic": validators.anthropic_messages,
}
_VIEW = {"chat": _view_chat, "responses": _view_responses, "anthropic": _view_anthropic}
_EVENTS = {"chat": _chat_events, "responses": _responses_events, "anthropic": _anthropic_events}
_PATHS = {"chat": "/chat/completions", "responses": "/responses", "anthropic": "/v1/messages"}


def turn_events(kind: Kind, turn: Turn) -> list[tuple[str | None, Any]]:
    """The server-sent events that stream ``turn`` in ``kind``'s format."""
    return _EVENTS[kind](turn, lambda: "call_x")


def error_reply(kind: Kind, status: int, message: str, **headers: str) -> Reply:
    """An HTTP error in the provider's shape."""
    if kind == "anthropic":
        error_type = {400: "invalid_request_error", 429: "rate_limit_error"}.get(
            status, "api_error"
        )
        body = {"type": "error", "error": {"type": error_type, "message": message}}
    else:
        body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return Reply(status=status, body=body, headers=headers)


@attrs.define(eq=False)
class FakeProvider:
    """A scripted provider: validates, records, answers.

    Args:
        kind: Which API it speaks.
        script: What to say for a valid request (a str is a text-only turn).
    """

    kind: Kind
    script: Script
    received: list[dict[str, Any]] = attrs.field(factory=list)
    violations: list[list[str]] = attrs.field(factory=list)
    _count: int = 0

    def _next_id(self) -> str:
        self._count += 1
        return f"toolu_{self._count:04d}" if self.kind == "anthropic" else f"call_{self._count}"

    def __call__(self, request: Received) -> Reply:
        if request.method != "POST" or not request.path.endswith(_PATHS[self.kind]):
            return error_reply(self.kind, 404, f"no route {request.method} {request.path}")
        body = request.body
        self.received.append(body)
        errors = _VALIDATE[self.kind](body)
        if errors:
            self.violations.append(errors)
            return error_reply(self.kind, 400, "; ".join(errors))
        if body.get("stream") is not True:
            return error_reply(self.kind, 400, "the fake server only streams")
        outcome = self.script(_VIEW[self.kind](body))
        if isinstance(outcome, Reply):
            return outcome
        turn = Turn(outcome) if isinstance(outcome, str) else outcome
        return Reply(events=_EVENTS[self.kind](turn, self._next_id))
