"""Turn fidelity: runs across handoffs, the agent's state while tools run, the user speaking
over a tool phase (issue #20; SPEC CON-11, RUN-1, RUN-2, HOST-8, EXE-12, CTX-3)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from anyio_tools import AgentHandoff, ChatMessage, RunContext, function_tool
from anyio_tools.runtime import (
    Agent,
    AgentSession,
    LLMRequest,
    ScriptedLLM,
    ScriptedResponse,
)

from .helpers import call

targets: dict[str, Agent] = {}


class Greeter(Agent):
    """An agent whose ``on_enter`` asks its LLM for a greeting."""

    def __init__(self, session: AgentSession[Any], pause: float | None = None) -> None:
        super().__init__(instructions="greeter", name="greeter")
        self.session = session
        self.pause = pause

    async def on_enter(self) -> None:
        if self.pause is not None:  # looks the customer up first
            await anyio.sleep(self.pause)
        self.session.generate_reply(instructions="greet")


def script(request: LLMRequest) -> ScriptedResponse | str:
    if request.extra_instructions == "greet":
        return "welcome"
    if request.extra_instructions is not None:
        return "reply"
    if request.tool_outputs:
        return "ok"
    name = request.last_user_text or ""
    return ScriptedResponse("", calls=[call(name)]) if name else "hmm"


@function_tool
async def transfer() -> Agent:
    """Hand off to the greeter."""
    return targets["greeter"]


@function_tool
async def transfer_in_foreground(ctx: RunContext[None]) -> None:
    """Go non-blocking, then hand off inside the foreground."""
    await ctx.update("transferring")
    async with ctx.foreground():
        ctx.session.update_agent(targets["greeter"])  # type: ignore[attr-defined]


def texts(items: Any) -> list[str]:
    return [item.content for item in items if isinstance(item, ChatMessage)]


async def run_handoff(tool: str, pause: float | None) -> tuple[list[Any], list[str]]:
    session: AgentSession[None] = AgentSession(llm=ScriptedLLM(script))
    targets["greeter"] = Greeter(session, pause)
    main = Agent(instructions="main", tools=[transfer, transfer_in_foreground], name="main")
    with anyio.fail_after(600):
        async with session:
            await session.start(main)
            result = await session.run(user_input=tool)
            history = texts(session.history.items)
    return list(result.items), history


@pytest.mark.parametrize("pause", [None, 0, 1])
@pytest.mark.parametrize("tool", ["transfer", "transfer_in_foreground"])
async def test_run_includes_the_greeting_of_the_agent_it_handed_off_to(
    tool: str, pause: float | None
) -> None:
    """Issue #20 item 1, CON-11, RUN-1, RUN-2, scenario 43: a run that hands off to an agent
    whose on_enter generates a reply returns only after that reply, which is among its items.
    Run 50 times per backend: it was a race (the new activity looked idle before its
    on_enter had started, or while it awaited something before generating)."""
    for _ in range(50):
        items, history = await run_handoff(tool, pause)
        assert texts(items)[-1] == "welcome", texts(items)
        assert history[-1] == "welcome"
        markers = [item for item in items if isinstance(item, AgentHandoff)]
        assert [(m.old_agent, m.new_agent) for m in markers] == [("main", "greeter")]


async def test_idle_and_agent_waits_on_a_session_never_entered_raise() -> None:
    """Issue #20 item 2: wait_for_idle() and wait_for_agent() on a session that was never
    entered raise the RuntimeError of say(), run(), start() and update_agent()."""
    session: AgentSession[None] = AgentSession()
    agent = Agent(instructions="x")
    message = r"use the AgentSession inside 'async with' \(it is not open\)"
    with anyio.fail_after(5):
        with pytest.raises(RuntimeError, match=message):
            await session.wait_for_idle()
        with pytest.raises(RuntimeError, match=message):
            await session.wait_for_agent(agent)
        with pytest.raises(RuntimeError, match=message):
            session.say("hi")
        with pytest.raises(RuntimeError, match=message):
            await session.run(user_input="hi")
        with pytest.raises(RuntimeError, match=message):
            await session.start(agent)
        with pytest.raises(RuntimeError, match=message):
            session.update_agent(agent)
