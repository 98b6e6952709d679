"""Routing, option precedence and the built-in tools in a live session (SPEC SCO-2, OPT-2,
CAN-2; scenarios 31, 48, 49)."""

from __future__ import annotations

import pytest

from anyio_tools import FunctionCallOutput, RunContext, ToolFlag, Toolset, function_tool
from anyio_tools.runtime import Agent, AgentSession, AsyncToolset, ScriptedLLM

from .helpers import call, llm


def make(name: str, *, cancellable: bool = False) -> object:
    flags = ToolFlag.CANCELLABLE if cancellable else ToolFlag.NONE

    @function_tool(name=name, flags=flags)
    async def tool(ctx: RunContext[None]) -> None:
        """Report progress once."""
        await ctx.update("working")

    return tool


def handling(tag: str) -> dict[str, object]:
    return {"async_options": {"update_template": tag + " {message}"}}


async def outputs_for(session: AgentSession[None], agent: Agent, user: str) -> dict[str, str]:
    async with session:
        await session.start(agent)
        result = await session.run(user_input=user)
    return {i.name: i.output for i in result.items if isinstance(i, FunctionCallOutput)}


async def test_options_most_specific_set_wins_whole() -> None:
    """OPT-2, scenario 48: toolset > agent > session; a session toolset ignores the agent."""
    in_agent_toolset, on_agent, in_session_toolset, on_session = (
        make("a"),
        make("b"),
        make("c"),
        make("d"),
    )
    session: AgentSession[None] = AgentSession(
        llm=llm({"go": [call("a"), call("b"), call("c"), call("d")]}),
        tools=[
            AsyncToolset(id="st", tools=[in_session_toolset], tool_handling=None),  # type: ignore[list-item]
            on_session,  # type: ignore[list-item]
        ],
        tool_handling=handling("[session]"),
    )
    agent = Agent(
        instructions="x",
        tools=[
            AsyncToolset(id="at", tools=[in_agent_toolset], tool_handling=handling("[toolset]")),  # type: ignore[list-item]
            on_agent,  # type: ignore[list-item]
        ],
        tool_handling=handling("[agent]"),
    )
    outputs = await outputs_for(session, agent, "go")
    assert outputs["a"] == "[toolset] working"
    assert outputs["b"] == "[agent] working"
    assert outputs["c"] == "[session] working"  # a session toolset ignores agent options
    assert outputs["d"] == "[agent] working"  # session-level plain tools run on the activity


async def test_routing_nearest_async_toolset_wins() -> None:
    """SCO-2, scenario 49: nested AsyncToolsets route to the inner one; plain ones are
    transparent (observed through each executor's templates)."""
    inner_tool, plain_tool = make("inner"), make("plain")
    agent = Agent(
        instructions="x",
        tools=[
            AsyncToolset(
                id="outer",
                tools=[
                    AsyncToolset(id="inner", tools=[inner_tool], tool_handling=handling("[inner]")),  # type: ignore[list-item]
                    Toolset(id="plain", tools=[plain_tool]),  # type: ignore[list-item]
                ],
                tool_handling=handling("[outer]"),
            )
        ],
    )
    session: AgentSession[None] = AgentSession(llm=llm({"go": [call("inner"), call("plain")]}))
    outputs = await outputs_for(session, agent, "go")
    assert outputs == {"inner": "[inner] working", "plain": "[outer] working"}


@pytest.mark.parametrize("cancellable", [True, False])
async def test_builtin_tools_present_iff_a_cancellable_tool_is_visible(cancellable: bool) -> None:
    """CAN-2, scenario 31: the list and cancel tools appear once, whatever the nesting."""
    deep = make("deep", cancellable=cancellable)
    other = make("other", cancellable=cancellable)
    model = ScriptedLLM({})
    session: AgentSession[None] = AgentSession(
        llm=model,
        tools=[AsyncToolset(id="s", tools=[other])],  # type: ignore[list-item]
    )
    agent = Agent(instructions="x", tools=[Toolset(id="t", tools=[Toolset(id="u", tools=[deep])])])  # type: ignore[list-item]
    async with session:
        await session.start(agent)
        await session.run(user_input="hello")
    names = [tool.name for tool in model.requests[0].tools]
    builtins = {"anyio_tools_get_running_tasks", "anyio_tools_cancel_task"}
    assert sorted(set(names) - builtins) == ["deep", "other"]
    assert len(names) == len(set(names))
    assert (builtins <= set(names)) is cancellable


def test_async_toolset_rejects_the_removed_option() -> None:
    """The seed's migration: on_duplicate_call is gone; the error says what to use."""
    with pytest.raises(TypeError, match=r"on_duplicate=\.\.\. on each @function_tool"):
        AsyncToolset(id="x", tools=[], on_duplicate_call="reject")
