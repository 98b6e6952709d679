"""Streamable HTTP serving with hypercorn, on the running backend (asyncio or trio; issue #14).

hypercorn ships one ``serve()`` per event loop, so the running loop is asked for its name
through ``sniffio`` (a dependency of the ``mcp`` extra), the public detection that asyncio and
trio both answer; nothing else in the library needs to know the backend.

No signal handlers are installed: serving ends when the caller's scope is cancelled. hypercorn
does not expect its ``serve()`` to be cancelled (on asyncio its clean-up then fails), so it
runs shielded in a task of our own, and a cancellation becomes its graceful shutdown (bounded
by its ``graceful_timeout``, then by our own bound, after which the shield is lifted).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio
import sniffio
from hypercorn.config import Config

from anyio_tools._groups import collapse_groups

__all__ = ["serve_http"]

_GRACE: Final = 3.0  # seconds hypercorn waits for open requests when shutting down
_SHUTDOWN_BOUND: Final = _GRACE + 2.0  # then the shield is lifted

_Serve = Callable[..., Awaitable[Any]]


def _serve_function() -> _Serve:
    library = sniffio.current_async_library()
    if library == "trio":
        from hypercorn.trio import serve as trio_serve  # imports trio: only on trio

        return trio_serve
    if library == "asyncio":
        from hypercorn.asyncio import serve as asyncio_serve

        return asyncio_serve
    raise RuntimeError(f"HTTP serving runs on asyncio or trio, not on {library!r}")


async def serve_http(app: Any, *, host: str, port: int) -> None:
    """Serve the ASGI ``app`` at ``host:port`` until cancelled (then shut down gracefully).

    Raises:
        RuntimeError: The running event loop is neither asyncio nor trio.
        OSError: The address cannot be bound.
    """
    serve = _serve_function()
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.loglevel = "WARNING"
    config.accesslog = None
    config.graceful_timeout = _GRACE
    stop = anyio.Event()
    shield = anyio.CancelScope(shield=True)

    async def run() -> None:
        with shield:
            await serve(app, config, shutdown_trigger=stop.wait)

    with collapse_groups():  # hypercorn's own failure (an address in use) raises as itself
        async with anyio.create_task_group() as task_group:
            server = task_group.start_soon(run, name=f"mcp-http {host}:{port}")
            try:
                await server.wait()
            finally:
                stop.set()
                with anyio.move_on_after(_SHUTDOWN_BOUND, shield=True):
                    await server.wait()
                shield.cancel()
