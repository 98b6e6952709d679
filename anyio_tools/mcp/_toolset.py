"""``MCPToolset``: an MCP server's tools as long-running tools (SPEC DEC-11; issue #14).

The toolset is an ``AsyncToolset``: its calls run on an executor of their own, on the session
(surviving handoffs) or on an agent. ``setup()`` starts the connection task and lists the
server's tools; each becomes a raw tool with the server's JSON schema. A call sends a progress
token; each progress notification becomes ``ctx.update()`` in wire order, none after the
result; cancelling the call cancels the request (the SDK sends ``notifications/cancelled``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Final, Self, TypedDict, final

import anyio
import mcp_types
from anyio.abc import TaskGroup
from mcp.shared.exceptions import MCPError

from anyio_tools._context import RunContext
from anyio_tools._errors import ToolError
from anyio_tools._info import DuplicateMode, DuplicateScope, ToolFlag, ToolInfo
from anyio_tools._options import ToolHandlingOptions
from anyio_tools._tools import RawFunctionTool, Tool, function_tool
from anyio_tools.runtime import AsyncToolset

from ._connection import Connector, Link, ServerSpec, transport_factory
from ._results import render_progress, result_value
from ._tasks_client import call_as_task
from ._wire import Progress

__all__ = ["MCPToolOptions", "MCPToolset"]

logger = logging.getLogger("anyio_tools.mcp")

_CLOSE_TIMEOUT: Final = 5.0


class MCPToolOptions(TypedDict, total=False):
    """Options for one tool of an MCP server, by tool name (all optional).

    Keys:
        flags: `ToolFlag` values, for instance ``ToolFlag.CANCELLABLE``.
        on_duplicate: ``"allow"`` (default), ``"reject"``, ``"replace"`` or ``"confirm"``.
        duplicate_scope: ``"name"`` (default) or ``"name_and_args"``.
        update_template: The template for this tool's progress updates.
        report_progress: Forward progress notifications as updates (default True).
    """

    flags: ToolFlag
    on_duplicate: DuplicateMode | str
    duplicate_scope: DuplicateScope | str
    update_template: str
    report_progress: bool


_OPTION_KEYS: Final = frozenset(MCPToolOptions.__annotations__)


@final
class MCPToolset(AsyncToolset):
    """The tools of one MCP server, as tools of this library.

    Put it on the session (its calls survive handoffs) or on an agent. ``setup()`` (run by
    the session or the agent's activity) connects and lists the server's tools, and
    ``aclose()`` disconnects. The toolset owns a task group from ``setup()`` to ``aclose()``,
    so both must run in the same task, and several toolsets close in the reverse order of
    their set-up, as the runtime does (or use ``async with toolset:``). The connection
    follows the server's tool-list changes and is reopened by the first call after it was
    lost.

    Args:
        id: A name for the toolset (task names, logs, error texts).
        server: An in-process ``mcp.server.Server`` (the SDK's in-memory streams),
            ``mcp.StdioServerParameters`` (a subprocess over stdio), an ``http(s)://`` URL
            (streamable HTTP), or a function returning a fresh SDK transport.
        tool_options: `MCPToolOptions` by tool name; tools not listed are plain blocking
            tools whose progress becomes updates.
        tool_handling: Options for the toolset's executor (templates).
        connect_timeout: Seconds connecting (and listing the tools) may take.
        use_tasks: Run calls as MCP tasks where the server and the tool support them (a
            tool whose listing requires tasks always runs as one).
        task_ttl: The retention asked for each task, in milliseconds (None: the server's).

    Raises:
        TypeError: *server* is none of the accepted kinds.
        ValueError: Unknown keys in *tool_options*, or a bad URL.
    """

    def __init__(
        self,
        *,
        id: str,
        server: ServerSpec,
        tool_options: Mapping[str, MCPToolOptions] | None = None,
        tool_handling: ToolHandlingOptions | Mapping[str, Any] | None = None,
        connect_timeout: float = 30.0,
        use_tasks: bool = True,
        task_ttl: int | None = None,
    ) -> None:
        super().__init__(id=id, tools=(), tool_handling=tool_handling)
        if not connect_timeout > 0:
            raise ValueError(f"connect_timeout must be > 0, got {connect_timeout!r}")
        options = dict(tool_options or {})
        for name, opts in options.items():
            unknown = set(opts) - _OPTION_KEYS
            if unknown:
                raise ValueError(
                    f"unknown options for MCP tool {name!r}: {', '.join(sorted(unknown))}; "
                    f"expected: {', '.join(sorted(_OPTION_KEYS))}"
                )
            ToolInfo.build(  # bad flags or policies are reported now, not at set-up
                name=name,
                description=None,
                flags=opts.get("flags", ToolFlag.NONE),
                on_duplicate=opts.get("on_duplicate", DuplicateMode.ALLOW),
                duplicate_scope=opts.get("duplicate_scope", DuplicateScope.NAME),
            )
        self._tool_options = options
        self._use_tasks = use_tasks
        self._task_ttl = task_ttl
        self._connector = Connector(
            id, transport_factory(server), self._take_tools, connect_timeout=connect_timeout
        )
        self._by_name: dict[str, tuple[mcp_types.Tool, RawFunctionTool]] = {}
        self._stack: AsyncExitStack | None = None
        self._task_group: TaskGroup | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Set the toolset up (connect and list the tools); see `setup`."""
        await self.setup()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        """Close the toolset; see `aclose`."""
        await self.aclose()

    async def setup(self, *, reload: bool = False) -> None:
        """Connect and list the server's tools (once; again with *reload*).

        Blocks until the tools are listed. Starts the connection task, which ``aclose()``
        stops.

        Raises:
            ToolError: The server cannot be reached.
        """
        if self._stack is None:
            stack = AsyncExitStack()
            task_group = await stack.enter_async_context(anyio.create_task_group())
            await task_group.start(self._connector.run, name=f"mcp-connection {self.id}")
            self._stack = stack
            self._task_group = task_group
        if reload or not self._by_name:
            try:
                await self._connector.link()
            except ToolError:
                await self.aclose()
                raise
        await super().setup()

    async def aclose(self) -> None:
        """Disconnect and stop the connection task (bounded). Idempotent."""
        stack, self._stack = self._stack, None
        self._connector.close()
        if stack is not None:
            # The group was entered by setup(): bound its join with its own deadline (a new
            # scope here would not nest around it).
            assert self._task_group is not None
            self._task_group.cancel_scope.deadline = anyio.current_time() + _CLOSE_TIMEOUT
            self._task_group = None
            await stack.aclose()
        await super().aclose()

    # -- the tool list ----------------------------------------------------------------------

    def _take_tools(self, listed: list[mcp_types.Tool]) -> None:
        # A tool whose listing did not change keeps its object, so routes stay valid.
        by_name: dict[str, tuple[mcp_types.Tool, RawFunctionTool]] = {}
        for spec in listed:
            known = self._by_name.get(spec.name)
            if known is not None and known[0] == spec:
                by_name[spec.name] = known
                continue
            try:
                by_name[spec.name] = (spec, self._make_tool(spec))
            except (TypeError, ValueError) as exc:
                logger.warning("MCP server %r: tool %r skipped: %s", self.id, spec.name, exc)
        self._by_name = by_name
        self._items = [tool for _, tool in by_name.values()]
        unknown = set(self._tool_options) - set(by_name)
        if unknown:
            logger.debug("MCP server %r has no tools named %s", self.id, sorted(unknown))

    def _make_tool(self, spec: mcp_types.Tool) -> RawFunctionTool:
        options = self._tool_options.get(spec.name, {})
        name = spec.name
        report = options.get("report_progress", True)
        template = options.get("update_template")
        support = spec.execution.task_support if spec.execution is not None else None
        task = support == "required" or (self._use_tasks and support == "optional")

        async def call_mcp_tool(ctx: RunContext[Any], raw_arguments: dict[str, Any]) -> Any:
            return await self._call(
                name, ctx, raw_arguments, report=report, template=template, task=task
            )

        schema: dict[str, Any] = {"name": name, "parameters": dict(spec.input_schema)}
        if spec.description:
            schema["description"] = spec.description
        return function_tool(
            call_mcp_tool,
            raw_schema=schema,
            flags=options.get("flags", ToolFlag.NONE),
            on_duplicate=options.get("on_duplicate", DuplicateMode.ALLOW),
            duplicate_scope=options.get("duplicate_scope", DuplicateScope.NAME),
        )

    def get_tool(self, name: str) -> Tool:
        """Return the tool the server lists as ``name``.

        Raises:
            KeyError: No such tool (was the toolset set up?).
        """
        return self._by_name[name][1]

    # -- calls ------------------------------------------------------------------------------

    async def _call(
        self,
        name: str,
        ctx: RunContext[Any],
        arguments: dict[str, Any],
        *,
        report: bool,
        template: str | None,
        task: bool,
    ) -> Any:
        link = self._connector.live() or await self._connector.link()
        if task and link.tasks:
            return await self._call_as_task(link, name, ctx, arguments, report, template)
        route = link.tap.open_route(link.new_token())
        if report:
            # The read loop hands each notification over as it reads it, in wire order, and
            # none after the answer: the updates need no task of their own.
            def forward(item: Progress) -> None:
                ctx.update_nowait(render_progress(item), template=template)

            route.sink = forward
        outcome: mcp_types.CallToolResult | Exception
        try:
            with route.scope:  # a failed update cancels the request
                try:
                    outcome = await link.client.call_tool(
                        name, arguments, meta={"progress_token": route.token}
                    )
                except Exception as exc:  # noqa: BLE001 - turned into a ToolError below
                    outcome = exc
        finally:
            link.tap.forget(route)
        if route.error is not None:
            raise route.error  # as ctx.update() would have raised it
        if isinstance(outcome, Exception):
            raise self._error(link, name, outcome)
        return result_value(name, outcome)

    async def _call_as_task(
        self,
        link: Link,
        name: str,
        ctx: RunContext[Any],
        arguments: dict[str, Any],
        report: bool,
        template: str | None,
    ) -> Any:
        async def update(message: str) -> None:
            if report:
                await ctx.update(message, template=template)

        try:
            result = await call_as_task(link, name, arguments, update, ttl=self._task_ttl)
        except ToolError:
            raise
        except Exception as exc:
            raise self._error(link, name, exc) from exc
        return result_value(name, result)

    def _error(self, link: Link, name: str, exc: Exception) -> ToolError:
        # The SDK reports a closed connection as CONNECTION_CLOSED (-32000), a code servers
        # may use for their own errors too: the message tells them apart.
        lost = (
            isinstance(exc, MCPError)
            and exc.code == mcp_types.CONNECTION_CLOSED
            and exc.error.message == "Connection closed"
        )
        if lost or link.tap.lost.is_set():
            self._connector.drop(link, "a call saw the connection close")
            return ToolError(
                f"the connection to the MCP server {self.id!r} was lost during the call of "
                f"`{name}`; the next call reconnects"
            )
        if isinstance(exc, MCPError):
            return ToolError(f"the MCP server {self.id!r} refused `{name}`: {exc.error.message}")
        logger.warning("MCP call of %r failed", name, exc_info=exc)
        return ToolError(f"the MCP call of `{name}` failed: {type(exc).__name__}: {exc}")
