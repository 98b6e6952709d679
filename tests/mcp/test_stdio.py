"""``MCPToolset`` over stdio: our own ``serve-mcp`` command as a subprocess (issue #14).

This module overrides ``anyio_backend`` with *real* clocks on both backends: the server is a
real process, and a virtual clock would jump over the time its I/O takes (trio's autojump
fires timeouts as soon as every task waits on the pipe). Waits are still on states: the
answers of the calls and the events of the tools.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import StdioServerParameters

from anyio_tools import CallStatus, FunctionCall, ToolExecutor
from anyio_tools.mcp import MCPToolset

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


def item(name: str, call_id: str, **arguments: int) -> FunctionCall:
    return FunctionCall(call_id=call_id, name=name, arguments=json.dumps(arguments))


async def test_stdio_progress_result_kill_and_reconnect() -> None:
    """#14: progress in order over stdio; the server killed mid-call ends the call with a
    clear error; the next call starts a new server process."""
    with anyio.fail_after(30):
        async with MCPToolset(id="stdio", server=server()) as toolset, ToolExecutor() as ex:
            handle = await ex.start(toolset.get_tool("steps"), item("steps", "c1", n=5))
            updates = [u.message async for u in handle.updates()]
            assert (await handle.result()).output == "did 5 steps"
            pid = int(
                (
                    await (
                        await ex.start(toolset.get_tool("whoami"), item("whoami", "c2"))
                    ).result()
                ).output
                or 0
            )
            hung = await ex.start(toolset.get_tool("hang"), item("hang", "c3"))
            await hung.answer()
            os.kill(pid, signal.SIGKILL)
            lost = await hung.result()
            again = await (
                await ex.start(toolset.get_tool("whoami"), item("whoami", "c4"))
            ).result()
    assert updates == [f"step {i}" for i in range(1, 6)]
    assert lost.status is CallStatus.ERROR
    assert lost.output is not None
    assert "was lost during the call of `hang`; the next call reconnects" in lost.output
    assert again.status is CallStatus.DONE
    assert int(again.output or 0) not in (0, pid)
