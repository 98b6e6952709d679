"""Generated programs keep the executor's invariants on both backends (SPEC section 12;
issue #5). Time moves only through explicit sleep commands (virtual clocks), and tools act
only when a command tells them to, so every interleaving is chosen by hypothesis."""

from __future__ import annotations

import sniffio
from hypothesis import given, note, settings
from hypothesis import strategies as st

from .invariants import check_all
from .scenario import Command, scenario
from .strategies import commands

STEPS: dict[str, int] = {}


@settings(deadline=None)
@given(program=st.lists(commands(), max_size=40), session_scope=st.booleans())
async def test_generated_programs_keep_the_invariants(
    program: list[Command], session_scope: bool
) -> None:
    """INV-1..14, INV-17, INV-19, INV-20, INV-22 after every step and at teardown."""
    async with scenario(session_scope=session_scope) as sc:
        for command in program:
            await sc.apply(command)
            note(f"{command!r} -> {len(sc.host.events)} events")
            check_all(sc.trace)
    backend = sniffio.current_async_library()
    STEPS[backend] = STEPS.get(backend, 0) + len(program)
