"""Our tools served over MCP: one ``ToolExecutor`` without a conversation per client session
(SPEC DEC-11, EXE-13; issue #14).

``build_mcp_server()`` returns the SDK's low-level ``Server``. Its lifespan owns a task group
with one executor task per client session (``mcp-executor <key>``), so duplicate policies
apply per client session. A ``tools/call`` runs the call in the request's own task with
``ToolExecutor.call()`` (CALL-1 in ``_caller.py``): each update is sent as
``notifications/progress`` (progress 1, 2, 3..., the update as the message) by a task of the
lifespan's group that the first update starts, all before the result (the request waits for
that task); a cancelled request cancels the call. A task-augmented ``tools/call`` starts the
call with ``ToolExecutor.start()`` instead (``_tasks_server.py``): its request answers at the
first update while the call goes on.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, final

import anyio
import mcp_types
from anyio import TaskHandle
from anyio.abc import TaskGroup, TaskStatus
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server

from anyio_tools._arguments import encode_arguments
from anyio_tools._calls import CallHandle
from anyio_tools._chat import FunctionCall
from anyio_tools._errors import CallRefusedError
from anyio_tools._events import CallUpdated
from anyio_tools._executor import ToolExecutor
from anyio_tools._options import ToolHandlingOptions, ToolOptions
from anyio_tools._tools import Tool
from anyio_tools._toolsets import ToolsetItem, flatten_tools

from ._http import serve_http
from ._results import call_tool_result
from ._tasks_server import (
    TASK_CAPABILITY,
    TaskCalls,
    TaskStore,
    add_task_methods,
)

__all__ = ["build_mcp_server", "mcp_tool", "serve_mcp"]

logger = logging.getLogger("anyio_tools.mcp")


def mcp_tool(tool: Tool, *, tasks: bool = False) -> mcp_types.Tool:
    """Return the MCP listing of one of our tools (its non-strict JSON schema).

    With *tasks*, the listing says the tool may run as a task (``taskSupport: optional``).
    """
    schema = tool.schema()
    parameters = schema.get("parameters")
    description = schema.get("description")
    return mcp_types.Tool(
        name=tool.name,
        description=description if isinstance(description, str) else None,
        input_schema=dict(parameters) if isinstance(parameters, dict) else {"type": "object"},
        execution=mcp_types.ToolExecution(task_support="optional") if tasks else None,
    )


@final
class _Sessions:
    """The executors of one server lifespan, one per client session, owned by its group."""

    def __init__(self, task_group: TaskGroup, options: ToolOptions, close_timeout: float) -> None:
        self._task_group = task_group
        self._options = options
        self.close_timeout = close_timeout
        self._executors: dict[str, ToolExecutor] = {}
        self._lock = anyio.Lock()
        self.tasks = TaskStore()
        self._ids = itertools.count(1)

    @property
    def task_group(self) -> TaskGroup:
        """The group that owns the executors and the task followers."""
        return self._task_group

    def new_call_id(self) -> str:
        return f"mcp-{next(self._ids)}"

    def running(self, key: str) -> ToolExecutor | None:
        """Return the executor of a client session, if it started already."""
        return self._executors.get(key)

    async def executor(self, key: str) -> ToolExecutor:
        """Return the executor of a client session, starting it if needed."""
        executor = self._executors.get(key)
        if executor is not None:
            await anyio.lowlevel.checkpoint()
            return executor
        async with self._lock:  # one executor per key, even for simultaneous first calls
            executor = self._executors.get(key)
            if executor is None:
                executor = await self._task_group.start(
                    self._run_executor, key, name=f"mcp-executor {key}"
                )
            return executor

    async def _run_executor(self, key: str, *, task_status: TaskStatus[ToolExecutor]) -> None:
        try:
            async with ToolExecutor(
                options=self._options, name=f"mcp {key}", close_timeout=self.close_timeout
            ) as executor:
                self._executors[key] = executor
                task_status.started(executor)
                await anyio.sleep_forever()
        finally:
            self._executors.pop(key, None)


def _session_key(ctx: ServerRequestContext[Any, Any]) -> str:
    # Streamable HTTP names its sessions in a header; stdio and in-memory connections get a
    # lifespan (and so an executor) of their own.
    request = ctx.request
    if request is None:
        return "connection"
    headers = getattr(request, "headers", None)
    session_id = headers.get("mcp-session-id") if headers is not None else None
    return session_id if isinstance(session_id, str) else "connection"


def build_mcp_server(
    tools: Sequence[ToolsetItem],
    *,
    name: str = "anyio_tools",
    version: str = "",
    instructions: str | None = None,
    tool_handling: ToolHandlingOptions | Mapping[str, Any] | None = None,
    close_timeout: float = 5.0,
    tasks: bool = True,
) -> Server[Any]:
    """Build an MCP server (the SDK's low-level ``Server``) that serves ``tools``.

    Each client session gets its own executor, so duplicate policies apply per session.
    Updates become ``notifications/progress`` (when the client sent a progress token), in
    order and before the result. A client's cancel cancels the call, also one whose tool is
    not flagged cancellable (its result reports why). Nothing here blocks; run the server
    with `serve_mcp`, the SDK's transports, or an ``MCPToolset`` in the same process.

    Args:
        tools: Tools and toolsets to serve (toolsets are flattened).
        name: The server's name.
        version: The server's version.
        instructions: Instructions for the client's model.
        tool_handling: Options (templates) for the executors.
        close_timeout: Seconds closing waits for calls that were cancelled.
        tasks: Offer task-augmented calls (MCP 2025-11-25 tasks): the first update answers
            with a ``working`` task, later ones set its status message, its end completes
            it, and ``tasks/cancel`` cancels the call.

    Returns:
        The server.

    Raises:
        ValueError: Two different tools share a name, or bad options.
    """
    by_name = {tool.name: tool for tool in flatten_tools(tools)}
    options = ToolOptions.from_tool_handling(tool_handling) or ToolOptions.resolve(None)
    listing = [mcp_tool(tool, tasks=tasks) for tool in by_name.values()]

    @asynccontextmanager
    async def lifespan(_: Server[Any]) -> AsyncIterator[_Sessions]:
        async with anyio.create_task_group() as task_group:
            yield _Sessions(task_group, options, close_timeout)
            task_group.cancel_scope.cancel()

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListToolsResult:
        await anyio.lowlevel.checkpoint()
        return mcp_types.ListToolsResult(tools=listing)

    async def prepare(
        ctx: ServerRequestContext[Any, Any], params: mcp_types.CallToolRequestParams
    ) -> (
        mcp_types.CallToolResult
        | tuple[_Sessions, ToolExecutor, Tool, FunctionCall, dict[str, Any]]
    ):
        tool = by_name.get(params.name)
        if tool is None:
            await anyio.lowlevel.checkpoint()
            return _error_result(
                f"unknown tool `{params.name}`; available: {', '.join(sorted(by_name))}"
            )
        sessions: _Sessions = ctx.lifespan_context
        key = _session_key(ctx)
        # The session's executor checkpoints when it runs the call: only its first call waits
        # here, for the executor to start.
        executor = sessions.running(key) or await sessions.executor(key)
        arguments = params.arguments or {}
        item = FunctionCall(
            call_id=sessions.new_call_id(), name=params.name, arguments=encode_arguments(arguments)
        )
        return sessions, executor, tool, item, arguments

    async def start_call(
        ctx: ServerRequestContext[Any, Any], params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult | tuple[TaskStore, CallHandle, TaskGroup]:
        prepared = await prepare(ctx, params)
        if isinstance(prepared, mcp_types.CallToolResult):
            return prepared
        sessions, executor, tool, item, _ = prepared
        try:
            handle = await executor.start(tool, item)
        except CallRefusedError as refused:
            return _refused_result(refused)
        return sessions.tasks, handle, sessions.task_group

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        prepared = await prepare(ctx, params)
        if isinstance(prepared, mcp_types.CallToolResult):
            return prepared
        sessions, executor, tool, item, arguments = prepared
        return await _call(ctx, sessions.task_group, executor, tool, item, arguments)

    server_class = _TaskServer if tasks else Server
    server: Server[Any] = server_class(
        name,
        version=version,
        instructions=instructions,
        lifespan=lifespan,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    if tasks:
        server.middleware.append(TaskCalls(start_call))
        add_task_methods(server)
    return server


@final
class _TaskServer(Server[Any]):
    """The SDK's server, advertising task-augmented ``tools/call`` (2025-11-25)."""

    def get_capabilities(self, *args: Any, **kwargs: Any) -> mcp_types.ServerCapabilities:
        capabilities = super().get_capabilities(*args, **kwargs)
        return capabilities.model_copy(update={"tasks": TASK_CAPABILITY})


async def _call(
    ctx: ServerRequestContext[Any, Any],
    task_group: TaskGroup,
    executor: ToolExecutor,
    tool: Tool,
    item: FunctionCall,
    arguments: dict[str, Any] | None = None,
) -> mcp_types.CallToolResult:
    """Run one call in this request's task; its updates go out as progress before the result."""
    progress = _Progress(ctx, task_group, item.call_id)
    try:
        result = await executor.call(tool, item, on_update=progress.take, arguments=arguments)
    except CallRefusedError as refused:
        return _refused_result(refused)
    except anyio.get_cancelled_exc_class():
        # The request was cancelled (the client's notifications/cancelled, a lost connection):
        # the call ended cancelled with it, since no one would receive its result.
        if not tool.info.cancellable:
            logger.warning(
                "MCP call %s (%s) cancelled by the MCP client (the client abandoned the "
                "request) although the tool is not flagged cancellable: no one would "
                "receive its result",
                item.call_id,
                tool.name,
            )
        raise
    finally:
        sender = progress.finish()
    if sender is not None:
        try:
            await sender.wait()  # every update goes out before the result
        finally:
            sender.cancel()  # a no-op once it finished
    return call_tool_result(result)


@final
class _Progress:
    """A served call's updates as ``notifications/progress`` (progress 1, 2, 3..., the update
    as the message), in order, sent by one task of the lifespan's group that the first update
    starts (a call without updates starts none); the request waits for it before answering."""

    __slots__ = ("_ctx", "_ended", "_name", "_pending", "_sender", "_task_group", "_wakeup")

    def __init__(self, ctx: ServerRequestContext[Any, Any], task_group: TaskGroup, name: str):
        self._ctx = ctx
        self._task_group = task_group
        self._name = name
        self._pending: deque[str] = deque()
        self._sender: TaskHandle[None] | None = None
        self._wakeup: anyio.Event | None = None
        self._ended = False

    def take(self, update: CallUpdated) -> None:
        """Take one update of the call (its ``on_update``)."""
        self._pending.append(update.message)
        if self._sender is None:
            self._sender = self._task_group.start_soon(
                self._send, name=f"mcp-progress {self._name}"
            )
        else:
            self._wake()

    def finish(self) -> TaskHandle[None] | None:
        """Say the call ended; return the sender to wait for, if any update started one."""
        self._ended = True
        self._wake()
        return self._sender

    def _wake(self) -> None:
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None:
            wakeup.set()

    async def _send(self) -> None:
        count = 0
        pending = self._pending
        try:
            while True:
                if pending:
                    count += 1
                    await self._ctx.session.report_progress(count, None, pending.popleft())
                elif self._ended:
                    return
                else:
                    self._wakeup = anyio.Event()
                    await self._wakeup.wait()
        except Exception:  # the request's connection failed: its answer fails there too
            logger.debug("progress of MCP call %s not sent", self._name, exc_info=True)


def _refused_result(refused: CallRefusedError) -> mcp_types.CallToolResult:
    output = refused.result.output
    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(type="text", text=output.output)],
        is_error=output.is_error,
    )


def _error_result(text: str) -> mcp_types.CallToolResult:
    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(type="text", text=text)], is_error=True
    )


async def serve_mcp(
    tools: Sequence[ToolsetItem],
    *,
    transport: Literal["stdio", "http"] = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
    path: str = "/mcp",
    name: str = "anyio_tools",
    tool_handling: ToolHandlingOptions | Mapping[str, Any] | None = None,
) -> None:
    """Serve ``tools`` over MCP until cancelled (or, on stdio, until the client leaves).

    ``stdio`` serves the process's stdin and stdout (on asyncio or trio). ``http`` serves
    streamable HTTP at ``http://host:port/path`` with hypercorn (on asyncio or trio).

    Args:
        tools: Tools and toolsets to serve.
        transport: ``"stdio"`` or ``"http"``.
        host: The address to listen on (``http``).
        port: The port to listen on (``http``).
        path: The endpoint's path (``http``).
        name: The server's name.
        tool_handling: Options (templates) for the executors.

    Raises:
        ValueError: An unknown transport.
    """
    server = build_mcp_server(tools, name=name, tool_handling=tool_handling)
    if transport == "stdio":
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return
    if transport != "http":
        raise ValueError(f"transport must be 'stdio' or 'http', got {transport!r}")
    app = server.streamable_http_app(streamable_http_path=path, host=host)
    await serve_http(app, host=host, port=port)
