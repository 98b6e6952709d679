"""Routing, option precedence and the built-in tools in a live session (SPEC SCO-2, OPT-2,
CAN-2, DEC-10; scenarios 31, 48, 49)."""

from __future__ import annotations

import pytest

from anyio_tools import (
    CANCEL_TOOL_NAME,
    FunctionCallOutput,
    RunContext,
    ToolFlag,
    Toolset,
    ToolsetItem,
    function_tool,
)
from anyio_tools.runtime import Agent, AgentSession, AgentStartError, AsyncToolset, ScriptedLLM

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


CLASH = r"two different tools are named 'anyio_tools_cancel_task'.*function_tool\(name=\.\.\.\)"


def test_session_tool_named_like_a_builtin_is_refused() -> None:
    """DEC-10, CAN-2, issue #12 item 6: with a cancellable tool visible, a user tool named
    like a built-in raises ValueError at construction instead of being replaced."""
    impostor = make(CANCEL_TOOL_NAME)
    with pytest.raises(ValueError, match=CLASH):
        AgentSession(tools=[impostor, make("spin", cancellable=True)])  # type: ignore[list-item]
    AgentSession(tools=[impostor])  # type: ignore[list-item] # no built-in is visible: allowed


async def test_agent_tool_named_like_a_builtin_is_refused_at_handoff() -> None:
    """DEC-10, issue #12 item 6: the clash between an agent's tools and the session's
    (cancellable) tools is reported by update_agent() and start(), naming the tool."""
    session: AgentSession[None] = AgentSession(
        llm=llm({}),
        tools=[make("spin", cancellable=True)],  # type: ignore[list-item]
    )
    agent = Agent(instructions="x", tools=[make(CANCEL_TOOL_NAME)])  # type: ignore[list-item]
    async with session:
        with pytest.raises(ValueError, match=CLASH):
            await session.start(agent)
        await session.start(Agent(instructions="fine"))
        with pytest.raises(ValueError, match=CLASH):
            session.update_agent(agent)


async def test_dynamic_tool_named_like_a_builtin_fails_the_agent_start() -> None:
    """DEC-10, issue #12 item 6: a clash that appears only when a toolset's setup() loads its
    tools fails the activity start with the ValueError as cause (never a silent swap)."""

    class Loaded(Toolset):
        """Loads its tools from a (pretend) server in setup()."""

        loaded: list[ToolsetItem] = []  # noqa: RUF012 - set per instance in setup()

        @property
        def tools(self) -> list[ToolsetItem]:
            return list(self.loaded)

        async def setup(self) -> None:
            await super().setup()
            self.loaded = [make(CANCEL_TOOL_NAME), make("spin", cancellable=True)]  # type: ignore[list-item]

    model = ScriptedLLM({})
    session: AgentSession[None] = AgentSession(llm=model)
    async with session:
        with pytest.raises(AgentStartError) as caught:
            await session.start(Agent(instructions="x", tools=[Loaded(id="mcp")]))
    assert isinstance(caught.value.__cause__, ValueError)
    assert "anyio_tools_cancel_task" in str(caught.value.__cause__)
