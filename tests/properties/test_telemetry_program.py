"""Generated programs, observed by OpenTelemetry, keep the executor's invariants and give
telemetry that agrees with the events (issue #17; OTEL-1, OTEL-2, OTEL-4, OBS-1..3)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anyio_tools import CallEnded, CallStarted, CallUpdated, ReplyDropped, ReplyUpdated
from tests.observability.telemetry import Telemetry

from .invariants import check_all
from .scenario import Command, scenario
from .strategies import commands

pytestmark = pytest.mark.virtual_time  # generated programs sleep in virtual time


def check_telemetry(telemetry: Telemetry, events: list[object]) -> None:
    """Every call span ended once, with one update event per update and the call's status;
    one reply span per scheduled reply, ended when its outcome was reported; metrics that
    sum to what the events say."""
    calls = [s for s in telemetry.spans() if s.name.startswith("execute_tool ")]
    started = [e for e in events if isinstance(e, CallStarted)]
    ended = {e.call_id: e for e in events if isinstance(e, CallEnded)}
    by_id = Counter(str((s.attributes or {})["gen_ai.tool.call.id"]) for s in calls)
    assert by_id == Counter(e.call_id for e in started), "one span per admitted call"
    updates = Counter(e.call_id for e in events if isinstance(e, CallUpdated))
    for span in calls:
        call_id = str((span.attributes or {})["gen_ai.tool.call.id"])
        names = [e.name for e in span.events]
        assert names.count("anyio_tools.update") == updates[call_id], call_id
        last = span.events[-1]
        assert last.name == "anyio_tools.ended", call_id
        assert (last.attributes or {})["anyio_tools.call.status"] == ended[call_id].status
    replies = [e for e in events if isinstance(e, ReplyUpdated)]
    scheduled = {e.speech_id for e in replies if e.status == "scheduled"}
    settled = {e.speech_id for e in replies if e.status != "scheduled"}
    spans = {
        str((s.attributes or {})["anyio_tools.reply.id"])
        for s in telemetry.spans()
        if s.name == "deferred_reply"
    }
    assert spans == scheduled & settled, "a reply span ends with its outcome"
    in_flight = sum(p.value for _, p in telemetry.points("anyio_tools.calls.in_flight"))
    assert in_flight == 0
    dropped = sum(p.value for _, p in telemetry.points("anyio_tools.update.dropped"))
    assert dropped == sum(len(e.update_ids) for e in events if isinstance(e, ReplyDropped))
    counted = {
        a["anyio_tools.reply.status"]: p.value
        for a, p in telemetry.points("anyio_tools.reply.count")
    }
    assert counted == dict(Counter(str(e.status) for e in replies))


@settings(deadline=None, max_examples=100)
@given(program=st.lists(commands(), max_size=30), session_scope=st.booleans())
async def test_observed_programs_keep_the_invariants_and_agree_with_telemetry(
    program: list[Command], session_scope: bool
) -> None:
    """INV-1..14 with an instrumentation attached, and telemetry consistent with the events."""
    telemetry = Telemetry()
    try:
        async with scenario(
            session_scope=session_scope, instrumentation=telemetry.instrumentation
        ) as sc:
            for command in program:
                await sc.apply(command)
                check_all(sc.trace)
        check_telemetry(telemetry, list(sc.host.events))
    finally:
        telemetry.shutdown()
