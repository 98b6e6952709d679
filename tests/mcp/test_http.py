"""``MCPToolset`` over streamable HTTP on 127.0.0.1: our own ``serve-mcp --transport http``
in a server process that the test starts and stops, served by hypercorn on asyncio and on
trio (issue #14).

This module overrides ``anyio_backend`` with *real* clocks on both backends: the server is a
real process behind a real socket, and a virtual clock would jump over the time its I/O
takes. The one poll is for the server's port to open (a state, checked until it holds);
everything else waits on answers.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from anyio_tools import CallStatus, FunctionCall, ToolExecutor
from anyio_tools.mcp import MCPToolset

ROOT = Path(__file__).resolve().parents[2]

# The SDK's streamable HTTP client leaves each response's SSE iteration with a bare `return`
# once the answer arrived (mcp/client/streamable_http.py, `_handle_sse_response`), after
# closing the response itself. The unexhausted async generators of httpx2/httpcore2 are then
# finalised by trio, which warns (asyncio finalises them silently). The stream is closed
# already, so nothing leaks: these two warnings, and only they, are ignored here.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Async generator 'httpx2.:ResourceWarning"),
    pytest.mark.filterwarnings("ignore:Async generator 'httpcore2.:ResourceWarning"),
]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Both backends, with real clocks (see the module docstring)."""
    return (request.param, {})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(params=["asyncio", "trio"], ids=["server-asyncio", "server-trio"])
async def http_server(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Start ``serve-mcp --transport http`` (on the server backend of the parameter) on a
    free loopback port; stop it afterwards."""
    port = free_port()
    command = [
        sys.executable,
        *("-m", "anyio_tools", "serve-mcp", "tests.mcp.served:tools"),
        *("--transport", "http", "--host", "127.0.0.1", "--port", str(port)),
        *("--backend", request.param),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = await anyio.open_process(command, cwd=ROOT, env=env)
    try:
        with anyio.fail_after(30):
            while True:  # the port opens when hypercorn is ready
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", port)
                except OSError:
                    await anyio.sleep(0.05)
                    continue
                await stream.aclose()
                break
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        with anyio.move_on_after(10, shield=True):
            await process.wait()
        await process.aclose()


def item(name: str, call_id: str, **arguments: int) -> FunctionCall:
    return FunctionCall(call_id=call_id, name=name, arguments=json.dumps(arguments))


async def test_http_progress_result_and_cancel(http_server: str) -> None:
    """#14: over streamable HTTP, progress arrives in order before the result, and a cancel
    ends a running call."""
    with anyio.fail_after(30):
        async with MCPToolset(id="http", server=http_server) as toolset, ToolExecutor() as ex:
            handle = await ex.start(toolset.get_tool("steps"), item("steps", "c1", n=5))
            updates = [u.message async for u in handle.updates()]
            result = await handle.result()
            hung = await ex.start(toolset.get_tool("hang"), item("hang", "c2"))
            assert (await hung.answer()).non_blocking
            hung.cancel("enough")
            cancelled = await hung.result()
    assert updates == [f"step {i}" for i in range(1, 6)]
    assert result.output == "did 5 steps"
    assert cancelled.status is CallStatus.CANCELLED
