"""What every provider LLM shares: owning its client, reading a stream safely (issue #13)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from types import TracebackType
from typing import Any, Final, Self

import anyio

from anyio_tools.runtime import LLMChunk, ToolCallRequest

from ._errors import MalformedToolCallError

__all__ = ["ClientOwner", "checked_call", "client_options", "events", "guarded"]

_CLOSE_TIMEOUT: Final = 5.0


class ClientOwner:
    """Closes the client at `aclose()` when the LLM built it (a given client stays open)."""

    client: Any
    _owns_client: bool

    async def aclose(self) -> None:
        """Close the HTTP client if this LLM built it; a client you passed in stays open.

        Blocks until the connections are closed.
        """
        if self._owns_client:
            await self.client.close()
        else:
            await anyio.lowlevel.checkpoint()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def client_options(
    api_key: str | None, base_url: str | None, timeout: float | None, max_retries: int | None
) -> dict[str, Any]:
    """The keyword arguments for a client, the client's defaults kept for what is None.

    Raises:
        ValueError: ``timeout`` is not > 0 or ``max_retries`` is negative.
    """
    options: dict[str, Any] = {"api_key": api_key, "base_url": base_url}
    if timeout is not None:
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        options["timeout"] = timeout
    if max_retries is not None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        options["max_retries"] = max_retries
    return options


def checked_call(provider: str, call_id: str, name: str, arguments: str) -> ToolCallRequest:
    """Return the call, its empty arguments made ``{}``, or raise `MalformedToolCallError`."""
    if not arguments.strip():
        return ToolCallRequest(call_id, name, "{}")
    try:
        value = json.loads(arguments)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise MalformedToolCallError(
            provider=provider, name=name, call_id=call_id, arguments=arguments
        )
    return ToolCallRequest(call_id, name, arguments)


async def guarded(
    open_stream: Callable[[], Any],
    read: Callable[[Any], AsyncGenerator[LLMChunk, None]],
    translated: Callable[[Exception], Exception],
) -> AsyncGenerator[LLMChunk, None]:
    """Open a client stream, yield what ``read`` makes of it, close it, translate errors."""
    try:
        stream = await open_stream()
    except Exception as exc:
        error = translated(exc)
        if error is exc:
            raise
        raise error from exc
    try:
        # aclosing: a generation the consumer stops early must not leave the reader to the
        # garbage collector (it closes the client's outermost generator in turn).
        async with aclosing(read(stream)) as chunks:
            while True:
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    error = translated(exc)
                    if error is exc:  # already ours (a malformed call), or not the client's
                        raise
                    raise error from exc
                yield chunk
    finally:
        with anyio.move_on_after(_CLOSE_TIMEOUT, shield=True):
            await stream.close()


def events(stream: Any) -> Any:
    """Iterate a client stream in an ``async with aclosing(...)`` block.

    The clients' ``AsyncStream.__aiter__`` is an async generator; leaving it by an exception
    (a malformed call) must close it at once rather than at garbage collection.
    """
    return aclosing(aiter(stream))
