"""Task-augmented calls on the server side (MCP 2025-11-25 tasks; issue #14).

The SDK keeps ``tasks/*`` out of its protocol tables, so this module builds them on its public
extension points: a server middleware answers a ``tools/call`` that carries ``task`` (its
result is a ``CreateTaskResult``, which the ``tools/call`` table would reject), and
``tasks/get``, ``tasks/result``, ``tasks/cancel`` and ``tasks/list`` are added as request
handlers. The call runs through ``ToolExecutor.start()``; its first update (or its end)
answers the ``tools/call`` with the task (``working`` and the update as status message),
each later update sets the status message and is announced with ``notifications/tasks/status``,
and its end completes the task.
"""

from __future__ import annotations

import datetime
import itertools
import logging
from collections.abc import Callable
from contextlib import aclosing
from typing import Any, Final, final

import anyio
import mcp_types
from mcp.server import Server
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError

from anyio_tools._calls import CallHandle
from anyio_tools._events import CallStatus

from ._results import call_tool_result

__all__ = ["TASK_CAPABILITY", "TaskCalls", "TaskStore", "add_task_methods", "cancel_for_client"]

logger = logging.getLogger("anyio_tools.mcp")

_RELATED_TASK: Final = "io.modelcontextprotocol/related-task"
_POLL_MS: Final = 500
_TERMINAL: Final = {
    CallStatus.DONE: "completed",
    CallStatus.ERROR: "failed",
    CallStatus.CANCELLED: "cancelled",
}


def cancel_for_client(handle: CallHandle, why: str) -> None:
    """Cancel a call for its MCP client, also when its tool is not flagged cancellable.

    Nobody would receive the result of an abandoned request or a cancelled task, so the call
    stops; for a tool that is not cancellable the reason says so, and a warning is logged.
    """
    if handle.cancellable:
        reason = f"cancelled by the MCP client: {why}"
    else:
        reason = (
            f"cancelled by the MCP client ({why}) although the tool is not flagged "
            "cancellable: no one would receive its result"
        )
        logger.warning("MCP call %s (%s): %s", handle.call_id, handle.name, reason)
    handle.cancel(reason)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


@final
class _Task:
    """One task: its call, its status, its result once ended."""

    def __init__(self, task_id: str, handle: CallHandle, ttl: int | None) -> None:
        self.task_id = task_id
        self.handle = handle
        self.ttl = ttl
        self.status = "working"
        self.message: str | None = None
        self.created_at = self.updated_at = _now()
        self.result: mcp_types.CallToolResult | None = None
        self.done = anyio.Event()

    def wire(self) -> dict[str, Any]:
        task: dict[str, Any] = {
            "taskId": self.task_id,
            "status": self.status,
            "createdAt": self.created_at,
            "lastUpdatedAt": self.updated_at,
            "ttl": self.ttl,
            "pollInterval": _POLL_MS,
        }
        if self.message is not None:
            task["statusMessage"] = self.message
        return task

    def set_message(self, message: str) -> None:
        self.message = message
        self.updated_at = _now()


@final
class TaskStore:
    """The tasks of one server lifespan (kept until it ends; their TTL is not enforced)."""

    def __init__(self) -> None:
        self._tasks: dict[str, _Task] = {}
        self._ids = itertools.count(1)

    def add(self, handle: CallHandle, ttl: int | None) -> _Task:
        task = _Task(f"task-{next(self._ids)}", handle, ttl)
        self._tasks[task.task_id] = task
        return task

    def get(self, task_id: str) -> _Task:
        task = self._tasks.get(task_id)
        if task is None:
            raise MCPError(code=mcp_types.INVALID_PARAMS, message=f"unknown task {task_id!r}")
        return task

    def all(self) -> list[_Task]:
        return list(self._tasks.values())


async def follow_task(session: Any, task: _Task) -> None:
    """Keep a task's status in step with its call (a task of the server's group)."""
    handle = task.handle
    try:
        async for update in handle.updates():
            task.set_message(update.message)
            await _announce(session, task)
        result = await handle.result()
        task.result = call_tool_result(result)
        task.status = _TERMINAL.get(result.status, "failed")
        task.updated_at = _now()
        task.done.set()
        await _announce(session, task)
    finally:
        if not task.done.is_set():  # the server is closing: the call is cancelled with it
            task.status = "cancelled"
            task.done.set()


async def _announce(session: Any, task: _Task) -> None:
    notification = mcp_types.TaskStatusNotification(
        params=mcp_types.TaskStatusNotificationParams.model_validate(task.wire())
    )
    try:
        await session.send_notification(notification)
    except Exception:
        logger.debug("could not send the status of task %s", task.task_id, exc_info=True)


@final
class TaskCalls:
    """A server middleware that runs ``tools/call`` requests carrying ``task`` as tasks."""

    def __init__(
        self,
        start: Callable[[ServerRequestContext[Any, Any], mcp_types.CallToolRequestParams], Any],
    ) -> None:
        self._start = start

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        params = ctx.params
        if (
            ctx.method != "tools/call"
            or params is None  # a Mapping otherwise, as the SDK types it: no ABC check
            or params.get("task") is None
        ):
            return await call_next(ctx)
        parsed = mcp_types.CallToolRequestParams.model_validate(params, by_name=False)
        started = await self._start(ctx, parsed)
        if isinstance(started, mcp_types.CallToolResult):  # refused or unknown: no task
            return started.model_dump(by_alias=True, mode="json", exclude_none=True)
        store, handle, task_group = started
        ttl = parsed.task.ttl if parsed.task is not None else None
        task: _Task = store.add(handle, ttl)
        task_group.start_soon(follow_task, ctx.session, task, name=f"mcp-task {task.task_id}")
        try:
            await handle.answer()  # the first update creates the task as `working`
        except anyio.get_cancelled_exc_class():
            # The client gave up before it learnt the task's id: no one can cancel it later.
            cancel_for_client(handle, "the client abandoned the request before the task began")
            raise
        if handle.outcome is not None:
            await task.done.wait()  # ended before any update: answered as ended
        elif task.message is None:  # the follower has not run yet: take the first update
            async with aclosing(handle.updates()) as updates:
                async for update in updates:
                    task.set_message(update.message)
                    break
        return {"task": task.wire()}


def add_task_methods(server: Server[Any]) -> None:
    """Serve ``tasks/get``, ``tasks/result``, ``tasks/cancel`` and ``tasks/list``."""

    def store(ctx: ServerRequestContext[Any, Any]) -> TaskStore:
        tasks: TaskStore = ctx.lifespan_context.tasks
        return tasks

    async def get(
        ctx: ServerRequestContext[Any, Any], params: mcp_types.GetTaskRequestParams
    ) -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        return store(ctx).get(params.task_id).wire()

    async def result(
        ctx: ServerRequestContext[Any, Any], params: mcp_types.GetTaskPayloadRequestParams
    ) -> dict[str, Any]:
        task = store(ctx).get(params.task_id)
        await task.done.wait()
        if task.result is None:
            raise MCPError(
                code=mcp_types.INVALID_PARAMS, message=f"task {task.task_id} was cancelled"
            )
        payload = task.result.model_dump(by_alias=True, mode="json", exclude_none=True)
        payload["_meta"] = {_RELATED_TASK: {"taskId": task.task_id}}
        return payload

    async def cancel(
        ctx: ServerRequestContext[Any, Any], params: mcp_types.CancelTaskRequestParams
    ) -> dict[str, Any]:
        task = store(ctx).get(params.task_id)
        if task.done.is_set():
            raise MCPError(
                code=mcp_types.INVALID_PARAMS,
                message=f"task {task.task_id} is already {task.status}",
            )
        cancel_for_client(task.handle, "tasks/cancel")
        with anyio.move_on_after(5):
            await task.done.wait()
        return task.wire()

    async def list_tasks(
        ctx: ServerRequestContext[Any, Any], params: mcp_types.PaginatedRequestParams
    ) -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        return {"tasks": [task.wire() for task in store(ctx).all()]}

    server.add_request_handler("tasks/get", mcp_types.GetTaskRequestParams, get)
    server.add_request_handler("tasks/result", mcp_types.GetTaskPayloadRequestParams, result)
    server.add_request_handler("tasks/cancel", mcp_types.CancelTaskRequestParams, cancel)
    server.add_request_handler("tasks/list", mcp_types.PaginatedRequestParams, list_tasks)


TASK_CAPABILITY: Final = mcp_types.ServerTasksCapability(
    list=mcp_types.TasksListCapability(),
    cancel=mcp_types.TasksCancelCapability(),
    requests=mcp_types.ServerTasksRequestsCapability(
        tools=mcp_types.TasksToolsCapability(call=mcp_types.TasksCallCapability())
    ),
)
"""What the server advertises under ``capabilities.tasks``."""
