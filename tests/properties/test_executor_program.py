"""Generated programs keep the executor's invariants on both backends (SPEC section 12;
issue #5). Time moves only through explicit sleep commands (virtual clocks), and tools act
only when a command tells them to, so every interleaving is chosen by hypothesis."""

from __future__ import annotations

import os

import pytest
import sniffio
from hypothesis import given, note, settings
from hypothesis import strategies as st

from tests.backends import running_on_uvloop

from .invariants import check_all
from .scenario import Command, scenario
from .strategies import commands

STEPS: dict[str, int] = {}

# Real-time programs: on uvloop every step costs real time (anyio's wait_all_tasks_blocked
# polls every 0.1 s on asyncio), so they run this many examples; `make soak` runs more.
REAL_TIME_EXAMPLES = 100 if os.environ.get("HYPOTHESIS_PROFILE") == "soak" else 20


def loop_name() -> str:
    """The backend parameter running this test, for the STEPS figures."""
    return "uvloop" if running_on_uvloop() else sniffio.current_async_library()


async def run_program(program: list[Command], *, session_scope: bool) -> None:
    """Apply ``program`` step by step, checking every invariant after each step."""
    async with scenario(session_scope=session_scope) as sc:
        for command in program:
            await sc.apply(command)
            note(f"{command!r} -> {len(sc.host.events)} events")
            check_all(sc.trace)
    backend = loop_name()
    STEPS[backend] = STEPS.get(backend, 0) + len(program)


@pytest.mark.virtual_time  # Sleep commands of a minute
@settings(deadline=None)
@given(program=st.lists(commands(), max_size=40), session_scope=st.booleans())
async def test_generated_programs_keep_the_invariants(
    program: list[Command], session_scope: bool
) -> None:
    """INV-1..14, INV-17, INV-19, INV-20, INV-22 after every step and at teardown."""
    await run_program(program, session_scope=session_scope)


@settings(deadline=None, max_examples=REAL_TIME_EXAMPLES)
@given(program=st.lists(commands(sleeps=(0.0,)), max_size=40), session_scope=st.booleans())
async def test_generated_programs_keep_the_invariants_in_real_time(
    program: list[Command], session_scope: bool
) -> None:
    """The same invariants, with no sleeps: the programs that also run on uvloop."""
    await run_program(program, session_scope=session_scope)
