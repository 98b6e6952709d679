"""``MCPToolset`` over stdio: our own ``serve-mcp`` command as a subprocess (issue #14).

This module overrides ``anyio_backend`` with *real* clocks on both backends: the server is a
real process, and a virtual clock would jump over the time its I/O takes (trio's autojump
fires timeouts as soon as every task waits on the pipe). Waits are still on states: the
answers of the calls and the events of the tools.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import StdioServerParameters

from anyio_tools import CallEnded, CallStatus, CallUpdated, FunctionCallOutput
from anyio_tools.mcp import MCPToolset
from anyio_tools.runtime import Agent, AgentSession
from tests.runtime.helpers import Recorder, call, llm

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Both backends, with real clocks (see the module docstring)."""
    return (request.param, {})


def server() -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "anyio_tools", "serve-mcp", "tests.mcp.served:tools", "--transport", "stdio"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def test_stdio_progress_result_kill_and_reconnect() -> None:
    """#14: progress in order over stdio; the server killed mid-call ends the call with a
    clear error while the session goes on; the next call starts a new server process."""
    script = {
        "steps": [call("steps", n=5)],
        "pid": [call("whoami")],
        "hang": [call("hang")],
        "pid again": [call("whoami")],
    }
    session: AgentSession[None] = AgentSession(
        llm=llm(script),
        tools=[MCPToolset(id="stdio", server=server())],  # type: ignore[list-item]
    )
    events = Recorder(session)
    ended = {call_id: anyio.Event() for call_id in ("call_1", "call_3")}

    def on_event(event: object) -> None:
        if isinstance(event, CallEnded) and event.call_id in ended:
            ended[event.call_id].set()

    session.on(None, on_event)
    with anyio.fail_after(30):
        async with session:
            await session.start(Agent(instructions="x"))
            await session.run(user_input="steps")
            await ended["call_1"].wait()
            updates = [e.message for e in events.of(CallUpdated) if e.call_id == "call_1"]
            await session.run(user_input="pid")
            pid = int(outputs(session)["call_2"])
            await session.run(user_input="hang")  # answered by its first update
            os.kill(pid, signal.SIGKILL)
            await ended["call_3"].wait()
            lost = next(e for e in events.of(CallEnded) if e.call_id == "call_3")
            await session.run(user_input="pid again")
            again = int(outputs(session)["call_4"])
    assert updates == [f"step {i}" for i in range(1, 6)]
    assert lost.status is CallStatus.ERROR
    assert lost.message is not None
    assert "was lost during the call of `hang`; the next call reconnects" in lost.message
    assert again not in (0, pid)


def outputs(session: AgentSession[None]) -> dict[str, str]:
    return {i.call_id: i.output for i in session.history.items if isinstance(i, FunctionCallOutput)}
