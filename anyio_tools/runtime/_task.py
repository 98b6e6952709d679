"""Sub-agent tasks: an agent awaited by its parent, which is paused meanwhile (issue #18; SPEC
CON-3, CON-4 pause handoff, HND-2, DEL-2).

``result = await session.run_task(task)`` pauses the current activity (`ActivityState.PAUSED`),
starts the task agent's activity on top of it and waits until the task calls `AgentTask.complete`
(or `AgentTask.fail`). The task's activity then drains and closes as in a close handoff, and the
paused activity becomes ``ACTIVE`` again. Meanwhile the paused activity's calls keep running; its
deferred replies wait and are voiced on it once it is back (one coalesced reply, DEL-1).
Session-scoped replies go to the task agent while it is current. Tasks nest.
"""

from __future__ import annotations

from typing import Generic, TypeVar, final

import anyio

from ._agent import Agent

__all__ = ["AgentTask", "AgentTaskError"]

ResultT = TypeVar("ResultT")


@final
class AgentTaskError(RuntimeError):
    """A sub-agent task failed: its agent called `AgentTask.fail`.

    Raised by ``AgentSession.run_task()`` after the task's activity closed and the paused one
    resumed; ``__cause__`` is the exception given to `AgentTask.fail`. Unlike
    ``SessionClosedError`` (the session closed while the task ran), the session goes on.

    Args:
        task_name: The name of the task agent.
    """

    def __init__(self, task_name: str) -> None:
        super().__init__(f"task {task_name!r} failed (see __cause__)")
        self.task_name = task_name


class AgentTask(Agent, Generic[ResultT]):
    """An agent that runs on top of another and hands it a typed result (a pause handoff).

    Subclass it like an `Agent`; its tools call `complete` with the result (or `fail`).
    Await it with ``await session.run_task(task)`` (``ctx.session`` in a tool). A task
    instance runs once.
    """

    _outcome: tuple[ResultT] | BaseException | None = None
    _done_event: anyio.Event | None = None

    def _done(self) -> anyio.Event:
        if self._done_event is None:
            self._done_event = anyio.Event()
        return self._done_event

    @property
    def done(self) -> bool:
        """Whether the task completed or failed."""
        return self._outcome is not None

    def complete(self, result: ResultT) -> None:
        """End the task with ``result`` (what ``run_task`` returns).

        Raises:
            RuntimeError: The task already completed or failed.
        """
        self._settle((result,))

    def fail(self, error: BaseException) -> None:
        """End the task with ``error`` (``run_task`` raises `AgentTaskError` from it).

        Raises:
            RuntimeError: The task already completed or failed.
        """
        self._settle(error)

    def _settle(self, outcome: tuple[ResultT] | BaseException) -> None:
        if self._outcome is not None:
            raise RuntimeError(f"task {self.name!r} already ended")
        self._outcome = outcome
        self._done().set()

    async def _wait(self) -> None:
        await self._done().wait()

    def _result(self) -> ResultT:
        outcome = self._outcome
        assert outcome is not None
        if isinstance(outcome, BaseException):
            raise AgentTaskError(self.name) from outcome
        return outcome[0]
