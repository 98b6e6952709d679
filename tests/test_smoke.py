"""The virtual clocks work on both backends (they underpin every timing test)."""

from __future__ import annotations

import anyio


async def test_virtual_time_jumps() -> None:
    """An hour of sleep passes at once and reads as exactly an hour."""
    start = anyio.current_time()
    with anyio.fail_after(7200):
        await anyio.sleep(3600)
    assert anyio.current_time() - start == 3600
