"""The benchmark suite runs (issue #6): every row once at toy sizes, on the test's backend.

This checks that `benchmarks/run.py` still works against the current API and that its JSON
output holds every figure; it asserts nothing about speed (the suite measures that itself).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import anyio

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


async def test_every_row_runs_and_reports_a_figure(anyio_backend_name: str) -> None:
    result = await anyio.run_process(
        [sys.executable, str(SCRIPT), "--smoke", "--backends", anyio_backend_name], check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    assert report["preset"] == "smoke"
    assert report["rounds"] == 1
    sizes = report["sizes"]
    figures = report["backends"][anyio_backend_name]
    small, big = sizes["in_flight"]
    expected = {
        "baseline.spawn_await_us",
        "baseline.bytes_per_task",
        "baseline.wake_us",
        "baseline.started_us",
        "dispatch.immediate_us",
        "dispatch.first_update_us",
        *(f"update.history_{size}_us" for size in sizes["histories"]),
        f"inflight.{small}.bytes_per_call",
        *(
            f"{kind}.{count}.{figure}"
            for count in (small, big)
            for kind, figure in (
                ("inflight", "start_us"),
                ("inflight", "start_concurrent_us"),
                ("inflight", "drain_us"),
                ("baseline", "start_us"),
                ("baseline", "start_soon_us"),
                ("baseline", "cancel_us"),
            )
        ),
        "coalescing.updates_per_s",
        "coalescing.replies",
        "handoff.us",
        "baseline.handoff_cancel_us",
        "sessions.turns_per_s",
        "sessions.whole_per_s",
        "sessions.bytes_per_session",
        "gc.whole_ms",  # row 16 (issue #19)
        "gc.in_flight_ms",
        "baseline.gc_bare_ms",
        *(
            f"{row}.{size}_us"
            for row in ("admit_keyed", "bare_waiting", "one_call_updates")
            for size in ("small", "large")
        ),
        *(
            f"{prefix}mcp.{transport}.{figure}"
            for prefix in ("", "baseline.")
            for transport in ("memory", "http")
            for figure in ("call_us", "calls_per_s")
        ),
    }
    expected |= {  # row 8 (issue #13)
        f"convert.{name}.history_{size}_us"
        for name in ("chat", "responses", "anthropic")
        for size in (10, 1_000, 10_000)
    }
    expected |= {f"mcp.{transport}.execute_us" for transport in ("memory", "http")}  # row 10
    expected.add("mcp.memory.floor_us")  # row 10's floor
    expected.add("ledger.per_update_us")  # row 15 (issue #15)
    expected |= {"deadline.with_us", "deadline.without_us"}  # row 13 (issue #16)
    expected |= {  # row 14 (issue #17)
        f"otel.{mode}.{row}_us"
        for mode in ("off", "nosdk", "sdk")
        for row in ("dispatch", "update")
    }
    assert set(figures) == expected
    for key, stats in figures.items():
        assert math.isfinite(stats["median"]), key
        assert stats["median"] > 0, key
    # Row 6's invariant holds at any size: one busy period, one reply.
    assert figures["coalescing.replies"]["median"] == 1
