"""OpenTelemetry traces and metrics for calls and replies (install ``anyio_tools[otel]``).

`OpenTelemetry` is an `anyio_tools.Instrumentation`: give it to a `ToolExecutor` or an
`AgentSession` (``instrumentation=``), or call `instrument` once, after the SDK's providers are
configured, to make it the default of every executor and session built afterwards.

Traces (attribute names from OpenTelemetry's GenAI semantic conventions where they exist):

- OTEL-1: one span per call, ``execute_tool {tool name}``, with ``gen_ai.operation.name``,
  ``gen_ai.tool.name``, ``gen_ai.tool.call.id`` and ``gen_ai.tool.type``. It is started at
  admission (its parent is what was current in the dispatching task) and is *current inside
  the call's own task*, so the spans the tool makes (an HTTP client's, a database's) are its
  children. Its events: ``anyio_tools.update`` per update, ``anyio_tools.duplicate`` when a
  duplicate of the call is ``refused``, ``admitted`` or ``replaced`` it, ``anyio_tools.cancelled`` with the
  cancellation's reason, and ``anyio_tools.ended`` with the outcome; an error outcome sets the
  span's status to ERROR and ``error.type``.
- OTEL-2: one span per deferred reply, ``deferred_reply``, from its scheduling to its
  outcome, linked to the spans of the calls whose updates it voices.
- OTEL-3: a session span (``agent_session``) and one span per agent activity
  (``invoke_agent {agent name}``) around them, in the reference runtime. The session span is
  current in the body of ``async with session``, so the calls of turns started there (and
  the spans of the application) are its children; the activity span is current in the
  activity's own tasks, so deferred replies, the turns they start and ``on_enter`` are its
  children. Wrap ``session.run`` in a span of your own to group a turn's calls.

Metrics (meter ``anyio_tools``):

- OTEL-4: ``anyio_tools.calls.in_flight`` (up-down counter, per ``gen_ai.tool.name``),
  ``anyio_tools.call.duration`` (histogram, seconds, per tool and ``anyio_tools.call.status``),
  ``anyio_tools.call.time_to_first_update`` (histogram, seconds, per tool),
  ``anyio_tools.call.updates`` (histogram, updates per call, per tool),
  ``anyio_tools.reply.count`` (counter, per ``anyio_tools.reply.status``: scheduled, then
  completed, interrupted or skipped) and ``anyio_tools.update.dropped`` (counter, per
  ``anyio_tools.drop.reason``). Durations are read on the event loop's clock.

- OTEL-5: no cost when nothing is configured: `instrument` installs nothing (and returns None)
  when neither a tracer provider nor a meter provider of an SDK is set globally, so executors
  keep their instrumentation at None and pay nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Final, final

import anyio
from opentelemetry import metrics, trace
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode, use_span

from ._chat import FunctionCall
from ._events import CallStatus, ReplyDropped, ReplyStatus, ReplyUpdated, ToolEvent
from ._instrument import set_default_instrumentation

if TYPE_CHECKING:
    from ._calls import CallHandle
    from ._outcomes import Outcome

__all__ = ["OpenTelemetry", "instrument", "uninstrument"]

_SCOPE: Final = "anyio_tools"
_TOOL: Final = "gen_ai.tool.name"
_KEPT_ENTRIES: Final = 10_000  # deferred entries remembered for reply links, oldest dropped
_MAX_LINKS: Final = 128  # the SDK's default link limit per span


@final
class _Call:
    __slots__ = ("attributes", "first_update", "span", "started", "updates")

    def __init__(self, span: Span, started: float, attributes: dict[str, str]) -> None:
        self.span = span
        self.started = started
        self.attributes = attributes
        self.first_update: float | None = None
        self.updates = 0


@final
class OpenTelemetry:
    """Spans and metrics for calls, replies, sessions and activities (OTEL-1..4).

    Args:
        tracer_provider: Where spans go; the global tracer provider by default.
        meter_provider: Where metrics go; the global meter provider by default.
        capture_content: Also record each update's message in its span event
            (``anyio_tools.update.message``). Off by default: messages may hold user data.
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        capture_content: bool = False,
    ) -> None:
        self._tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, meter_provider=meter_provider)
        self._capture_content = capture_content
        self._in_flight = meter.create_up_down_counter(
            "anyio_tools.calls.in_flight", unit="{call}", description="Calls running now."
        )
        self._duration = meter.create_histogram(
            "anyio_tools.call.duration", unit="s", description="From admission to the end."
        )
        self._first_update = meter.create_histogram(
            "anyio_tools.call.time_to_first_update",
            unit="s",
            description="From admission to the first update.",
        )
        self._updates = meter.create_histogram(
            "anyio_tools.call.updates", unit="{update}", description="Updates one call made."
        )
        self._replies = meter.create_counter(
            "anyio_tools.reply.count", unit="{reply}", description="Deferred replies, by status."
        )
        self._dropped = meter.create_counter(
            "anyio_tools.update.dropped",
            unit="{item}",
            description="Queued updates that got no reply, by reason.",
        )
        self._calls: dict[int, _Call] = {}  # by id() of the running CallHandle
        self._entries: dict[str, SpanContext] = {}  # deferred entry id -> its call's span
        self._replies_open: dict[str, Span] = {}

    def __repr__(self) -> str:
        return f"<OpenTelemetry {len(self._calls)} calls traced>"

    # -- calls ------------------------------------------------------------------------------

    def call_started(self, call: CallHandle) -> None:
        """Start the call's span and count it in flight (OTEL-1, OTEL-4)."""
        name = call.name
        tool = {_TOOL: name}
        span = self._tracer.start_span(
            f"execute_tool {name}",
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                _TOOL: name,
                "gen_ai.tool.call.id": call.call_id,
                "gen_ai.tool.type": "function",
            },
        )
        self._calls[id(call)] = _Call(span, anyio.current_time(), tool)
        self._in_flight.add(1, tool)

    def call_scope(self, call: CallHandle) -> AbstractContextManager[object]:
        """Make the call's span current in the call's task (OTEL-1)."""
        state = self._calls.get(id(call))
        if state is None:
            return nullcontext()
        return use_span(
            state.span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        )

    def call_updated(self, call: CallHandle, entry_id: str, message: str) -> None:
        """Record an update as a span event; time the first one (OTEL-1, OTEL-4)."""
        state = self._calls.get(id(call))
        if state is None:
            return
        state.updates += 1
        attributes: dict[str, str | int] = {
            "anyio_tools.update.id": entry_id,
            "anyio_tools.update.index": state.updates - 1,
        }
        if self._capture_content:
            attributes["anyio_tools.update.message"] = message
        state.span.add_event("anyio_tools.update", attributes)
        if state.first_update is None:
            state.first_update = anyio.current_time()
            self._first_update.record(state.first_update - state.started, state.attributes)
        else:
            self._remember(entry_id, state.span.get_span_context())

    def call_ended(self, call: CallHandle, outcome: Outcome) -> None:
        """Record the outcome, end the span, record the call's metrics (OTEL-1, OTEL-4)."""
        state = self._calls.pop(id(call), None)
        if state is None:
            return
        span = state.span
        status = outcome.status
        if status is CallStatus.CANCELLED:
            span.add_event(
                "anyio_tools.cancelled", {"anyio_tools.cancel.reason": outcome.reason or ""}
            )
        elif state.updates:
            self._remember(f"{call.call_id}_final", span.get_span_context())
        span.add_event("anyio_tools.ended", {"anyio_tools.call.status": status.value})
        span.set_attribute("anyio_tools.call.status", status.value)
        span.set_attribute("anyio_tools.call.updates", state.updates)
        if status is CallStatus.ERROR:
            error = outcome.error
            span.set_attribute(
                "error.type", "tool_error" if error is None else type(error).__qualname__
            )
            span.set_status(Status(StatusCode.ERROR, outcome.text))
        span.end()
        tool = state.attributes
        self._in_flight.add(-1, tool)
        self._updates.record(state.updates, tool)
        self._duration.record(
            anyio.current_time() - state.started, {**tool, "anyio_tools.call.status": status.value}
        )

    def duplicate_decided(
        self, item: FunctionCall, decision: str, running: Sequence[CallHandle]
    ) -> None:
        """Record a duplicate decision on the running calls' spans and the current one."""
        attributes = {
            "anyio_tools.duplicate.decision": decision,
            "gen_ai.tool.call.id": item.call_id,
        }
        for call in running:
            state = self._calls.get(id(call))
            if state is not None:
                state.span.add_event("anyio_tools.duplicate", attributes)
        trace.get_current_span().add_event("anyio_tools.duplicate", attributes)

    # -- replies ----------------------------------------------------------------------------

    def event(self, event: ToolEvent) -> None:
        """Open, close and count reply spans; count dropped items (OTEL-2, OTEL-4)."""
        if isinstance(event, ReplyUpdated):
            status = event.status
            self._replies.add(1, {"anyio_tools.reply.status": status.value})
            if status is ReplyStatus.SCHEDULED:
                self._reply_scheduled(event.speech_id, event.update_ids)
                return
            span = self._replies_open.pop(event.speech_id, None)
            if span is not None:
                span.set_attribute("anyio_tools.reply.status", status.value)
                span.end()
        elif isinstance(event, ReplyDropped):
            for entry_id in event.update_ids:
                self._entries.pop(entry_id, None)
            self._dropped.add(
                len(event.update_ids), {"anyio_tools.drop.reason": event.reason.value}
            )

    def _reply_scheduled(self, reply_id: str, ids: Sequence[str]) -> None:
        links: list[Link] = []
        for entry_id in ids:
            context = self._entries.pop(entry_id, None)
            if context is not None and len(links) < _MAX_LINKS:
                links.append(Link(context, {"anyio_tools.update.id": entry_id}))
        span = self._tracer.start_span(
            "deferred_reply",
            links=links,
            attributes={"anyio_tools.reply.id": reply_id, "anyio_tools.reply.updates": len(ids)},
        )
        self._replies_open[reply_id] = span

    def _remember(self, entry_id: str, context: SpanContext) -> None:
        entries = self._entries
        if len(entries) >= _KEPT_ENTRIES:
            del entries[next(iter(entries))]
        entries[entry_id] = context

    # -- sessions and activities ------------------------------------------------------------

    def session_scope(self, name: str) -> AbstractContextManager[object]:
        """A current span around a session (OTEL-3)."""
        return self._tracer.start_as_current_span(
            name, record_exception=False, set_status_on_exception=False
        )

    def activity_scope(self, agent: str) -> AbstractContextManager[object]:
        """A current span around one agent's activity (OTEL-3)."""
        return self._tracer.start_as_current_span(
            f"invoke_agent {agent}",
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent},
            record_exception=False,
            set_status_on_exception=False,
        )


def _is_api_only(provider: object) -> bool:
    # The API's own providers (no-op and proxy) live in the API packages; an SDK's do not.
    module = type(provider).__module__
    return module.startswith(("opentelemetry.trace", "opentelemetry.metrics"))


def instrument(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    capture_content: bool = False,
) -> OpenTelemetry | None:
    """Make an `OpenTelemetry` the default of executors and sessions built from now on.

    Call it after configuring the SDK. When no provider is given and none of an SDK is set
    globally, nothing is installed and None is returned: without a configured SDK, calls cost
    exactly what they cost without OpenTelemetry (OTEL-5).

    Args:
        tracer_provider: Where spans go; the global tracer provider by default.
        meter_provider: Where metrics go; the global meter provider by default.
        capture_content: Record update messages in span events.

    Returns:
        The installed instrumentation, or None when nothing is configured.
    """
    if (
        tracer_provider is None
        and meter_provider is None
        and _is_api_only(trace.get_tracer_provider())
        and _is_api_only(metrics.get_meter_provider())
    ):
        set_default_instrumentation(None)
        return None
    instrumentation = OpenTelemetry(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content=capture_content,
    )
    set_default_instrumentation(instrumentation)
    return instrumentation


def uninstrument() -> None:
    """Remove the default instrumentation `instrument` installed."""
    set_default_instrumentation(None)
