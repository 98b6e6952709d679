"""Task-augmented calls on the client side (MCP 2025-11-25 tasks; issue #14).

The SDK has the task types but no task-augmented call, and keeps ``tasks/*`` out of its
protocol tables; its ``ClientSession.send_request`` still sends any request. A call here sends
``tools/call`` with ``task``, reports the task's status messages as updates (the first one
answers the LLM at once), follows the task through ``notifications/tasks/status`` (read in
wire order by the `WireTap`) and ``tasks/get`` polls when the server stays silent, fetches
the result with ``tasks/result`` once the task is ``completed`` or ``failed``, and sends
``tasks/cancel`` when the call is cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio
import mcp_types
from pydantic import BaseModel, ConfigDict

from anyio_tools._errors import ToolError

from ._connection import Link

__all__ = ["call_as_task"]

logger = logging.getLogger("anyio_tools.mcp")

_RUNNING: Final = frozenset({"working", "input_required"})
_DEFAULT_POLL: Final = 1.0
_CANCEL_TIMEOUT: Final = 5.0


async def call_as_task(
    link: Link,
    name: str,
    arguments: dict[str, Any],
    report: Callable[[str], Awaitable[None]],
    *,
    ttl: int | None,
) -> mcp_types.CallToolResult:
    """Run one ``tools/call`` as a task; return its result.

    Raises:
        ToolError: The server cancelled the task.
    """
    session = link.client.session
    created = await _create(link, name, arguments, ttl)
    if isinstance(created, mcp_types.CallToolResult):  # answered at once (a refusal): no task
        return created
    task = created
    notes = link.tap.task_notes(task.task_id)
    last: str | None = None

    async def note(message: str | None) -> None:
        nonlocal last
        if message and message != last:
            last = message
            await report(message)

    try:
        await note(task.status_message)
        status: str = task.status
        interval = task.poll_interval / 1000 if task.poll_interval else _DEFAULT_POLL
        while status in _RUNNING:
            pending = notes.pop()
            if pending is not None:
                status = pending[0]
                await note(pending[1])
                continue
            with anyio.move_on_after(interval):
                await notes.wait()
                continue
            polled = await session.send_request(
                mcp_types.GetTaskRequest(
                    params=mcp_types.GetTaskRequestParams(task_id=task.task_id)
                ),
                mcp_types.GetTaskResult,
            )
            status = polled.status
            await note(polled.status_message)
        while (pending := notes.pop()) is not None:  # messages sent with the last status
            await note(pending[1])
        if status == "cancelled":
            raise ToolError(f"the MCP server cancelled the task of `{name}`")
        return await session.send_request(
            mcp_types.GetTaskPayloadRequest(
                params=mcp_types.GetTaskPayloadRequestParams(task_id=task.task_id)
            ),
            mcp_types.CallToolResult,
        )
    except anyio.get_cancelled_exc_class():
        with anyio.move_on_after(_CANCEL_TIMEOUT, shield=True):
            await _cancel_task(link, task.task_id)
        raise
    finally:
        link.tap.forget_task(task.task_id)


class _Raw(BaseModel):
    """Any result, as sent (the answer of a task-augmented call may be of two kinds)."""

    model_config = ConfigDict(extra="allow")


async def _create(
    link: Link, name: str, arguments: dict[str, Any], ttl: int | None
) -> mcp_types.Task | mcp_types.CallToolResult:
    """Send the task-augmented ``tools/call``; return the task (or an immediate result).

    The answer comes at the server's first update, which may take long. If the call is
    cancelled before, the request goes on (shielded) for at most a few seconds so that the
    task it creates can be cancelled with ``tasks/cancel``: abandoning the request would
    leave that task running on the server.
    """
    marker = link.tap.open_route(link.new_token(), task=True)
    params = {
        "name": name,
        "arguments": arguments,
        "task": {"ttl": ttl},
        "_meta": {"progressToken": marker.token},
    }
    request = mcp_types.CallToolRequest(
        params=mcp_types.CallToolRequestParams.model_validate(params, by_alias=True)
    )
    box: list[_Raw | Exception] = []
    done = anyio.Event()
    shield = anyio.CancelScope(shield=True)

    async def send() -> None:
        with shield:
            try:
                box.append(await link.client.session.send_request(request, _Raw))
            except Exception as exc:  # noqa: BLE001 - raised again by the caller
                box.append(exc)
        done.set()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(send, name=f"mcp-task-request {name}")
            try:
                await done.wait()
            except anyio.get_cancelled_exc_class():
                shield.deadline = anyio.current_time() + _CANCEL_TIMEOUT
                with anyio.CancelScope(shield=True):
                    await done.wait()
                    task_id = _task_id(box[0]) if box else None
                    if task_id is not None:
                        with anyio.move_on_after(_CANCEL_TIMEOUT):
                            await _cancel_task(link, task_id)
                raise
    finally:
        link.tap.forget(marker)
    outcome = box[0] if box else None
    if not isinstance(outcome, _Raw):
        raise outcome or RuntimeError("the task-augmented call got no answer")
    raw = outcome.model_dump(by_alias=True)
    if "task" not in raw:
        return mcp_types.CallToolResult.model_validate(raw, by_name=False)
    return mcp_types.CreateTaskResult.model_validate(raw, by_name=False).task


def _task_id(outcome: _Raw | Exception) -> str | None:
    if isinstance(outcome, Exception):
        return None
    task = outcome.model_dump(by_alias=True).get("task")
    task_id = task.get("taskId") if isinstance(task, dict) else None
    return task_id if isinstance(task_id, str) else None


async def _cancel_task(link: Link, task_id: str) -> None:
    try:
        await link.client.session.send_request(
            mcp_types.CancelTaskRequest(params=mcp_types.CancelTaskRequestParams(task_id=task_id)),
            mcp_types.CancelTaskResult,
        )
    except Exception:
        logger.debug("tasks/cancel for %s failed", task_id, exc_info=True)
