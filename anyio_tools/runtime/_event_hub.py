"""How a session hands out its events: listeners, subscriptions, the current run's record
(issue #4 item 1, issue #12 item 10; SPEC HOST-6, RUN-1).

Listeners run synchronously where an event is emitted; what they raise is contained (except
``KeyboardInterrupt`` and ``SystemExit``), and ``async def`` listeners are refused, since they
would never run. Subscriptions are unbounded streams, so emitting never blocks.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from anyio_tools._chat import ChatContext, ChatItem

from ._idle import RunState
from ._session_events import ConversationItemAdded, SessionEvent

__all__ = ["EventHub"]

logger = logging.getLogger("anyio_tools.runtime")


class EventHub:
    """The event part of `AgentSession` (a mixin; the session provides the state)."""

    history: ChatContext
    _run: RunState | None
    _listeners: dict[type[Any] | None, list[Callable[[Any], object]]]
    _streams: list[MemoryObjectSendStream[SessionEvent]]

    def _notify(self) -> None:
        raise NotImplementedError

    def on(self, kind: type[Any] | None, callback: Callable[[Any], object]) -> None:
        """Call ``callback(event)`` for each event of type ``kind`` (None: every event).

        The callback runs synchronously where the event is emitted; what it raises is logged
        and contained (except ``KeyboardInterrupt`` and ``SystemExit``). To await something
        per event, iterate over `events` in a task of your own.

        Raises:
            TypeError: ``callback`` is not callable, or is an ``async def`` function (it
                would never run).
        """
        if not callable(callback):
            raise TypeError(f"on() expects a callable listener, got {callback!r}")
        if inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
            getattr(callback, "__call__", None)  # noqa: B004 - an object with async __call__
        ):
            raise TypeError(
                f"on() expects a plain function, got the async function {callback!r}; a "
                "listener runs synchronously (to await per event, iterate session.events())"
            )
        self._listeners.setdefault(kind, []).append(callback)

    def off(self, kind: type[Any] | None, callback: Callable[[Any], object]) -> None:
        """Stop calling a callback registered with `on`."""
        callbacks = self._listeners.get(kind, [])
        if callback in callbacks:
            callbacks.remove(callback)

    @asynccontextmanager
    async def events(self) -> AsyncIterator[MemoryObjectReceiveStream[SessionEvent]]:
        """Subscribe to every event while the block runs, as an async iterator."""
        # Unbounded: emitting never blocks the conversation; the block drains it.
        send, receive = anyio.create_memory_object_stream[SessionEvent](math.inf)
        self._streams.append(send)
        try:
            async with receive:
                yield receive
        finally:
            self._streams.remove(send)
            send.close()

    def emit(self, event: SessionEvent) -> None:
        """Deliver an event to listeners, subscribers and the current run."""
        run = self._run
        if run is not None:
            run.events.append(event)
        if self._listeners:
            self._call_listeners(event)
        for stream in self._streams:
            try:
                stream.send_nowait(event)
            except anyio.BrokenResourceError:
                pass
        self._notify()

    def _call_listeners(self, event: SessionEvent) -> None:
        for kind in (type(event), None):
            for callback in list(self._listeners.get(kind, ())):
                try:
                    result = callback(event)
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException:
                    # A sync listener cannot be cancelled legitimately: even a cancellation
                    # exception raised by it is contained (#12 item 10).
                    logger.exception("an event listener raised on %r", event)
                else:
                    if inspect.iscoroutine(result):  # a sync function returning a coroutine
                        result.close()
                        logger.error("an event listener returned a coroutine; it was not run")

    def record(self, items: Iterable[ChatItem]) -> None:
        """Insert items into the history, ordered by creation time."""
        items = list(items)
        fresh = [item for item in items if self.history.get(item.id) is None]
        self.history.insert(items)
        for item in fresh:
            if self._run is not None:
                self._run.items.append(item)
            self.emit(ConversationItemAdded(item))
