"""Shared test set-up: every async test runs on asyncio and on trio, in virtual time.

Determinism rules for the whole suite: tests wait on events and states (never on sleeps used
as guesses); time moves only in virtual clocks (trio's MockClock with autojump, looptime's
loop on asyncio), so a timer of an hour costs nothing and a deadlock fails at once under
``anyio.fail_after``.
"""

from __future__ import annotations

import os
from typing import Any

import looptime
import pytest
from hypothesis import HealthCheck, settings
from trio.testing import MockClock

# Property programs: "default" and "ci" keep `make test` to a few seconds per backend;
# "soak" (`make soak`) runs well over 10,000 generated steps per backend.
settings.register_profile(
    "default",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "soak",
    max_examples=2_500,
    deadline=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
)


def _looptime_loop() -> Any:
    return looptime.new_event_loop()


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Run each async test on both backends, each with a virtual clock."""
    if request.param == "trio":
        return ("trio", {"clock": MockClock(autojump_threshold=0)})
    return ("asyncio", {"debug": True, "loop_factory": _looptime_loop})
