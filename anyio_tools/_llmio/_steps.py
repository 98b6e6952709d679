"""Regroup a chat context into the turns every provider API expects (issue #13 item 2;
SPEC CON-5, CON-6, CON-8, EXE-7..9, UPD-7..10, HOST-7).

The executor's history is ordered by creation time, which is not the order providers accept:
a step's call items are created before the step's assistant text (the text is committed after
it played), update and final pairs (``<id>_update_<k>``, ``<id>_final``) are inserted wherever
the clock puts them, and a call's answer may come many items after its call. Providers want
"assistant (text and calls) -> every answer of those calls -> next message".

`plan` walks the items once and returns provider-neutral blocks:

- a user or system message becomes `Said` (empty texts are dropped);
- assistant texts and calls that follow each other become one `AssistantStep`, and every call
  of it carries its answer: the first output with its ``call_id`` that no earlier call took,
  wherever it sits in the history; a call with no output gets `PENDING_TEXT` (HOST-7 gives
  running calls their own placeholder output, so this only covers hand-made contexts);
- a step ends at the next user or system message, or when an answer of one of its calls is
  reached in the walk: what follows that answer (the next step's text) came after it;
- outputs that no call takes and `AgentHandoff` markers are dropped;
- a ``call_id`` used by an earlier call (a rejected duplicate, EXE-5d) gets a ``_dup<n>`` suffix,
  because providers require unique ids; an id longer than `MAX_ID_LENGTH` (OpenAI's limit,
  which a derived id such as ``toolu_...update_100`` can pass) keeps its first characters and
  ends with a hash of the whole; arguments that are not a JSON object become ``{}``.

The walk is linear in the number of items.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Final, Literal, TypeAlias, final

import attrs

from anyio_tools._chat import (
    AgentHandoff,
    ChatItem,
    ChatMessage,
    FunctionCall,
    FunctionCallOutput,
)

__all__ = [
    "MAX_ID_LENGTH",
    "PENDING_TEXT",
    "AnsweredCall",
    "AssistantStep",
    "Block",
    "Said",
    "plan",
]

MAX_ID_LENGTH: Final = 40
"""The longest call id sent (Chat Completions rejects longer ``tool_calls`` ids)."""

PENDING_TEXT: Final = "This call has no result yet."
"""The answer given to a call that has no output in the context."""


@final
@attrs.frozen
class Said:
    """A user or system message."""

    role: Literal["user", "system"]
    text: str


@final
@attrs.frozen
class AnsweredCall:
    """A call with its answer, under an id unique in the request."""

    call_id: str
    name: str
    arguments: str
    input: dict[str, Any]
    output: str
    is_error: bool


@final
@attrs.frozen
class AssistantStep:
    """What the assistant said and called in one step, each call with its answer."""

    text: str
    calls: tuple[AnsweredCall, ...]


Block: TypeAlias = Said | AssistantStep


def _short_id(call_id: str) -> str:
    if len(call_id) <= MAX_ID_LENGTH:
        return call_id
    digest = hashlib.sha1(call_id.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{call_id[: MAX_ID_LENGTH - 9]}_{digest}"


def _arguments(text: str) -> tuple[str, dict[str, Any]]:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        return "{}", {}
    if not isinstance(value, dict):
        return "{}", {}
    return text, value


class _Builder:
    __slots__ = ("answers", "blocks", "calls", "closing", "texts", "used")

    def __init__(self, answers: dict[str, deque[FunctionCallOutput]]) -> None:
        self.answers = answers
        self.blocks: list[Block] = []
        self.texts: list[str] = []
        self.calls: list[AnsweredCall] = []
        self.closing: set[str] = set()  # item ids of the current step's answers
        self.used: dict[str, int] = {}

    def flush(self) -> None:
        if self.texts or self.calls:
            self.blocks.append(AssistantStep("\n".join(self.texts), tuple(self.calls)))
            self.texts = []
            self.calls = []
        self.closing.clear()

    def add_call(self, item: FunctionCall) -> None:
        queue = self.answers.get(item.call_id)
        output = queue.popleft() if queue else None
        count = self.used.get(item.call_id, 0)
        self.used[item.call_id] = count + 1
        call_id = _short_id(item.call_id if count == 0 else f"{item.call_id}_dup{count}")
        arguments, parsed = _arguments(item.arguments)
        if output is None:
            answered = AnsweredCall(call_id, item.name, arguments, parsed, PENDING_TEXT, False)
        else:
            self.closing.add(output.id)
            answered = AnsweredCall(
                call_id, item.name, arguments, parsed, output.output, output.is_error
            )
        self.calls.append(answered)


def plan(items: Iterable[ChatItem]) -> list[Block]:
    """Regroup chat items into provider-neutral blocks (see the module docstring)."""
    listed: Sequence[ChatItem] = items if isinstance(items, Sequence) else list(items)
    answers: dict[str, deque[FunctionCallOutput]] = {}
    for item in listed:
        if isinstance(item, FunctionCallOutput):
            queue = answers.get(item.call_id)
            if queue is None:
                answers[item.call_id] = queue = deque()
            queue.append(item)
    builder = _Builder(answers)
    for item in listed:
        if isinstance(item, ChatMessage):
            if item.role == "assistant":
                if item.content.strip():
                    builder.texts.append(item.content)
                continue
            builder.flush()
            if item.content.strip():
                role: Literal["user", "system"] = "user" if item.role == "user" else "system"
                builder.blocks.append(Said(role, item.content))
        elif isinstance(item, FunctionCall):
            builder.add_call(item)
        elif isinstance(item, FunctionCallOutput):
            if item.id in builder.closing:
                builder.flush()
        elif isinstance(item, AgentHandoff):
            continue
    builder.flush()
    return builder.blocks
