"""Helpers for executor tests: contexts, a turn double, tools that wait on test events."""

from __future__ import annotations

from typing import Any

import anyio

from anyio_tools import FunctionCall, RunContext


class FakeTurn:
    """A `TurnHandle` double whose interruption permission the test sets."""

    def __init__(self, *, allow_interruptions: bool = True) -> None:
        self.id = "turn_1"
        self.interrupted = False
        self.allow_interruptions = allow_interruptions
        self.num_steps = 1

    async def wait_for_step_playout(self, step: int) -> None:
        await anyio.lowlevel.checkpoint()


def make_ctx(
    call_id: str, name: str, arguments: str = "{}", *, turn: Any = None
) -> RunContext[None]:
    """Build a fresh context for one call."""
    call = FunctionCall(call_id=call_id, name=name, arguments=arguments)
    return RunContext(function_call=call, speech_handle=turn)


def event_names(events: list[Any]) -> list[str]:
    """Return ``Kind:id`` strings for a compact comparison of event logs."""
    out = []
    for event in events:
        ident = getattr(event, "id", None) or getattr(event, "call_id", None)
        if ident is None:
            ident = ",".join(getattr(event, "update_ids", ()))
        out.append(f"{type(event).__name__}:{ident}")
    return out
