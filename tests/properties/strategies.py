"""Hypothesis strategies for scenario commands."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from .scenario import (
    ACTIONS,
    DEADLINES,
    MODES,
    SCOPES,
    Act,
    Busy,
    Cancel,
    Command,
    Drain,
    EndReply,
    Handoff,
    Sleep,
    Start,
)


def commands(sleeps: Sequence[float] = (0.0, 1.0, 60.0)) -> st.SearchStrategy[Command]:
    """Any command, weighted towards starting calls and making them act.

    Args:
        sleeps: The durations a ``Sleep`` command draws from (``(0.0,)`` in real time).
    """
    start = st.builds(
        Start,
        mode=st.sampled_from(MODES),
        scope=st.sampled_from(SCOPES),
        cancellable=st.booleans(),
        key=st.integers(0, 2),
        confirm=st.booleans(),
        deadline=st.sampled_from(DEADLINES),
        seconds=st.sampled_from([0.5, 30.0]),
    )
    act = st.builds(Act, pick=st.integers(0, 20), action=st.sampled_from(ACTIONS))
    return st.one_of(
        start,
        act,
        act,
        st.builds(Busy, busy=st.booleans()),
        st.builds(EndReply, interrupt=st.booleans(), text=st.booleans(), heard=st.booleans()),
        st.builds(EndReply, interrupt=st.just(True), text=st.booleans()),
        st.builds(Cancel, pick=st.integers(0, 20), via_tool=st.booleans()),
        st.builds(Sleep, seconds=st.sampled_from(sleeps)),
        st.just(Handoff()),
        st.just(Drain()),
    )
