"""Leak checks: which tasks are running (SPEC INV-22)."""

from __future__ import annotations

import anyio

__all__ = ["running_task_names", "tool_task_names"]

_PREFIXES = ("tool-call ", "deliver ", "filler ")


def running_task_names() -> list[str]:
    """Return the names of every task running in the current event loop."""
    return sorted(str(task.name) for task in anyio.get_running_tasks())


def tool_task_names() -> list[str]:
    """Return the names of running anyio_tools tasks (calls, deliverers, fillers)."""
    return [name for name in running_task_names() if name.startswith(_PREFIXES)]
