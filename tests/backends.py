"""Which loop runs the current test (tests/conftest.py: asyncio, trio, uvloop)."""

from __future__ import annotations

import asyncio

import sniffio


def running_on_uvloop() -> bool:
    """True when the current test runs on uvloop's loop (the ``uvloop`` backend parameter).

    That loop's clock is real: a test that would sleep in virtual time sleeps for real there.
    """
    if sniffio.current_async_library() != "asyncio":
        return False
    return type(asyncio.get_running_loop()).__module__.startswith("uvloop")
