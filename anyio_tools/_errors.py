"""The exceptions of anyio_tools (SPEC DEC-2, DEC-8, EXE-2, EXE-3, CTX-7f).

Hierarchy::

    Exception
    ├── ToolError                   a tool's failure, shown to the LLM verbatim
    │   ├── InvalidArgumentsError   the LLM's arguments could not be parsed or validated
    │   └── UnknownToolError        the LLM named a tool that is not available
    ├── StopResponse                a tool ends its turn without a reply (not a failure)
    ├── CallRefusedError            ToolExecutor.start() did not admit a call; the LLM's answer
    └── RuntimeError
        ├── ExecutorClosedError     our object was used outside its lifetime (your code)
        └── ActivityClosedError     what we waited for closed first (the conversation moved on)
            └── SessionClosedError  ... because the whole session is closing

Bad values given to the API raise the built-in ``ValueError`` or ``TypeError`` at the call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from ._outcomes import DispatchResult

__all__ = [
    "ActivityClosedError",
    "CallRefusedError",
    "ExecutorClosedError",
    "InvalidArgumentsError",
    "SessionClosedError",
    "StopResponse",
    "ToolError",
    "UnknownToolError",
]


class ToolError(Exception):
    """Raise from a tool to tell the LLM what went wrong.

    The message reaches the LLM verbatim as an error output, so write it for the model: say
    what failed and what it could do instead. Any other exception raised by a tool reaches the
    LLM only as a fixed generic text, so that no internals leak into the conversation.

    Args:
        message: The text the LLM sees.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)

    @property
    def message(self) -> str:
        """The text the LLM sees.

        A subclass that did not pass a message to ``ToolError.__init__`` shows its first
        argument, or its class name when it has none (or when that argument's ``str()``
        fails).
        """
        if not self.args:
            return type(self).__name__
        try:
            return str(self.args[0])
        except Exception:  # noqa: BLE001 - a broken message must not break the call's end
            return type(self).__name__


@final
class InvalidArgumentsError(ToolError):
    """The LLM's arguments for a tool could not be parsed or did not validate.

    Unlike a plain `ToolError`, it is raised by anyio_tools itself, before or instead of the
    tool's body. Its message names the tool, every offending parameter and what was expected,
    so the LLM can correct its call.

    Args:
        tool_name: The tool the arguments were meant for.
        details: What was wrong, parameter by parameter.
    """

    def __init__(self, tool_name: str, details: str) -> None:
        super().__init__(f"Invalid arguments for `{tool_name}`: {details}")
        self.tool_name = tool_name
        self.details = details


@final
class UnknownToolError(ToolError):
    """The LLM called a tool name that is not among the available tools.

    Args:
        tool_name: The name the LLM used.
        available: The names it could have used.
    """

    def __init__(self, tool_name: str, available: list[str]) -> None:
        names = ", ".join(f"`{n}`" for n in sorted(available)) or "none"
        super().__init__(f"unknown tool `{tool_name}`; available tools: {names}")
        self.tool_name = tool_name
        self.available = sorted(available)


class StopResponse(Exception):
    """Raise from a tool to end its turn without a reply.

    The call gets an empty output that asks for no reply, and its end is reported as done,
    not as an error.
    """


@final
class CallRefusedError(Exception):
    """``ToolExecutor.start()`` did not admit a call, and nothing of it exists.

    Raised for arguments that cannot be parsed, a duplicate that the tool's policy refuses, a
    call that arrives while the executor drains, and a call id that is already running. Unlike
    `ToolError`, nothing ran: the exception carries the answer the LLM should see instead
    (``ToolExecutor.execute()`` returns that answer rather than raising).

    Args:
        result: The answer to record for the call.
        reason: What was wrong, for people.
    """

    def __init__(self, result: DispatchResult, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


@final
class ExecutorClosedError(RuntimeError):
    """An executor (or session) was used before it was entered or after it was closed.

    This is a bug in the calling code, as opposed to `ActivityClosedError`, which reports that
    the conversation moved on while a call was waiting.
    """


class ActivityClosedError(RuntimeError):
    """The activity a wait targeted closed before the wait could complete.

    Raised, for instance, by ``RunContext.foreground()`` when the agent's activity or the
    whole session closes before the floor becomes free. Nothing is held when it is raised.
    """


@final
class SessionClosedError(ActivityClosedError):
    """The whole session is closing, so no activity will take the awaited turn."""
