"""The client's view of the wire: progress in receive order, answers, a lost link (SPEC DEC-11;
issue #14).

The SDK runs each progress callback in a task of its own, so two notifications read in one
batch may reach their callbacks in either order (trio shuffles ready tasks on purpose). A
`WireTap` wraps a transport's streams instead and sees every message in wire order, in the
read loop, synchronously: a progress notification goes to the `ProgressRoute` of its token, a
response closes the route of its request (later progress is dropped), a list-changed
notification and the end of the stream are reported to the connection.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, Final, Self, final

import anyio
from mcp.client import Transport
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse

__all__ = ["Progress", "ProgressRoute", "TaskNote", "TaskNotes", "WireTap"]

logger = logging.getLogger("anyio_tools.mcp")

Progress = tuple[float, float | None, str | None]
"""One progress notification: progress, total, message."""

_LIST_CHANGED: Final = "notifications/tools/list_changed"
_UNCLAIMED_NOTES: Final = 64

TaskNote = tuple[str, str | None]
"""One task status notification: status, status message."""


@final
class TaskNotes:
    """The status notifications of one task, in wire order."""

    __slots__ = ("_pending", "_wakeup", "task_id")

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self._pending: deque[TaskNote] = deque()
        self._wakeup: anyio.Event | None = None

    def push(self, note: TaskNote) -> None:
        """Take a notification read off the wire."""
        self._pending.append(note)
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None:
            wakeup.set()

    def pop(self) -> TaskNote | None:
        """Take the oldest pending notification, if any."""
        return self._pending.popleft() if self._pending else None

    async def wait(self) -> None:
        """Wait until a notification is pending."""
        if self._pending:
            await anyio.lowlevel.checkpoint()
            return
        if self._wakeup is None:
            self._wakeup = anyio.Event()
        await self._wakeup.wait()


@final
class ProgressRoute:
    """The progress notifications of one request, handed to its sink in wire order, as they
    are read, until its answer (the read loop calls the sink synchronously)."""

    __slots__ = ("answered", "error", "request_id", "scope", "sink", "task", "token")

    def __init__(self, token: str, *, task: bool = False) -> None:
        self.token = token
        self.task = task  # a task-augmented tools/call (see WireTap.received)
        self.request_id: Any = None  # set when the request is sent
        self.answered = False  # the answer was read off the wire: later progress is dropped
        self.sink: Callable[[Progress], None] | None = None
        """Takes each notification; without one, progress is dropped."""
        self.scope = anyio.CancelScope()
        """The request's scope: a failing sink cancels it."""
        self.error: Exception | None = None
        """What the sink raised, if it failed (later progress is dropped)."""

    def push(self, item: Progress) -> None:
        """Take a notification read off the wire (dropped once the answer was read)."""
        if self.answered:
            logger.debug("progress for token %s after its result was ignored: %r", self.token, item)
            return
        sink = self.sink
        if sink is None:
            return
        try:
            sink(item)
        except Exception as exc:  # noqa: BLE001 - raised again in the request's own task
            self.answered = True
            self.error = exc
            self.scope.cancel()

    def answer(self) -> None:
        """Record that the request's answer was read: later progress is dropped."""
        self.answered = True


@final
class WireTap:
    """Watches one connection's messages; see the module docstring.

    Args:
        on_list_changed: Called (synchronously) when the server says its tools changed.
    """

    def __init__(self, on_list_changed: Callable[[], None]) -> None:
        self._on_list_changed = on_list_changed
        self._routes: dict[str, ProgressRoute] = {}
        self._tokens: dict[Any, str] = {}  # request id -> progress token
        # Task id -> its status notifications; a task's notes may precede the answer that
        # names the task, so notes for unknown tasks are kept too (a few, the newest).
        self._task_notes: dict[str, TaskNotes] = {}
        self.lost = anyio.Event()
        self.lost_reason = "the connection was closed"

    def open_route(self, token: str, *, task: bool = False) -> ProgressRoute:
        """Start routing the progress of the request that will carry ``token``."""
        route = ProgressRoute(token, task=task)
        self._routes[token] = route
        return route

    def task_notes(self, task_id: str) -> TaskNotes:
        """Return the status notifications of a task, from its creation on."""
        notes = self._task_notes.get(task_id)
        if notes is None:
            notes = self._task_notes[task_id] = TaskNotes(task_id)
        return notes

    def forget_task(self, task_id: str) -> None:
        """Stop collecting a task's status notifications."""
        self._task_notes.pop(task_id, None)

    def forget(self, route: ProgressRoute) -> None:
        """Stop routing a request's progress (its call ended)."""
        route.answer()
        self._routes.pop(route.token, None)
        if route.request_id is not None:
            self._tokens.pop(route.request_id, None)

    def mark_lost(self, reason: str) -> None:
        """Record that the connection is gone (idempotent; the first reason stays)."""
        if not self.lost.is_set():
            self.lost_reason = reason
            self.lost.set()

    def wrap(self, transport: Transport) -> Transport:
        """Return a transport whose streams pass every message through this tap."""
        return _TappedTransport(transport, self)

    # -- seen on the wire -------------------------------------------------------------------

    def sent(self, item: SessionMessage) -> None:
        message = item.message
        if isinstance(message, JSONRPCRequest) and message.params:
            meta = message.params.get("_meta")
            token = meta.get("progressToken") if isinstance(meta, dict) else None
            route = self._routes.get(token) if isinstance(token, str) else None
            if route is not None:
                route.request_id = message.id
                self._tokens[message.id] = route.token

    def received(self, item: SessionMessage | Exception) -> None:
        if not isinstance(item, SessionMessage):
            return
        message = item.message
        if isinstance(message, JSONRPCNotification):
            if message.method == "notifications/progress":
                self._progress(message.params or {})
            elif message.method == _LIST_CHANGED:
                self._on_list_changed()
            elif message.method == "notifications/tasks/status":
                self._task_status(message.params or {})
        elif isinstance(message, JSONRPCResponse | JSONRPCError):
            token = self._tokens.pop(message.id, None)
            route = None if token is None else self._routes.get(token)
            if route is not None:
                route.answer()
                if route.task and isinstance(message, JSONRPCResponse):
                    self._task_created(message.result)

    def _task_created(self, result: dict[str, Any]) -> None:
        task = result.get("task")
        if not isinstance(task, dict) or "content" in result:
            return
        # The SDK checks a 2025-11-25 `tools/call` answer against CallToolResult, whose
        # `content` is required, and has no table entry for the CreateTaskResult a
        # task-augmented call gets: an empty `content` lets the answer through unchanged.
        result["content"] = []
        task_id = task.get("taskId")
        if isinstance(task_id, str):
            self.task_notes(task_id)

    def _task_status(self, params: dict[str, Any]) -> None:
        task_id = params.get("taskId")
        status = params.get("status")
        if not isinstance(task_id, str) or not isinstance(status, str):
            return
        message = params.get("statusMessage")
        notes = self._task_notes.get(task_id)
        if notes is None:
            if len(self._task_notes) >= _UNCLAIMED_NOTES:
                del self._task_notes[next(iter(self._task_notes))]
            notes = self.task_notes(task_id)
        notes.push((status, message if isinstance(message, str) else None))

    def _progress(self, params: dict[str, Any]) -> None:
        token = params.get("progressToken")
        route = self._routes.get(token) if isinstance(token, str) else None
        if route is None:
            logger.debug("progress for unknown or finished token %r ignored", token)
            return
        progress = params.get("progress")
        total = params.get("total")
        message = params.get("message")
        route.push(
            (
                float(progress) if isinstance(progress, int | float) else 0.0,
                float(total) if isinstance(total, int | float) else None,
                message if isinstance(message, str) else None,
            )
        )


@final
class _TappedRead:
    def __init__(self, inner: Any, tap: WireTap) -> None:
        self._inner = inner
        self._tap = tap

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        try:
            item: SessionMessage | Exception = await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._tap.mark_lost("the server closed the connection")
            raise
        self._tap.received(item)
        return item

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        # `receive`, inlined: the read loop takes every message through here.
        try:
            item: SessionMessage | Exception = await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._tap.mark_lost("the server closed the connection")
            raise StopAsyncIteration from None
        except anyio.BrokenResourceError:
            self._tap.mark_lost("the server closed the connection")
            raise
        self._tap.received(item)
        return item

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.aclose()


@final
class _TappedWrite:
    def __init__(self, inner: Any, tap: WireTap) -> None:
        self._inner = inner
        self._tap = tap

    async def send(self, item: SessionMessage, /) -> None:
        self._tap.sent(item)  # before the answer can possibly be read
        await self._inner.send(item)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _tapped(
    transport: Transport, tap: WireTap
) -> AbstractAsyncContextManager[tuple[_TappedRead, _TappedWrite]]:
    @asynccontextmanager
    async def open_tapped() -> AsyncIterator[tuple[_TappedRead, _TappedWrite]]:
        async with transport as (read, write):
            yield _TappedRead(read, tap), _TappedWrite(write, tap)

    return open_tapped()


@final
class _TappedTransport:
    def __init__(self, transport: Transport, tap: WireTap) -> None:
        self._cm = _tapped(transport, tap)

    async def __aenter__(self) -> tuple[_TappedRead, _TappedWrite]:
        return await self._cm.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        return await self._cm.__aexit__(exc_type, exc_val, exc_tb)
