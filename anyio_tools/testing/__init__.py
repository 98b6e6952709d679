"""Test helpers for code that uses anyio_tools: an in-memory `ToolHost`, and leak checks."""

from __future__ import annotations

from ._host import FakeAgent, FakeHost, FakeReply
from ._leaks import running_task_names, tool_task_names

__all__ = ["FakeAgent", "FakeHost", "FakeReply", "running_task_names", "tool_task_names"]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
