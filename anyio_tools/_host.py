"""The roles a hosting framework plays for tools and executors (SPEC HOST-1..6, CTX-1..5).

Only shapes live here. The reference runtime (`anyio_tools.runtime`) implements them, and a
framework that embeds anyio_tools implements them for its own session and speech objects.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeAlias, TypeVar, runtime_checkable

from ._chat import ChatItem
from ._events import ToolEvent

__all__ = [
    "Conversation",
    "ReplyHandle",
    "ReplyTarget",
    "SessionHandle",
    "SubAgentTask",
    "ToolHost",
    "TurnHandle",
    "UserdataT_co",
    "emit_safely",
]

logger = logging.getLogger("anyio_tools.host")

UserdataT_co = TypeVar("UserdataT_co", covariant=True)
ResultT = TypeVar("ResultT")
ResultT_contra = TypeVar("ResultT_contra", contravariant=True)


class TurnHandle(Protocol):
    """One assistant turn (a speech handle), as a tool's context sees it (HOST-5)."""

    @property
    def id(self) -> str:
        """A unique id of the turn."""
        ...

    @property
    def interrupted(self) -> bool:
        """Whether the turn was interrupted; once true it stays true."""
        ...

    @property
    def allow_interruptions(self) -> bool:
        """Whether the user (and the LLM's cancel tool) may interrupt this turn."""
        ...

    @allow_interruptions.setter
    def allow_interruptions(self, value: bool) -> None: ...

    @property
    def num_steps(self) -> int:
        """How many generation steps the turn has started so far."""
        ...

    async def wait_for_step_playout(self, step: int) -> None:
        """Wait until the generation of ``step`` finished playing or was cut."""
        ...

    async def wait_for_playout(self) -> None:
        """Wait until the whole turn finished playing or was cut (every step)."""
        ...


class SubAgentTask(Protocol[ResultT_contra]):
    """A sub-agent that ends with a result, as ``SessionHandle.run_task`` takes it.

    The reference runtime's ``AgentTask[T]`` is one: its tools call ``complete(value)`` with
    a ``T`` (or ``fail(error)``), and ``run_task`` returns that ``T``.
    """

    @property
    def done(self) -> bool:
        """Whether the task completed or failed."""
        ...

    def complete(self, result: ResultT_contra) -> None:
        """End the task with ``result``, what ``run_task`` returns."""
        ...

    def fail(self, error: BaseException) -> None:
        """End the task with ``error``, what ``run_task`` raises from."""
        ...


class SessionHandle(Protocol[UserdataT_co]):
    """The conversation a tool call belongs to, as its context sees it (``ctx.session``).

    What a tool may do with its session: read the application's data, speak (typically
    inside ``async with ctx.foreground():``), and await a sub-agent task. The reference
    ``AgentSession`` implements it; a framework that embeds anyio_tools implements it for its
    own session object (one without sub-agents raises ``RuntimeError`` from `run_task`).
    """

    @property
    def userdata(self) -> UserdataT_co:
        """The application's data for this session.

        Raises:
            ValueError: The session has no userdata.
        """
        ...

    def say(self, text: str) -> TurnHandle:
        """Queue ``text`` to be spoken by the current agent; return its turn at once."""
        ...

    def generate_reply(
        self, *, instructions: str | None = None, user_input: str | None = None
    ) -> TurnHandle:
        """Queue a generation by the current agent's LLM; return its turn at once.

        Args:
            instructions: Extra instructions for this generation only.
            user_input: A user message to add first.
        """
        ...

    async def run_task(self, task: SubAgentTask[ResultT]) -> ResultT:
        """Pause the current agent, run the sub-agent ``task`` on top of it, return its result.

        Blocks until the task completed or failed; the paused agent is active again when
        this returns or raises. Cancelling the wait ends the task and resumes the agent.
        Meanwhile the paused agent's calls keep running; their replies wait for it.

        Raises:
            RuntimeError: The task failed (the reference runtime raises
                ``AgentTaskError``, a subclass, with the task's error as its cause), or no
                agent is active to pause.
        """
        ...


ReplyTarget: TypeAlias = object
"""Where chat items go and replies are spoken: the host's agent (or activity) object.

The executor never looks inside a target; it only hands it back to the host and compares
targets by identity.
"""


class ReplyHandle(Protocol):
    """A reply the host scheduled for the executor (HOST-4).

    The host decides whether the user *heard* a reply (LED-2): a handle may expose a
    ``heard`` bool, read once its playout ended (the reference runtime's speech handles
    and the testing ``FakeReply`` do: the reply was played to the end without being cut).
    Without one, a reply that was not ``interrupted`` counts as heard. A reply that was not
    heard is voiced again at the next idle, a bounded number of times.
    """

    @property
    def id(self) -> str:
        """A unique id of the reply's speech."""
        ...

    @property
    def interrupted(self) -> bool:
        """Whether the reply was cut short."""
        ...

    @property
    def chat_items(self) -> Sequence[ChatItem]:
        """The chat items the reply produced so far."""
        ...

    async def wait_for_playout(self) -> None:
        """Wait until the reply finished playing or was cut."""
        ...


class ToolHost(Protocol):
    """Everything a `ToolExecutor` needs from the framework that embeds it.

    A host object is bound to one executor scope: for an executor owned by an activity, the
    target is always that activity's agent; for a session-scoped executor, it is whichever
    agent is current. Every method but `wait_for_idle` is synchronous and must not block.
    """

    def eager_target(self) -> ReplyTarget:
        """Return where an update goes the moment it is made (UPD-8)."""
        ...

    def insert_items(self, target: ReplyTarget, items: Sequence[ChatItem]) -> None:
        """Insert ``items`` into the target's chat context, ordered by creation time."""
        ...

    def record_history(self, items: Sequence[ChatItem]) -> None:
        """Insert ``items`` into the session's history, ordered by creation time."""
        ...

    def last_item_id(self, target: ReplyTarget) -> str | None:
        """Return the id of the last item of the target's chat context, if any."""
        ...

    async def wait_for_idle(self) -> ReplyTarget:
        """Wait until a reply can be spoken, and return the target to speak it on.

        That is: the target is active, the session is idle and nobody else holds the floor.
        Waiters are served in the order they asked; the caller's synchronous follow-up (such
        as `generate_reply`) happens before the next waiter is served.

        Raises:
            ActivityClosedError: The target drained or closed (for a session-scoped host,
                only when the session closes; a handoff re-targets instead).
        """
        ...

    def generate_reply(self, target: ReplyTarget, *, instructions: str) -> ReplyHandle:
        """Schedule one reply on ``target`` with tool choice "none"; return its handle.

        When this returns, the session is no longer idle.
        """
        ...

    def emit(self, event: ToolEvent) -> None:
        """Deliver an event to the application."""
        ...


def emit_safely(host: ToolHost, event: ToolEvent) -> None:
    """Emit ``event``; a failing host is logged, never allowed to break the executor."""
    try:
        host.emit(event)
    except Exception:
        logger.exception("the host failed to take event %r", event)


@runtime_checkable
class Conversation(Protocol):
    """What ``RunContext.foreground()`` and ``RunContext.with_filler()`` need from a session.

    The reference ``AgentSession`` implements it; a context whose session does not cannot use
    those two methods.
    """

    def acts_for_holder(self) -> bool:
        """Return whether the calling code acts for the current holder of the floor."""
        ...

    def hold_floor(self) -> AbstractAsyncContextManager[ReplyTarget]:
        """Wait until the session is idle and the floor free, then hold it until exit.

        An entry by code that already acts for the holder is nested: it waits for idleness
        only. Raises `ActivityClosedError` if the session closes first.
        """
        ...

    async def wait_for_idle(self) -> ReplyTarget:
        """Wait until the session is idle and the floor free (for the caller).

        For a call whose agent is paused under a sub-agent task, not before that agent is
        back: its fillers never speak into the task's conversation.
        """
        ...

    def is_idle(self) -> bool:
        """Return whether the session is idle and the floor free (for the caller), now.

        False for a call whose agent is paused under a sub-agent task.
        """
        ...

    async def wait_for_activity(self) -> None:
        """Wait until the agent starts speaking or thinking, or the user starts speaking."""
        ...

    def say(self, text: str) -> object:
        """Queue ``text`` to be spoken; return its speech handle."""
        ...
