"""The virtual clocks work on both backends (they underpin every timing test), and each
backend parameter runs on the loop it names (tests/conftest.py)."""

from __future__ import annotations

import asyncio

import anyio
import looptime
import pytest
import sniffio

from .backends import running_on_uvloop


async def test_each_backend_parameter_runs_on_the_loop_it_names(
    request: pytest.FixtureRequest,
) -> None:
    """``asyncio`` runs on looptime's virtual loop, ``trio`` on trio, and ``uvloop`` really on
    uvloop's loop, so a uvloop-only failure cannot pass as an asyncio run."""
    param = request.node.callspec.params["anyio_backend"]
    library = sniffio.current_async_library()
    if param == "trio":
        assert library == "trio"
        assert not running_on_uvloop()
        return
    assert library == "asyncio"
    loop = asyncio.get_running_loop()
    if param == "uvloop":
        import uvloop

        assert isinstance(loop, uvloop.Loop), type(loop)
        assert running_on_uvloop()
    else:
        assert param == "asyncio"
        assert isinstance(loop, looptime.LoopTimeEventLoop), type(loop)
        assert not running_on_uvloop()


@pytest.mark.virtual_time
async def test_virtual_time_jumps() -> None:
    """An hour of sleep passes at once and reads as exactly an hour."""
    start = anyio.current_time()
    with anyio.fail_after(7200):
        await anyio.sleep(3600)
    assert anyio.current_time() - start == 3600
