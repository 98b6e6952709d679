"""The exceptions of the runtime (issue #11 items 6 and 11, issue #12 items 5 and 11).

Hierarchy (next to those of `anyio_tools`)::

    RuntimeError
    ├── AgentStartError   an agent's activity could not start; the session has no agent
    └── LLMError          the LLM of a turn of ``AgentSession.run()`` failed or timed out

Both chain the underlying exception as ``__cause__``; after either, the session stays open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from ._session_events import RunResult

__all__ = ["AgentStartError", "LLMError"]


@final
class AgentStartError(RuntimeError):
    """An agent's activity failed to start (a toolset's ``setup()`` raised, say).

    Raised by ``AgentSession.start()``, ``wait_for_agent()``, ``run()`` and the other calls
    that need the agent. Its ``__cause__`` is the exception that stopped the start. The
    session stays open with no current agent: `start` or hand off to an agent again. Unlike
    ``SessionClosedError``, the session did not close.

    Args:
        agent_name: The name of the agent that failed to start.
    """

    def __init__(self, agent_name: str) -> None:
        super().__init__(
            f"agent {agent_name!r} failed to start (see __cause__); the session stays open: "
            "call start() or update_agent() with an agent that can start"
        )
        self.agent_name = agent_name


@final
class LLMError(RuntimeError):
    """The LLM failed during ``AgentSession.run()``: it raised or passed *llm_timeout*.

    Raised by ``run()`` once the run is over (the session is idle again). Its ``__cause__``
    is the LLM's exception (a ``TimeoutError`` for a timeout), and `result` holds what the
    run recorded. The same failure is also emitted as a ``SessionError`` event with source
    ``"llm"``; the session stays usable.

    Args:
        message: What failed.
        result: What the run recorded before and after the failure.
    """

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message)
        self.result = result
