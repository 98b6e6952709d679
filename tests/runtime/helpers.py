"""Helpers for runtime tests: a scripted LLM that calls tools by user text, event filters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio

from anyio_tools import CallEnded, ChatMessage
from anyio_tools.runtime import (
    AgentSession,
    LLMRequest,
    ScriptedCall,
    ScriptedLLM,
    ScriptedResponse,
)


def llm(calls: Mapping[str, list[ScriptedCall] | str], *, reply: str = "reply") -> ScriptedLLM:
    """User text -> tool calls (or a text); tool answers -> "ok"; deferred replies -> *reply*."""

    def script(request: LLMRequest) -> ScriptedResponse | str:
        if request.extra_instructions is not None:
            return reply
        if request.tool_outputs:
            return "ok"
        planned = calls.get(request.last_user_text or "", "hmm")
        if isinstance(planned, str):
            return planned
        return ScriptedResponse("", calls=planned)

    return ScriptedLLM(script)


def call(tool: str, /, **arguments: Any) -> ScriptedCall:
    return ScriptedCall(tool, arguments)


class Recorder:
    """Collects a session's events."""

    def __init__(self, session: AgentSession[Any]) -> None:
        self.events: list[Any] = []
        session.on(None, self.events.append)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def ended(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for e in self.of(CallEnded):
            out.setdefault(e.call_id, []).append(str(e.status))
        return out


def said(chat: Any) -> list[str]:
    """The texts of the messages in a chat context."""
    return [i.content for i in chat.items if isinstance(i, ChatMessage)]


async def settle() -> None:
    """Let every task run until all are blocked (a state wait, not a sleep)."""
    await anyio.wait_all_tasks_blocked()
