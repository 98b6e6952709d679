"""OpenTelemetry traces and metrics from the in-memory SDK, on asyncio and trio (issue #17,
OTEL-1..5 in `anyio_tools.otel`, OBS-1..3 in `anyio_tools._instrument`)."""

from __future__ import annotations

from typing import Any

import anyio
from opentelemetry import trace

from anyio_tools import (
    CallEnded,
    ReplyStatus,
    ReplyUpdated,
    RunContext,
    ToolExecutor,
    ToolFlag,
    function_tool,
)
from anyio_tools._instrument import default_instrumentation
from anyio_tools.otel import instrument
from anyio_tools.runtime import Agent, AgentSession
from anyio_tools.testing import FakeHost
from tests.executor.helpers import make_ctx
from tests.observability.telemetry import Telemetry
from tests.runtime.helpers import Recorder, call, llm

tracer = trace.get_tracer("tests.tool")  # the global (proxy) tracer a tool would use


async def test_a_span_the_tool_starts_is_a_child_of_its_call_span(telemetry: Telemetry) -> None:
    """OTEL-1, OBS-2: the call's span is current in the call's own task, so a span the tool
    starts (and one a task of the tool starts) is its child; the call span's parent is what
    was current where the call was dispatched; GenAI attribute names."""
    own = telemetry.tracer

    @function_tool
    async def fetch(ctx: RunContext[None]) -> str:
        """Make spans of its own."""
        with own.start_as_current_span("GET /weather"):
            await anyio.lowlevel.checkpoint()

        async def query() -> None:
            with own.start_as_current_span("SELECT"):
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as group:
            group.start_soon(query)
        return "sunny"

    async with ToolExecutor(instrumentation=telemetry.instrumentation) as executor:
        with own.start_as_current_span("turn"):
            result = await executor.execute(fetch, make_ctx("c1", "fetch"))
    assert result.output.output == "sunny"
    call_span = telemetry.span("execute_tool fetch")
    turn = telemetry.span("turn")
    assert call_span.parent is not None
    assert call_span.parent.span_id == turn.context.span_id
    for child in ("GET /weather", "SELECT"):
        parent = telemetry.span(child).parent
        assert parent is not None, child
        assert parent.span_id == call_span.context.span_id, child
    assert dict(call_span.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "fetch",
        "gen_ai.tool.call.id": "c1",
        "gen_ai.tool.type": "function",
        "anyio_tools.call.status": "done",
        "anyio_tools.call.updates": 0,
    }
    assert [e.name for e in call_span.events] == ["anyio_tools.ended"]


async def test_a_call_run_in_its_callers_task_has_its_span_there(telemetry: Telemetry) -> None:
    """OTEL-1, OBS-2 with CALL-1 (``ToolExecutor.call``): the call's span is current while its
    tool runs in the caller's task, as the child of the caller's span, and the caller's span is
    current again afterwards."""
    own = telemetry.tracer

    @function_tool
    async def fetch(ctx: RunContext[None]) -> str:
        """Make a span of its own."""
        with own.start_as_current_span("GET /weather"):
            await anyio.lowlevel.checkpoint()
        return "sunny"

    async with ToolExecutor(instrumentation=telemetry.instrumentation) as executor:
        with own.start_as_current_span("request") as request:
            result = await executor.call(fetch, make_ctx("c1", "fetch"))
            current_after = trace.get_current_span()
    assert result.output == "sunny"
    assert current_after is request
    call_span = telemetry.span("execute_tool fetch")
    assert call_span.parent is not None
    assert call_span.parent.span_id == telemetry.span("request").context.span_id
    child = telemetry.span("GET /weather").parent
    assert child is not None
    assert child.span_id == call_span.context.span_id


async def test_updates_cancellation_and_duplicates_are_span_events(telemetry: Telemetry) -> None:
    """OTEL-1: updates, the duplicate decision and the cancellation reason are events of the
    replaced call's span; an error outcome sets the span's status and error.type."""
    started = anyio.Event()

    @function_tool(on_duplicate="replace", flags=ToolFlag.CANCELLABLE)
    async def search(ctx: RunContext[None], q: str) -> str:
        """Search until replaced."""
        await ctx.update(f"searching {q}")
        started.set()
        await anyio.sleep_forever()
        return "never"

    @function_tool
    async def broken(ctx: RunContext[None]) -> str:
        """Fail."""
        raise ValueError("boom")

    host = FakeHost()
    async with ToolExecutor(host, instrumentation=telemetry.instrumentation) as executor:
        await executor.execute(search, make_ctx("s1", "search", '{"q": "a"}'))
        await started.wait()
        await executor.execute(search, make_ctx("s2", "search", '{"q": "b"}'))
        await executor.execute(broken, make_ctx("b1", "broken"))
        await executor.cancel_all()
    first = next(s for s in telemetry.spans() if s.attributes["gen_ai.tool.call.id"] == "s1")  # type: ignore[index]
    events = [(e.name, dict(e.attributes or {})) for e in first.events]
    assert events == [
        ("anyio_tools.update", {"anyio_tools.update.id": "s1", "anyio_tools.update.index": 0}),
        (
            "anyio_tools.duplicate",
            {"anyio_tools.duplicate.decision": "replaced", "gen_ai.tool.call.id": "s2"},
        ),
        ("anyio_tools.cancelled", {"anyio_tools.cancel.reason": "replaced by a duplicate call"}),
        ("anyio_tools.ended", {"anyio_tools.call.status": "cancelled"}),
    ]
    failed = telemetry.span("execute_tool broken")
    assert failed.status.status_code is trace.StatusCode.ERROR
    assert (failed.attributes or {})["error.type"] == "ValueError"


async def run_conversation(telemetry: Telemetry) -> Recorder:
    """A scripted conversation: `book` answers at once, makes two later updates and ends;
    the conversation voices them in deferred replies."""
    done = anyio.Event()

    @function_tool
    async def book(ctx: RunContext[None]) -> str:
        """Book a table."""
        await ctx.update("looking")
        with trace.get_tracer("tests").start_as_current_span("inner"):
            await anyio.sleep(1)
        await ctx.update("found one")
        await anyio.sleep(1)
        await ctx.update("holding it")
        done.set()
        return "booked"

    session: AgentSession[None] = AgentSession(
        llm=llm({"go": [call("book")]}, reply="REPLY"),
        instrumentation=telemetry.instrumentation,
    )
    events = Recorder(session)
    final_voiced = anyio.Event()

    def on_reply(event: ReplyUpdated) -> None:
        if event.status is not ReplyStatus.SCHEDULED and any(
            i.endswith("_final") for i in event.update_ids
        ):
            final_voiced.set()

    session.on(ReplyUpdated, on_reply)
    with anyio.fail_after(600):
        async with session:
            await session.start(Agent(instructions="x", tools=[book]))
            await session.run(user_input="go")
            await done.wait()
            await final_voiced.wait()
    return events


async def test_reply_spans_link_to_the_calls_they_voice(telemetry: Telemetry) -> None:
    """OTEL-2, OTEL-3: each deferred reply is one span linked to the call span whose updates
    it voices; the activity span is the session span's child and the reply's parent."""
    events = await run_conversation(telemetry)
    [ended] = events.of(CallEnded)
    call_span = next(s for s in telemetry.spans() if s.name == "execute_tool book")
    replies = [s for s in telemetry.spans() if s.name == "deferred_reply"]
    voiced = [e for e in events.of(ReplyUpdated) if e.status is ReplyStatus.SCHEDULED]
    assert len(replies) == len(voiced) >= 1
    linked = {link.context.span_id for reply in replies for link in reply.links}
    assert linked == {call_span.context.span_id}
    ids = sorted(str(link.attributes["anyio_tools.update.id"]) for r in replies for link in r.links)  # type: ignore[index]
    cid = ended.call_id
    assert ids == sorted([f"{cid}_update_1", f"{cid}_update_2", f"{cid}_final"])
    session = telemetry.span("agent_session")
    activity = telemetry.span("invoke_agent Agent")
    assert activity.parent is not None
    assert activity.parent.span_id == session.context.span_id
    for reply in replies:
        assert reply.parent is not None
        assert reply.parent.span_id == activity.context.span_id
        assert reply.attributes is not None
        assert reply.attributes["anyio_tools.reply.status"]
    assert call_span.context.trace_id == session.context.trace_id


async def test_metrics_after_a_scripted_conversation(telemetry: Telemetry) -> None:
    """OTEL-4: in flight, duration, time to first update, updates per call, replies by
    status, read on the loop's (virtual) clock."""
    events = await run_conversation(telemetry)
    tool = {"gen_ai.tool.name": "book"}
    assert [(a, p.value) for a, p in telemetry.points("anyio_tools.calls.in_flight")] == [(tool, 0)]
    [(attributes, duration)] = telemetry.points("anyio_tools.call.duration")
    assert attributes == {**tool, "anyio_tools.call.status": "done"}
    assert (duration.count, duration.sum) == (1, 2.0)
    [(_, first)] = telemetry.points("anyio_tools.call.time_to_first_update")
    assert (first.count, first.sum) == (1, 0.0)
    [(_, updates)] = telemetry.points("anyio_tools.call.updates")
    assert (updates.count, updates.sum) == (1, 3)
    replies = {
        a["anyio_tools.reply.status"]: p.value
        for a, p in telemetry.points("anyio_tools.reply.count")
    }
    statuses = [str(e.status) for e in events.of(ReplyUpdated)]
    assert replies == {s: statuses.count(s) for s in set(statuses)}
    assert replies["scheduled"] >= 1


async def test_dropped_items_are_counted_by_reason(telemetry: Telemetry) -> None:
    """OTEL-4, OBS-3: updates that never got a reply (the two after the first) are counted
    with the drop's reason."""
    host = FakeHost()
    host.set_busy(True)

    @function_tool
    async def chatty(ctx: RunContext[None]) -> None:
        """Update three times."""
        for i in range(3):
            await ctx.update(f"step {i}")

    async with ToolExecutor(host, instrumentation=telemetry.instrumentation) as executor:
        await executor.execute(chatty, make_ctx("d1", "chatty"))
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
    points = [(a, p.value) for a, p in telemetry.points("anyio_tools.update.dropped")]
    assert points == [({"anyio_tools.drop.reason": "activity_closed"}, 2)]


async def test_nothing_is_emitted_when_opentelemetry_is_not_configured() -> None:
    """OTEL-5: with the API installed but no SDK provider set globally, `instrument` installs
    nothing, executors carry no instrumentation and a tool sees no span."""
    assert instrument() is None
    assert default_instrumentation() is None
    seen: list[Any] = []

    @function_tool
    async def look(ctx: RunContext[None]) -> str:
        """Look at the current span."""
        seen.append(trace.get_current_span().get_span_context())
        return "ok"

    async with ToolExecutor() as executor:
        assert executor._instrument is None
        await executor.execute(look, make_ctx("n1", "look"))
    assert seen == [trace.INVALID_SPAN_CONTEXT]


async def test_instrument_with_a_provider_becomes_the_default(telemetry: Telemetry) -> None:
    """OTEL-5: `instrument` given providers installs an instrumentation that executors built
    afterwards use; `uninstrument` (the fixture) removes it."""
    installed = instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    assert installed is not None
    assert default_instrumentation() is installed

    @function_tool
    async def look(ctx: RunContext[None]) -> str:
        """Do nothing."""
        return "ok"

    async with ToolExecutor() as executor:
        await executor.execute(look, make_ctx("i1", "look"))
    assert [s.name for s in telemetry.spans()] == ["execute_tool look"]


async def test_a_failing_instrumentation_never_breaks_a_call() -> None:
    """OBS-1: an instrumentation hook that raises is logged; the call runs and ends."""
    from contextlib import nullcontext

    class Broken:
        def __getattr__(self, name: str) -> Any:
            if name.endswith("_scope"):
                return lambda *a: nullcontext()

            def fail(*args: Any) -> None:
                raise RuntimeError(name)

            return fail

    @function_tool
    async def fine(ctx: RunContext[None]) -> str:
        """Update, then answer."""
        await ctx.update("working")
        return "ok"

    host = FakeHost()
    async with ToolExecutor(host, instrumentation=Broken()) as executor:  # type: ignore[arg-type]
        await executor.execute(fine, make_ctx("f1", "fine"))
        await host.wait_until(lambda: any(isinstance(e, CallEnded) for e in host.events))
    [ended] = [e for e in host.events if isinstance(e, CallEnded)]
    assert ended.status == "done"
