"""One client connection to an MCP server, kept by one owned task, reopened on demand (SPEC
DEC-11; issue #14).

A `Connector` runs in a task of its owner's task group (``mcp-connection <id>``). The task
opens the transport and the SDK's `mcp.Client` when a call asks for a connection, keeps them
until the link is lost or the connector closes, then waits for the next request. A call never
opens anything itself: it asks `Connector.link()` and gets a live `Link` or a `ToolError`.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Final, TypeAlias, final

import anyio
import mcp_types
from anyio.abc import TaskStatus
from mcp import Client, StdioServerParameters
from mcp.client import Transport
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server
from mcp.shared.memory import create_client_server_memory_streams

from anyio_tools._errors import ToolError

from ._wire import WireTap

__all__ = ["Connector", "Link", "ServerSpec", "memory_transport", "transport_factory"]

logger = logging.getLogger("anyio_tools.mcp")

ServerSpec: TypeAlias = "Server[Any] | StdioServerParameters | str | Callable[[], Transport]"
"""Where a toolset finds its server: an in-process low-level server (the SDK's in-memory
streams), a command to start (stdio), a streamable HTTP URL, or a factory of fresh
transports."""

_LISTING_PAGES: Final = 100


@asynccontextmanager
async def memory_transport(server: Server[Any]) -> AsyncIterator[Any]:
    """Serve ``server`` in this process over the SDK's in-memory streams; yield the client's.

    The server runs in a task of this context manager; leaving it closes the streams and
    waits for the server (bounded), then cancels it.
    """
    lowlevel = server
    async with create_client_server_memory_streams() as (client_streams, server_streams):
        done = anyio.Event()

        async def run_server() -> None:
            try:
                await lowlevel.run(
                    server_streams[0],
                    server_streams[1],
                    lowlevel.create_initialization_options(),
                )
            finally:
                done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(run_server, name="mcp-memory-server")
            try:
                yield client_streams
            finally:
                await client_streams[1].aclose()
                await server_streams[1].aclose()
                with anyio.move_on_after(2, shield=True):
                    await done.wait()
                tg.cancel_scope.cancel()


def transport_factory(server: ServerSpec) -> Callable[[], Transport]:
    """Return a function that opens a fresh transport to ``server`` each time.

    Raises:
        TypeError: ``server`` is none of the accepted kinds.
    """
    if isinstance(server, Server):
        return lambda: memory_transport(server)
    if isinstance(server, StdioServerParameters):
        return lambda: stdio_client(server)
    if isinstance(server, str):
        if not server.startswith(("http://", "https://")):
            raise ValueError(
                f"an MCP server URL must start with http:// or https://, got {server!r}"
            )
        return lambda: streamable_http_client(server)
    if callable(server):
        return server
    raise TypeError(
        "server must be an mcp.server.Server, StdioServerParameters, an http(s) URL or "
        f"a function returning a transport, got {server!r}"
    )


@final
class Link:
    """A live connection: the SDK client and the tap on its wire."""

    def __init__(self, client: Client, tap: WireTap) -> None:
        self.client = client
        self.tap = tap
        self._tokens = itertools.count(1)
        tasks = client.server_capabilities.tasks
        requests = tasks.requests if tasks is not None else None
        tools = requests.tools if requests is not None else None
        self.tasks = tools is not None and tools.call is not None
        """Whether the server takes task-augmented ``tools/call`` requests."""

    def new_token(self) -> str:
        """Return a progress token unique on this connection."""
        return f"anyio-tools-{next(self._tokens)}"


@final
class Connector:
    """Keeps one connection to an MCP server for the calls of one toolset.

    Args:
        name: The toolset's id, for task names, logs and error texts.
        open_transport: Opens a fresh transport.
        on_tools: Receives the server's tool list after each (re)connection and change.
        mode: The SDK's connection mode (``"legacy"``: the initialize handshake).
        connect_timeout: Seconds a connection attempt may take.
    """

    def __init__(
        self,
        name: str,
        open_transport: Callable[[], Transport],
        on_tools: Callable[[list[mcp_types.Tool]], None],
        *,
        mode: str = "legacy",
        connect_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self._open_transport = open_transport
        self._on_tools = on_tools
        self._mode = mode
        self._connect_timeout = connect_timeout
        self._link: Link | None = None
        self._error = "not connected"
        self._attempts = 0  # connection attempts started
        self._failed = 0  # the number of the last attempt that failed
        self._wanted = anyio.Event()
        self._changed = anyio.Event()
        self._stale = anyio.Event()
        self._closing = False

    # -- for calls --------------------------------------------------------------------------

    def live(self) -> Link | None:
        """Return the live connection, or None if there is none (see `link`)."""
        link = self._link
        return link if link is not None and not link.tap.lost.is_set() else None

    async def link(self) -> Link:
        """Return the live connection, opening one if there is none.

        Raises:
            ToolError: The server cannot be reached (the text says why).
        """
        link = self._link
        if link is not None and not link.tap.lost.is_set():
            await anyio.lowlevel.checkpoint()
            return link
        asked = self._attempts  # only an attempt started after this one can answer us
        while True:
            if self._closing:
                raise ToolError(
                    f"the MCP server {self.name!r} is unavailable: the toolset is closed"
                )
            link = self._link
            if link is not None and not link.tap.lost.is_set():
                return link
            if self._failed > asked:
                raise ToolError(f"the MCP server {self.name!r} is unavailable: {self._error}")
            changed = self._changed
            self._wanted.set()
            await changed.wait()

    # -- the connection task ----------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Open connections on demand until closed (the ``mcp-connection`` task); never raises."""
        task_status.started()
        while not self.closing():
            await self._wanted.wait()
            self._wanted = anyio.Event()
            if self.closing():
                break
            self._attempts += 1
            try:
                await self._connect_and_serve()
            except Exception as exc:  # noqa: BLE001 - reported to the calls waiting for it
                self._error = _describe(exc)
                self._failed = self._attempts
                logger.warning("MCP server %r: connection failed: %s", self.name, self._error)
            finally:
                self._link = None
                self._notify()

    async def _connect_and_serve(self) -> None:
        tap = WireTap(self._stale.set)
        client = Client(tap.wrap(self._open_transport()), mode=self._mode, cache=None)
        # One scope around the whole link: its deadline bounds connecting and listing, and is
        # lifted while the link serves calls (a timeout scope must not end inside the client).
        with anyio.CancelScope() as scope:
            scope.deadline = anyio.current_time() + self._connect_timeout
            async with client:
                self._on_tools(await _list_tools(client))
                scope.deadline = math.inf
                self._link = Link(client, tap)
                self._notify()
                logger.debug("MCP server %r connected", self.name)
                await self._serve(client, tap, scope)
                self._link = None
            logger.debug("MCP server %r: link closed (%s)", self.name, tap.lost_reason)
        if scope.cancelled_caught:
            raise TimeoutError("the connection attempt timed out")

    async def _serve(self, client: Client, tap: WireTap, scope: anyio.CancelScope) -> None:
        # Until the link is lost: re-list the tools whenever the server says they changed.
        while not tap.lost.is_set():
            async with anyio.create_task_group() as tg:
                tg.start_soon(_cancel_on, tap.lost, tg.cancel_scope, name="mcp-lost")
                await self._stale.wait()
                self._stale = anyio.Event()
                tg.cancel_scope.cancel()
            if not tap.lost.is_set():
                scope.deadline = anyio.current_time() + self._connect_timeout
                self._on_tools(await _list_tools(client))
                scope.deadline = math.inf

    def closing(self) -> bool:
        """Whether `close` was called."""
        return self._closing

    def _notify(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    def drop(self, link: Link, reason: str) -> None:
        """Forget ``link`` (a call saw it fail): the next call reconnects."""
        link.tap.mark_lost(reason)

    def close(self) -> None:
        """Stop: close the live link and make the task return; does not wait."""
        self._closing = True
        link = self._link
        if link is not None:
            link.tap.mark_lost("the toolset closed")
        self._wanted.set()
        self._stale.set()


async def _cancel_on(event: anyio.Event, scope: anyio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


async def _list_tools(client: Client) -> list[mcp_types.Tool]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    for _ in range(_LISTING_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        return _describe(exc.exceptions[0])
    if isinstance(exc, TimeoutError):
        return "the connection attempt timed out"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
