"""One agent's active period: its executors, its tool routing, its drain (SPEC CON-3, SCO-1..3,
OPT-2, CAN-2, HND-1).

An activity owns a task group and its executors (the default one, and one per agent-level
``AsyncToolset``). Closing it drains them (cancellable calls cancelled, the others awaited),
runs the agent's ``on_exit``, then closes them.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from contextvars import ContextVar
from typing import TYPE_CHECKING, final

import anyio
from anyio.abc import TaskStatus

from anyio_tools._builtins import RunningCallTools, check_builtin_names
from anyio_tools._executor import ExecutorScope, ToolExecutor
from anyio_tools._groups import collapse_groups
from anyio_tools._host import ToolHost
from anyio_tools._instrument import Instrumentation
from anyio_tools._options import ToolOptions
from anyio_tools._signals import Latch, Signal
from anyio_tools._tools import Tool
from anyio_tools._toolsets import Toolset, ToolsetItem, walk_tools

from ._agent import Agent
from ._toolset import AsyncToolset

if TYPE_CHECKING:
    from anyio_tools._registry import CallRegistry

__all__ = [
    "Activity",
    "ActivityState",
    "Route",
    "async_toolsets",
    "build_routes",
    "drain_all",
    "entering_activity",
]

logger = logging.getLogger("anyio_tools.runtime")

Route = tuple[Tool, ToolExecutor]


class ActivityState(enum.StrEnum):
    """Where an activity is in its life."""

    STARTING = "starting"
    ACTIVE = "active"
    PAUSED = "paused"  # a sub-agent task runs on top of it; it will resume (HND-2)
    DRAINING = "draining"
    CLOSED = "closed"


def _innermost_async(path: tuple[Toolset, ...]) -> AsyncToolset | None:
    for toolset in reversed(path):
        if isinstance(toolset, AsyncToolset):
            return toolset
    return None


def build_routes(
    items: Sequence[ToolsetItem],
    default: ToolExecutor,
    executors: dict[int, ToolExecutor],
) -> dict[str, Route]:
    """Route each tool to the executor of its innermost ``AsyncToolset`` (SCO-2).

    Args:
        items: Tools and toolsets, outermost first.
        default: The executor for tools outside any ``AsyncToolset``.
        executors: Executors by ``id()`` of their ``AsyncToolset``.

    Raises:
        ValueError: Two different tools share a name.
    """
    routes: dict[str, Route] = {}
    for tool, path in walk_tools(items):
        toolset = _innermost_async(path)
        executor = default if toolset is None else executors[id(toolset)]
        known = routes.get(tool.name)
        if known is not None and known[0] is not tool:
            raise ValueError(f"two different tools are named {tool.name!r}: {known[0]!r}, {tool!r}")
        routes[tool.name] = (tool, executor)
    return routes


def async_toolsets(items: Sequence[ToolsetItem]) -> list[AsyncToolset]:
    """Return every ``AsyncToolset`` reachable from ``items``, outermost first, once each."""
    found: dict[int, AsyncToolset] = {}

    def visit(item: ToolsetItem) -> None:
        if isinstance(item, Toolset):
            if isinstance(item, AsyncToolset):
                found.setdefault(id(item), item)
            for child in item.tools:
                visit(child)

    for item in items:
        visit(item)
    return list(found.values())


async def drain_all(executors: Sequence[ToolExecutor]) -> None:
    """Drain ``executors`` together (CAN-7): the slowest one bounds the wait, not their sum."""
    with collapse_groups():
        async with anyio.create_task_group() as task_group:
            for executor in executors:
                task_group.start_soon(executor.drain, name="drain")


_entering: ContextVar[Activity | None] = ContextVar("anyio_tools_entering", default=None)


def entering_activity() -> Activity | None:
    """Return the activity whose ``on_enter`` the calling code runs in, if any."""
    return _entering.get()


@final
class Activity:
    """One agent's active period inside a session.

    Args:
        agent: The agent.
        host_factory: Builds the `ToolHost` for this activity's executors.
        registry: The session's running-call registry.
        session_options: The session's resolved options (None for the defaults).
        session_items: The session's tools (routed here unless in a session ``AsyncToolset``).
        session_routes: Routes of the session-scoped ``AsyncToolset`` tools.
        close_timeout: Bound of the shielded waits when closing.
        report: Called with a source and the exception when the agent's ``on_enter`` fails.
        notify: Called when the agent's ``on_enter`` returned (or will never run).
        instrumentation: What observes the activity and its executors' calls.
    """

    def __init__(
        self,
        agent: Agent,
        *,
        host_factory: Callable[[Activity], ToolHost],
        registry: CallRegistry,
        session_options: ToolOptions | None,
        session_items: Sequence[ToolsetItem],
        session_routes: dict[str, Route],
        close_timeout: float,
        report: Callable[[str, Exception], None],
        notify: Callable[[], None] = lambda: None,
        instrumentation: Instrumentation | None = None,
    ) -> None:
        self.agent = agent
        self.state = ActivityState.STARTING
        self.started = False  # its executors opened (it may have been closed since)
        self.start_error: Exception | None = None  # why it could not start
        self.routes: dict[str, Route] = {}
        self.tools: tuple[Tool, ...] = ()  # immutable: every LLM request shares it
        self.executors: list[ToolExecutor] = []
        self._host_factory = host_factory
        self._registry = registry
        self._session_options = session_options
        self._session_items = session_items
        self._session_routes = session_routes
        self._close_timeout = close_timeout
        self._report = report
        self._notify = notify
        # Issue #20 item 1: a run that caused this activity is not complete until its
        # on_enter returned (what on_enter queues belongs to that run, CON-11).
        self.entered = False
        self._instrument = instrumentation
        # Issue #19 item 5: no event is made until a task waits.
        self._close_requested = Latch()
        self._closed = Latch()
        self._turns = 0
        self._turns_changed = Signal()

    def __repr__(self) -> str:
        return f"<Activity {self.agent.name} {self.state}>"

    # -- turns ------------------------------------------------------------------------------

    def turn_started(self) -> None:
        """Count a turn that runs for this activity."""
        self._turns += 1

    def turn_ended(self) -> None:
        """Count a turn that ended."""
        self._turns -= 1
        self._turns_changed.wake()

    # -- lifecycle --------------------------------------------------------------------------

    def request_close(self) -> None:
        """Start draining: refuse deliveries now, close once in-flight turns ended."""
        if self.state in (ActivityState.STARTING, ActivityState.ACTIVE, ActivityState.PAUSED):
            self.state = ActivityState.DRAINING
        self._close_requested.set()

    async def wait_closed(self) -> None:
        """Wait until the activity closed."""
        await self._closed.wait()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Open the executors, route the tools, run until closed (the ``activity`` task)."""
        agent = self.agent
        try:
            async with AsyncExitStack() as stack:
                if self._instrument is not None:  # OBS-4: a span around the activity
                    stack.enter_context(self._instrument.activity_scope(agent.name))
                await self._open_executors(stack)
                self.started = True
                if self.state is ActivityState.STARTING:
                    self.state = ActivityState.ACTIVE
                # INV-22: on_enter runs in a task the activity owns, so it cannot outlive it
                # (and speak into the next agent's chat); closing cancels it.
                with collapse_groups():
                    async with anyio.create_task_group() as entering:
                        task_status.started()
                        entering.start_soon(self._enter, name=f"on_enter {agent.name}")
                        await self._close_requested.wait()
                        entering.cancel_scope.cancel("the activity is closing")
                while self._turns:  # HND-1 (2)
                    await self._turns_changed.wait()
                await drain_all(self.executors)  # HND-1 (3)
                try:
                    await agent.on_exit()
                except Exception:
                    logger.exception("%s.on_exit raised", agent.name)
                # HND-1 (4): leaving the stack closes the executors.
        finally:
            self.state = ActivityState.CLOSED
            self._closed.set()
            self._entered()

    def _entered(self) -> None:
        if not self.entered:
            self.entered = True
            self._notify()

    async def _enter(self) -> None:
        # Speech queued by on_enter belongs to this activity, even once a handoff it asked
        # for made another agent current (INV-22).
        _entering.set(self)  # this task's own context: nothing to reset
        try:
            await self.agent.on_enter()
        except Exception as exc:
            logger.exception("%s.on_enter raised", self.agent.name)
            self._report("on_enter", exc)
        finally:
            self._entered()

    async def _open_executors(self, stack: AsyncExitStack) -> None:
        agent = self.agent
        agent_items = agent.tools
        for toolset in (item for item in agent_items if isinstance(item, Toolset)):
            await toolset.setup()
            stack.push_async_callback(toolset.aclose)
        base_options = agent.tool_options or self._session_options
        default = await stack.enter_async_context(
            ToolExecutor(
                self._host_factory(self),
                registry=self._registry,
                options=base_options,
                scope=ExecutorScope.ACTIVITY,
                name=agent.name,
                close_timeout=self._close_timeout,
                instrumentation=self._instrument,
            )
        )
        self.executors.append(default)
        executors: dict[int, ToolExecutor] = {}
        for toolset in async_toolsets(agent_items):
            executor = await stack.enter_async_context(
                ToolExecutor(
                    self._host_factory(self),
                    registry=self._registry,
                    options=toolset.tool_options or base_options,
                    scope=ExecutorScope.ACTIVITY,
                    name=f"{agent.name}/{toolset.id}",
                    close_timeout=self._close_timeout,
                    instrumentation=self._instrument,
                )
            )
            executors[id(toolset)] = executor
            self.executors.append(executor)
        routes = build_routes(
            [item for item in self._session_items if not isinstance(item, AsyncToolset)],
            default,
            {},
        )
        for name, route in self._session_routes.items():
            routes[name] = route
        for name, route in build_routes(agent_items, default, executors).items():
            known = routes.get(name)
            if known is not None and known[0] is not route[0]:
                raise ValueError(
                    f"two different tools are named {name!r}: {known[0]!r}, {route[0]!r}"
                )
            routes[name] = route
        check_builtin_names(tool for tool, _ in routes.values())  # DEC-10
        if any(tool.info.cancellable for tool, _ in routes.values()):  # CAN-2
            for tool in RunningCallTools(self._registry).tools:
                routes[tool.name] = (tool, default)
        self.routes = routes
        self.tools = tuple(tool for tool, _ in routes.values())
