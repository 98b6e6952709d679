"""Test helpers for code that uses anyio_tools: an in-memory `ToolHost`, and leak checks."""

from __future__ import annotations

from ._host import FakeAgent, FakeHost, FakeReply
from ._leaks import TaskLeakError, no_task_leaks, running_task_names, tool_task_names

__all__ = [
    "FakeAgent",
    "FakeHost",
    "FakeReply",
    "TaskLeakError",
    "no_task_leaks",
    "running_task_names",
    "tool_task_names",
]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
