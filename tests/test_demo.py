"""The demo tells its whole story on both backends (issue #4 item 7), in virtual time."""

from __future__ import annotations

import io

import anyio
import pytest

from anyio_tools._demo import _story
from anyio_tools.testing import tool_task_names


async def test_demo_story_runs_to_the_end() -> None:
    """Updates, one coalesced reply, a sub-agent task, a confirm, a filler, a cancel and a
    handoff happen."""
    out = io.StringIO()
    with anyio.fail_after(120):
        counts = await _story(out, 1.0)
    text = out.getvalue()
    assert counts["calls"] == 6
    assert counts["handoffs"] == 2
    assert counts["tasks"] == 1
    assert "one reply for call_1_update_1, call_1_update_2" in text  # DEL-1
    assert "book_flight not run (call_5): `book_flight` is already running" in text  # DUP-5
    assert "agent: The airline is still confirming, one moment." in text  # FIL-4
    assert "call_2 ended cancelled" in text  # CAN-4
    assert "=> handoff booker -> support" in text
    # Issue #18: the booking pauses its agent for a consent task; the consent is asked by the
    # task, answered, and the booker is back before the story goes on; the booking goes on
    # and its result is voiced after the resume.
    paused = text.index("=> booker paused: task fare_consent runs")
    asked = text.index("agent: AF006 is non-refundable, with one cabin bag. Do you accept?")
    answered = text.index("user : Yes, I accept.")
    resumed = text.index("=> booker resumed: task fare_consent ended")
    assert paused < asked < answered < resumed < text.index("one reply for call_1_final")
    assert "handoff booker -> fare_consent" not in text  # a pause, not a handoff
    # The booking's result reaches the new agent after the handoff (SCO-3).
    assert text.index("=> handoff booker -> support") < text.index("one reply for call_1_final")
    assert tool_task_names() == []


@pytest.mark.parametrize("speed", [4.0, 10.0])
async def test_demo_tells_the_same_story_at_any_speed(speed: float) -> None:
    """Issue #21 item 2: at --speed above 1 every delay is scaled, the filler's too, so the
    filler line is still said; and the booking's result is voiced before the session ends."""
    out = io.StringIO()
    with anyio.fail_after(120):
        counts = await _story(out, speed)
    text = out.getvalue()
    assert "agent: The airline is still confirming, one moment." in text  # FIL-4
    assert "agent: Good news from the booking desk" in text  # EXE-9, after the handoff
    assert counts["handoffs"] == 2
    assert "=> booker resumed: task fare_consent ended" in text  # issue #18


def test_demo_transcript_is_identical_on_both_backends() -> None:
    """INV-26: with virtual clocks, asyncio and trio tell the same story, line for line."""
    import looptime
    from trio.testing import MockClock

    transcripts = []
    for backend, options in (
        ("asyncio", {"loop_factory": looptime.new_event_loop}),
        ("trio", {"clock": MockClock(autojump_threshold=0)}),
    ):
        out = io.StringIO()
        anyio.run(_story, out, 1.0, backend=backend, backend_options=options)
        transcripts.append(out.getvalue())
    assert transcripts[0] == transcripts[1]
    assert "summary:" in transcripts[0]


async def test_demo_shows_the_calls_in_flight_after_each_user_turn() -> None:
    """Issue #17 item 4: off a terminal (``make demo`` piped, a log), each user turn is followed
    by one readable ``[in flight]`` line: every running call with its latest update."""
    out = io.StringIO()
    with anyio.fail_after(120):
        await _story(out, 1.0)
    lines = out.getvalue().splitlines()
    flights = [line for line in lines if "[in flight]" in line]
    hotel = lines.index(next(line for line in lines if "find a hotel" in line))
    assert "call_1 book_flight" in lines[hotel + 1]
    assert "looking up flights CDG to JFK" in lines[hotel + 1]
    transfer = next(line for line in lines if "Transfer me to support" in line)
    after_cancel = lines[lines.index(transfer) + 1]
    assert "call_1 book_flight" in after_cancel
    assert "call_2" not in after_cancel  # the hotel search was cancelled before
    assert all("\x1b" not in line for line in lines)  # plain text off a terminal
    assert len(flights) == 6


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_demo_on_a_terminal_keeps_a_live_status_line() -> None:
    """Issue #17 item 4: on a terminal, a status line under the transcript is redrawn with
    each event, naming the running calls and their latest update, and cleared at the end."""
    out = _Terminal()
    with anyio.fail_after(120):
        await _story(out, 1.0)
    text = out.getvalue()
    assert "in flight: call_1 book_flight" in text
    assert "in flight: call_1 book_flight 2.2s: found 3 flights" in text
    assert "[in flight]" not in text
    assert text.split("\nsummary:")[0].endswith("\r\x1b[K")
