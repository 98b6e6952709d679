"""Toolsets and the standalone context (SPEC DEC-10, UPD-1..5, EXE-14, CTX-2)."""

from __future__ import annotations

import pytest

from anyio_tools import FunctionCall, RunContext, Toolset, function_tool, run_tool
from anyio_tools._toolsets import flatten_tools


@function_tool
async def alpha() -> str:
    """A."""
    return "a"


@function_tool(name="alpha")
async def other_alpha() -> str:
    """Another A."""
    return "b"


@function_tool
async def beta() -> str:
    """B."""
    return "b"


def test_nested_toolsets_flatten_and_deduplicate() -> None:
    """DEC-10: nesting works; the same tool twice counts once."""
    inner = Toolset(id="inner", tools=[beta, alpha])
    outer = Toolset(id="outer", tools=[alpha, inner])
    assert [t.name for t in flatten_tools([outer, beta])] == ["alpha", "beta"]


def test_two_tools_with_one_name_raise_naming_both() -> None:
    """DEC-10: a name clash names both tools."""
    with pytest.raises(ValueError, match="alpha") as caught:
        flatten_tools([alpha, Toolset(id="x", tools=[other_alpha])])
    assert "other_alpha" in str(caught.value)


def test_toolset_rejects_non_tools() -> None:
    """A toolset holds tools and toolsets only."""
    with pytest.raises(TypeError, match="expected tools made with @function_tool"):
        Toolset(id="x", tools=[print])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="non-empty str"):
        Toolset(id="", tools=[])


async def test_standalone_updates_are_recorded_only() -> None:
    """UPD-4, UPD-5, EXE-14, scenario 13: ids, templates, a non-str message as-is."""

    @function_tool
    async def work(ctx: RunContext[None]) -> str:
        """Work."""
        await ctx.update("one")
        await ctx.update("two", template="<{call_id}> {message}")
        await ctx.update({"k": 1})
        await ctx.update("four", template=lambda args: f"{args['function_name']}!")
        return "done"

    call = FunctionCall(call_id="orig", name="work")
    ctx: RunContext[None] = RunContext(function_call=call)
    result = await run_tool(work, call, ctx)
    assert result.output.output == "done"
    ids = [pair[0].call_id for pair in ctx.updates]
    assert ids == ["orig", "orig_update_1", "orig_update_2", "orig_update_3"]
    texts = [pair[1].output for pair in ctx.updates]
    assert texts[0].startswith("Progress from tool `work`: one")
    assert texts[1] == "<orig> two"
    assert texts[2] == '{"k":1}'
    assert texts[3] == "work!"


async def test_update_pairs_copy_the_metadata() -> None:
    """UPD-4, scenario 15: later changes of the call's metadata do not leak into pairs."""
    call = FunctionCall(call_id="c", name="t", extra={"a": 1})
    ctx: RunContext[None] = RunContext(function_call=call)
    await ctx.update("x")
    call.extra["a"] = 2
    assert ctx.updates[0][0].extra == {"a": 1}


def test_context_without_session_explains_itself() -> None:
    """CTX-2: session, turn and userdata need a session or a turn."""
    ctx: RunContext[None] = RunContext(function_call=FunctionCall(call_id="c", name="t"))
    with pytest.raises(RuntimeError, match="without a session"):
        _ = ctx.session
    with pytest.raises(RuntimeError, match="without a turn"):
        _ = ctx.speech_handle
    with pytest.raises(ValueError, match="no session"):
        _ = ctx.userdata
    with pytest.raises(RuntimeError, match="without a turn"):
        ctx.disallow_interruptions()
