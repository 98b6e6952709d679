"""What an open session keeps and where its handoffs run (issue #19 item 5; SC-1, HND-1,
CTX-9).

An idle session runs no ``activities`` task: that task is started by a handoff request and
ends once it applied them. It runs in the context the session was entered in, so a new agent's
``on_enter`` never acts for the call (or the floor) whose tool asked for the handoff.
"""

from __future__ import annotations

from typing import Any

import anyio

from anyio_tools import RunContext, function_tool
from anyio_tools._calls import current_call
from anyio_tools.runtime import Agent, AgentSession
from anyio_tools.testing import running_task_names

from .helpers import call, llm

entered: list[Any] = []


class Next(Agent):
    async def on_enter(self) -> None:
        entered.append(current_call.get())


NEXT = Next(instructions="next", name="next")


@function_tool
async def switch(ctx: RunContext[None]) -> str:
    """Hand off from inside the tool's own task."""
    ctx.session.update_agent(NEXT)  # type: ignore[attr-defined]
    return "switched"


async def test_an_idle_session_runs_no_activities_task_and_handoffs_run_in_its_context() -> None:
    """Issue #19 item 5, CTX-9: after start() the ``activities`` task is gone; a handoff asked
    for by a tool starts it again, and the new agent's on_enter sees no current call."""
    entered.clear()
    session: AgentSession[None] = AgentSession(llm=llm({"go": [call("switch")]}))
    with anyio.fail_after(60):
        async with session:
            await session.start(Agent(instructions="first", tools=[switch], name="first"))
            await anyio.wait_all_tasks_blocked()
            assert "activities" not in running_task_names()
            await session.run(user_input="go")
            await session.wait_for_agent(NEXT)
            await anyio.wait_all_tasks_blocked()
            assert session.current_agent is NEXT
            assert "activities" not in running_task_names()
    assert entered == [None]
