"""Shared test set-up: every async test runs on asyncio and on trio, in virtual time, and
the executor, foundation, runtime and property suites also on uvloop, in real time.

Determinism rules for the whole suite: tests wait on events and states (never on sleeps used
as guesses); time moves only in virtual clocks (trio's MockClock with autojump, looptime's
loop on asyncio), so a timer of an hour costs nothing and a deadlock fails at once under
``anyio.fail_after``. uvloop's clock is real (looptime cannot patch it): a test that needs a
virtual clock is marked ``virtual_time`` and skipped there.
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


try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dev dependency except on Windows
    uvloop = None

BACKENDS = ["asyncio", "trio"] if uvloop is None else ["asyncio", "trio", "uvloop"]
# The suites that also run on uvloop (a real clock: see `anyio_backend`).
UVLOOP_SUITES = (
    "tests/executor/",
    "tests/foundation/",
    "tests/properties/",
    "tests/runtime/",
    "tests/test_smoke.py",
)
VIRTUAL_TIME_REASON = (
    "needs a virtual clock (marked virtual_time): uvloop runs in real time, looptime cannot "
    "drive it"
)


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Run each async test on both backends, each with a virtual clock.

    The third parameter, ``uvloop``, is asyncio on uvloop's loop. looptime cannot patch
    uvloop's clock, so it runs in real time: it applies to the suites in ``UVLOOP_SUITES``
    only (see `pytest_collection_modifyitems`), and skips the tests marked ``virtual_time``
    (they sleep or time out in virtual hours).
    """
    if request.param == "trio":
        return ("trio", {"clock": MockClock(autojump_threshold=0)})
    if request.param == "uvloop":
        if request.node.get_closest_marker("virtual_time") is not None:
            pytest.skip(VIRTUAL_TIME_REASON)
        return ("asyncio", {"debug": True, "loop_factory": uvloop.new_event_loop})
    return ("asyncio", {"debug": True, "loop_factory": _looptime_loop})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the ``uvloop`` runs of the tests outside `UVLOOP_SUITES`.

    The ``uvloop`` runs that stay get pytest-timeout's thread method: uvloop runs Python
    signal handlers as loop callbacks and logs what they raise, so the default SIGALRM
    method could not stop a hung test there.
    """
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_uvloop = callspec is not None and callspec.params.get("anyio_backend") == "uvloop"
        if on_uvloop and not item.nodeid.startswith(UVLOOP_SUITES):
            dropped.append(item)
        else:
            if on_uvloop:
                item.add_marker(pytest.mark.timeout(method="thread"))
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
