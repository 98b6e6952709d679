"""Generated conversations keep the ordering invariants on both backends (SPEC INV-1, INV-3,
INV-4, INV-6..11, INV-15, INV-16, INV-22; issue #5 at the runtime level), and a run's items
include every reply it caused (CON-11, RUN-1; issue #20 item 1)."""

from __future__ import annotations

import sniffio
from hypothesis import given, note, settings
from hypothesis import strategies as st

from .session_scenario import (
    ACTIONS,
    TOOL_NAMES,
    Act,
    Interrupt,
    Run,
    SessionCommand,
    SwitchAgent,
    UserSpeaking,
    UserTurn,
    Wait,
    session_scenario,
)
from .test_executor_program import STEPS

session_commands: st.SearchStrategy[SessionCommand] = st.one_of(
    st.builds(UserTurn, tool=st.integers(0, len(TOOL_NAMES) - 1)),
    st.builds(Act, pick=st.integers(0, 10), action=st.sampled_from(ACTIONS)),
    st.builds(Act, pick=st.integers(0, 10), action=st.sampled_from(ACTIONS)),
    st.builds(UserSpeaking, speaking=st.booleans()),
    st.just(Interrupt()),
    st.just(SwitchAgent()),
    st.builds(Wait, seconds=st.sampled_from([0.5, 5.0, 60.0])),
    st.builds(Run, handoff=st.booleans()),
)


@settings(deadline=None)
@given(program=st.lists(session_commands, max_size=30))
async def test_generated_conversations_keep_the_invariants(program: list[SessionCommand]) -> None:
    """Every step and the teardown keep the call, reply, floor and leak invariants; every
    run's items include every reply it caused (a handoff's greeting included)."""
    async with session_scenario() as sc:
        for command in program:
            await sc.apply(command)
            note(f"{command!r}")
            sc.check()
    key = f"{sniffio.current_async_library()} (sessions)"
    STEPS[key] = STEPS.get(key, 0) + len(program)
