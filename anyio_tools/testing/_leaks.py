"""Leak checks: which tasks are running (SPEC INV-22)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio

__all__ = ["TaskLeakError", "no_task_leaks", "running_task_names", "tool_task_names"]

_PREFIXES = ("tool-call ", "deliver ", "filler ", "turn ", "activity ", "activities")


class TaskLeakError(AssertionError):
    """Tasks started inside a `no_task_leaks` block were still running at its end."""


def running_task_names() -> list[str]:
    """Return the names of every task running in the current event loop."""
    return sorted(str(task.name) for task in anyio.get_running_tasks())


def tool_task_names() -> list[str]:
    """Return the names of running anyio_tools tasks (calls, deliverers, fillers, turns)."""
    return [name for name in running_task_names() if name.startswith(_PREFIXES)]


@contextmanager
def no_task_leaks() -> Iterator[None]:
    """Check that the tasks running when the block ends are those running when it began.

    Use it around a session or an executor block::

        with no_task_leaks():
            async with AgentSession(...) as session:
                ...

    Raises:
        TaskLeakError: Some task started in the block is still running.
    """
    before = {task.id for task in anyio.get_running_tasks()}
    yield
    leaked = sorted(str(task.name) for task in anyio.get_running_tasks() if task.id not in before)
    if leaked:
        raise TaskLeakError(f"tasks still running after the block: {', '.join(leaked)}")
