"""The reference conversation runtime: sessions, agents, speech, LLMs, ``AsyncToolset``."""

from __future__ import annotations

import warnings
from typing import Any

from ._activity import ActivityState
from ._agent import Agent
from ._errors import AgentStartError, LLMError
from ._llm import (
    LLM,
    LLMChunk,
    LLMRequest,
    ScriptedCall,
    ScriptedLLM,
    ScriptedResponse,
    TextDelta,
    ToolCallRequest,
    ToolChoice,
)
from ._session import AgentSession
from ._session_events import (
    AgentPaused,
    AgentResumed,
    AgentState,
    AgentStateChanged,
    ConversationItemAdded,
    RunResult,
    SessionError,
    SessionEvent,
    UserState,
    UserStateChanged,
)
from ._speech import SpeechHandle, SpeechOutput, TextOutput
from ._task import AgentTask, AgentTaskError
from ._toolset import AsyncToolset

__all__ = [
    "LLM",
    "ActivityState",
    "Agent",
    "AgentPaused",
    "AgentResumed",
    "AgentSession",
    "AgentStartError",
    "AgentState",
    "AgentStateChanged",
    "AgentTask",
    "AgentTaskError",
    "AsyncToolset",
    "ConversationItemAdded",
    "LLMChunk",
    "LLMError",
    "LLMRequest",
    "RunResult",
    "ScriptedCall",
    "ScriptedLLM",
    "ScriptedResponse",
    "SessionError",
    "SessionEvent",
    "SpeechHandle",
    "SpeechOutput",
    "TextDelta",
    "TextOutput",
    "ToolCallRequest",
    "ToolChoice",
    "UserState",
    "UserStateChanged",
]

for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type):
        _value.__module__ = __name__
del _name, _value


def __getattr__(name: str) -> Any:
    if name == "AsyncRunContext":
        warnings.warn(
            "AsyncRunContext is deprecated; use anyio_tools.RunContext",
            DeprecationWarning,
            stacklevel=2,
        )
        from anyio_tools._context import RunContext

        return RunContext
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
