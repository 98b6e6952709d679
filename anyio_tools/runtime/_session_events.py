"""Events of a session besides the tool events (issue #4 item 1)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TypeAlias, final

import attrs

from anyio_tools._chat import ChatItem
from anyio_tools._events import ToolEvent

__all__ = [
    "AgentPaused",
    "AgentResumed",
    "AgentState",
    "AgentStateChanged",
    "ConversationItemAdded",
    "RunResult",
    "SessionError",
    "SessionEvent",
    "UserState",
    "UserStateChanged",
]


class AgentState(enum.StrEnum):
    """What the agent is doing."""

    INITIALIZING = "initializing"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"


class UserState(enum.StrEnum):
    """What the user is doing (``AWAY``: silent for *user_away_timeout*, HOST-8)."""

    LISTENING = "listening"
    SPEAKING = "speaking"
    AWAY = "away"


@final
@attrs.frozen
class AgentStateChanged:
    """The agent's state changed."""

    old_state: AgentState
    new_state: AgentState


@final
@attrs.frozen
class UserStateChanged:
    """The user's state changed."""

    old_state: UserState
    new_state: UserState


@final
@attrs.frozen
class ConversationItemAdded:
    """An item was added to the session's history."""

    item: ChatItem


@final
@attrs.frozen
class AgentPaused:
    """An agent's activity was paused: a sub-agent task runs on top of it (HND-2).

    Args:
        agent_name: The paused agent.
        task_name: The task agent that became current.
    """

    agent_name: str
    task_name: str


@final
@attrs.frozen
class AgentResumed:
    """A paused agent's activity is active again: its task ended (HND-2).

    Args:
        agent_name: The resumed agent.
        task_name: The task agent whose activity closed.
    """

    agent_name: str
    task_name: str


@final
@attrs.frozen
class SessionError:
    """Something failed without crashing the session (an LLM error, say).

    Args:
        source: What failed ("llm", "output", ...).
        error: The exception.
    """

    source: str
    error: BaseException


SessionEvent: TypeAlias = (
    AgentStateChanged
    | UserStateChanged
    | ConversationItemAdded
    | SessionError
    | AgentPaused
    | AgentResumed
    | ToolEvent
)
"""Any event a session emits."""


@final
@attrs.frozen
class RunResult:
    """What one user turn caused, in conversation order.

    Args:
        items: The messages, function calls, outputs and handoff markers recorded in the
            history during the run.
        events: Every session event emitted during the run, in order.
    """

    items: Sequence[ChatItem]
    events: Sequence[SessionEvent]
