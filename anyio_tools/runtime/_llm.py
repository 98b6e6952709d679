"""The LLM the runtime talks to, and a scripted one for tests and the demo (issue #4 item 4).

An `LLM` streams text deltas and tool-call requests for a request. `ScriptedLLM` answers
deterministically from a script keyed by the last user message (or computed by a function).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Literal, Protocol, TypeAlias, final

import anyio
import attrs

from anyio_tools._chat import ChatContext, ChatMessage, FunctionCallOutput, JSONValue
from anyio_tools._tools import Tool

__all__ = [
    "LLM",
    "LLMChunk",
    "LLMRequest",
    "ScriptedCall",
    "ScriptedLLM",
    "ScriptedResponse",
    "TextDelta",
    "ToolCallRequest",
    "ToolChoice",
]

ToolChoice: TypeAlias = Literal["auto", "none", "required"]


@final
@attrs.frozen
class TextDelta:
    """A piece of the assistant's text."""

    text: str


@final
@attrs.frozen
class ToolCallRequest:
    """The LLM asks for a tool call."""

    call_id: str
    name: str
    arguments: str = "{}"


LLMChunk: TypeAlias = TextDelta | ToolCallRequest


@final
@attrs.frozen
class LLMRequest:
    """What the LLM is asked to continue.

    Args:
        chat_ctx: The agent's chat context (a copy).
        tools: The tools it may call.
        tool_choice: Whether it may call tools.
        instructions: The agent's instructions.
        extra_instructions: Instructions for this generation only (a deferred reply's).
        tool_outputs: For a step that answers tools: the answers of the previous step's
            calls, in call order; empty otherwise.
    """

    chat_ctx: ChatContext
    tools: Sequence[Tool]
    tool_choice: ToolChoice
    instructions: str
    extra_instructions: str | None = None
    tool_outputs: Sequence[FunctionCallOutput] = ()

    @property
    def last_user_text(self) -> str | None:
        """The text of the latest user message, if any."""
        for item in reversed(self.chat_ctx.items):
            if isinstance(item, ChatMessage) and item.role == "user":
                return item.content
        return None


class LLM(Protocol):
    """A language model."""

    def stream(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        """Stream the continuation of ``request``."""
        ...


@final
@attrs.frozen
class ScriptedCall:
    """A tool call in a scripted response."""

    name: str
    arguments: Mapping[str, JSONValue] | str = attrs.field(factory=dict)


@final
@attrs.frozen
class ScriptedResponse:
    """What a `ScriptedLLM` says: a text, tool calls, after an optional delay (seconds)."""

    text: str = ""
    calls: Sequence[ScriptedCall] = ()
    delay: float = 0.0


Script: TypeAlias = (
    Callable[[LLMRequest], ScriptedResponse | str | None] | Mapping[str, ScriptedResponse | str]
)


@final
class ScriptedLLM:
    """A deterministic LLM for tests and demos.

    Args:
        script: Either a function of the request returning a response (a str is a text
            response, None the *default*), or a mapping from the last user message to a
            response.
        default: The response when the script has none.
    """

    def __init__(self, script: Script, *, default: ScriptedResponse | str = "") -> None:
        self._script = script
        self._default = default
        self._call_ids = itertools.count(1)
        self.requests: list[LLMRequest] = []

    def _respond(self, request: LLMRequest) -> ScriptedResponse:
        script = self._script
        if callable(script):
            response = script(request)
        else:
            key = request.last_user_text
            fresh_user_turn = request.extra_instructions is None and not request.tool_outputs
            response = script.get(key) if key is not None and fresh_user_turn else None
        if response is None:
            response = self._default
        return ScriptedResponse(text=response) if isinstance(response, str) else response

    async def stream(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        """Yield the scripted text (word by word), then the scripted calls."""
        self.requests.append(request)
        response = self._respond(request)
        if response.delay:
            await anyio.sleep(response.delay)
        words = response.text.split(" ") if response.text else []
        for i, word in enumerate(words):
            yield TextDelta(word if i == 0 else " " + word)
        if request.tool_choice == "none":
            return
        for call in response.calls:
            arguments = (
                call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
            )
            yield ToolCallRequest(f"call_{next(self._call_ids)}", call.name, arguments)
