"""The conversation: agents as scopes, speech, turns, idleness and the floor (issue #4; SPEC
CON-1..11, EXE-1, EXE-10..12, HND-1, HND-3, HOST-3, CTX-7, RUN-1..3).

An `AgentSession` owns one long-lived task group. In it run: the activity manager (one agent's
activity at a time; a handoff drains the old one, then starts the next), the session-scoped
executors of session-level ``AsyncToolset`` objects, and one task per speech turn. Speech
plays one generation step at a time; a turn's tools run between its steps without holding
the speech slot, so running tools never make the session busy.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Generic, TypeVar, cast, final

import anyio
from anyio import AsyncContextManagerMixin
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream

from anyio_tools._builtins import check_builtin_names
from anyio_tools._chat import (
    AgentHandoff,
    ChatContext,
    ChatMessage,
)
from anyio_tools._errors import SessionClosedError
from anyio_tools._executor import ExecutorScope, ToolExecutor
from anyio_tools._floor import FloorToken
from anyio_tools._groups import collapse_groups
from anyio_tools._host import SubAgentTask
from anyio_tools._instrument import Instrumentation, default_instrumentation
from anyio_tools._options import ToolHandlingOptions, ToolOptions
from anyio_tools._registry import CallRegistry
from anyio_tools._signals import Signal
from anyio_tools._toolsets import Toolset, ToolsetItem, flatten_tools

from ._activity import (
    Activity,
    ActivityState,
    Route,
    async_toolsets,
    build_routes,
    drain_all,
    entering_activity,
)
from ._agent import Agent
from ._errors import AgentStartError, LLMError
from ._event_hub import EventHub
from ._hosts import ActivityHost, SessionHost
from ._idle import NOT_OPEN, IdleWaits, RunState
from ._llm import LLM, ToolChoice
from ._session_events import (
    AgentPaused,
    AgentResumed,
    AgentState,
    AgentStateChanged,
    RunResult,
    SessionError,
    SessionEvent,
    UserState,
    UserStateChanged,
)
from ._speech import SpeechHandle, SpeechOutput, TextOutput
from ._task import AgentTask
from ._turns import TurnRunner

__all__ = ["AgentSession"]

logger = logging.getLogger("anyio_tools.runtime")

UserdataT = TypeVar("UserdataT")
ResultT = TypeVar("ResultT")

_MISSING: Any = object()


@final
class AgentSession(EventHub, TurnRunner, IdleWaits, AsyncContextManagerMixin, Generic[UserdataT]):
    """A conversation between a user and agents, with long-running tools.

    Enter it with ``async with``, then `start` an agent. Leaving the block closes the
    current agent's activity (cancellable calls cancelled, others awaited), closes the
    session-level toolsets, and leaves no task running.

    Args:
        llm: The LLM for agents that have none.
        tools: Session-level tools; those in an ``AsyncToolset`` survive handoffs.
        userdata: Application data, reachable from every tool as ``ctx.userdata``.
        tool_handling: Default options for tools (``{"async_options": {...}}``).
        output: Where speech plays; an instant `TextOutput` by default.
        close_timeout: Seconds closing waits for calls to end before cancelling them all.
        llm_timeout: Seconds one LLM request may take (its whole stream); when it passes,
            the generation is abandoned, a `SessionError` with source ``"llm"`` and a
            ``TimeoutError`` is emitted, and the turn ends. None: no limit.
        user_away_timeout: Seconds of quiet (agent and user listening, no call registered)
            after which the user is declared away (`UserState.AWAY`, HOST-8). A registered
            call holds the timer; the last call ending with the session quiet restarts it.
            None (the default): never.
        instrumentation: What observes the session, its activities, calls and replies
            (`anyio_tools.otel.OpenTelemetry`); by default the one
            `anyio_tools.otel.instrument` installed, if any.

    Raises:
        ValueError: Bad options, or two different tools with one name (a built-in's name
            included, when a cancellable tool is visible).
    """

    def __init__(
        self,
        *,
        llm: LLM | None = None,
        tools: Sequence[ToolsetItem] = (),
        userdata: UserdataT = _MISSING,
        tool_handling: ToolHandlingOptions | Mapping[str, Any] | None = None,
        output: SpeechOutput | None = None,
        close_timeout: float = 10.0,
        llm_timeout: float | None = 60.0,
        user_away_timeout: float | None = None,
        instrumentation: Instrumentation | None = None,
    ) -> None:
        if not close_timeout >= 0:
            raise ValueError(f"close_timeout must be >= 0, got {close_timeout!r}")
        if llm_timeout is not None and (
            isinstance(llm_timeout, bool)
            or not isinstance(llm_timeout, int | float)
            or not llm_timeout > 0
        ):
            raise ValueError(f"llm_timeout must be a number > 0 or None, got {llm_timeout!r}")
        if user_away_timeout is not None and (
            isinstance(user_away_timeout, bool)
            or not isinstance(user_away_timeout, int | float)
            or not user_away_timeout > 0
        ):
            raise ValueError(
                f"user_away_timeout must be a number > 0 or None, got {user_away_timeout!r}"
            )
        check_builtin_names(flatten_tools(tools))  # reports name clashes now (DEC-10)
        self._llm = llm
        self._items = list(tools)
        self._userdata: object = userdata
        self._options = ToolOptions.from_tool_handling(tool_handling)
        self._output: SpeechOutput = output if output is not None else TextOutput()
        self._close_timeout = close_timeout
        self._llm_timeout = llm_timeout
        self._user_away_timeout = user_away_timeout
        self._instrument = (  # issue #17
            default_instrumentation() if instrumentation is None else instrumentation
        )
        self.registry = CallRegistry()
        self.history = ChatContext()
        self._task_group: TaskGroup | None = None
        self._opened = False
        self._closing = False
        self._closed = False
        self._current_agent: Agent | None = None
        self._activity: Activity | None = None
        self._paused: list[Activity] = []  # activities under a running task, oldest first
        self._task_waits: dict[int, anyio.CancelScope] = {}  # run_task waits, by task id
        self._session_executors: list[ToolExecutor] = []
        self._session_routes: dict[str, Route] = {}
        # Agents asked for by update_agent(), oldest first, and the context the task that
        # starts their activities runs in (issue #19 item 5: that task runs only while there
        # are some). Not bounded: update_agent() cannot block, and each request is one agent.
        self._agent_requests: list[Agent] = []
        self._managing = False
        self._entry_context: contextvars.Context | None = None
        self._agent_state = AgentState.INITIALIZING
        self._user_state = UserState.LISTENING
        self._speech_demand = 0
        self._slot_holder: SpeechHandle | None = None
        # Short, and a list: an empty deque takes 760 bytes per session (issue #19).
        self._slot_waiters: list[tuple[SpeechHandle, anyio.Event]] = []
        self._speaking: set[SpeechHandle] = set()
        self._cut_scopes: dict[SpeechHandle, anyio.CancelScope] = {}
        self._floor_token: FloorToken | None = None
        self._init_waits()
        self._tool_phases = []
        self._in_tools = set()
        self._turn_owners = {}
        # Issue #19 item 5: no event is made until a task waits.
        self._changed = Signal()
        self._activity_event = Signal()
        self._run: RunState | None = None
        # The latest activity of each agent (keyed by id; the agent is kept alive with it).
        self._attempts: dict[int, tuple[Agent, Activity]] = {}
        self._start_failure: Activity | None = None  # why the session has no current agent
        self._listeners: dict[type[Any] | None, list[Callable[[Any], object]]] = {}
        self._streams: list[MemoryObjectSendStream[SessionEvent]] = []

    def __repr__(self) -> str:
        agent = None if self._current_agent is None else self._current_agent.name
        return f"<AgentSession agent={agent!r} {self._agent_state}>"

    # -- public properties ------------------------------------------------------------------

    @property
    def userdata(self) -> UserdataT:
        """The application data given at construction.

        Raises:
            ValueError: The session was built without userdata.
        """
        if self._userdata is _MISSING:
            raise ValueError("this AgentSession was built without userdata")
        return cast(UserdataT, self._userdata)

    @property
    def current_agent(self) -> Agent:
        """The agent most recently started or handed off to.

        Raises:
            AgentStartError: The last agent started or handed off to failed to start.
            RuntimeError: No agent was started yet.
        """
        if self._current_agent is None:
            error = self._start_error()
            if error is not None:
                raise error
            raise RuntimeError("no agent was started yet; call session.start(agent)")
        return self._current_agent

    @property
    def agent_state(self) -> AgentState:
        """What the agent is doing."""
        return self._agent_state

    @property
    def user_state(self) -> UserState:
        """What the user is doing."""
        return self._user_state

    @property
    def tool_options(self) -> ToolOptions | None:
        """The session's resolved tool options, if it has any."""
        return self._options

    # -- lifecycle --------------------------------------------------------------------------

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[AgentSession[UserdataT], None]:
        if self._opened:
            raise RuntimeError("an AgentSession can be entered once")
        self._opened = True
        try:
            # INV-23: what leaves our group is the user's exception, unwrapped, with its
            # __cause__ and __context__ intact (trio-websocket's open_websocket).
            with collapse_groups():
                async with anyio.create_task_group() as task_group:
                    self._task_group = task_group
                    try:
                        async with AsyncExitStack() as stack:
                            if self._instrument is not None:  # OBS-4: a span around it all
                                stack.enter_context(self._instrument.session_scope("agent_session"))
                            await self._open_session_toolsets(stack)
                            # What the "activities" task was started in until issue #19.
                            self._entry_context = contextvars.copy_context()
                            if self._user_away_timeout is not None:
                                task_group.start_soon(self._watch_user_away, name="away")
                            try:
                                yield self
                            finally:
                                with anyio.CancelScope(shield=True):
                                    await self._close()
                            # Leaving the stack closes the session executors and toolsets.
                    finally:
                        task_group.cancel_scope.cancel()
        finally:
            self._closed = True

    async def _open_session_toolsets(self, stack: AsyncExitStack) -> None:
        for toolset in (item for item in self._items if isinstance(item, Toolset)):
            await toolset.setup()
            stack.push_async_callback(toolset.aclose)
        executors: dict[int, ToolExecutor] = {}
        host = SessionHost(cast("AgentSession[object]", self))
        for toolset in async_toolsets(self._items):
            executor = await stack.enter_async_context(
                ToolExecutor(
                    host,
                    registry=self.registry,
                    options=toolset.tool_options or self._options,
                    scope=ExecutorScope.SESSION,
                    name=toolset.id,
                    close_timeout=self._close_timeout,
                    instrumentation=self._instrument,
                )
            )
            executors[id(toolset)] = executor
            self._session_executors.append(executor)
        if executors:
            placeholder = next(iter(executors.values()))
            routes = build_routes(self._items, placeholder, executors)
            in_async = {
                tool.name
                for toolset in async_toolsets(self._items)
                for tool in flatten_tools(toolset.tools)
            }
            self._session_routes = {n: r for n, r in routes.items() if n in in_async}

    async def _close(self) -> None:
        # HND-3: closing first (idle and floor waits fail, session deliveries drop) ...
        self._closing = True
        self._notify()
        for handle in [*self._speaking, *self._in_tools, *(h for h, _ in self._slot_waiters)]:
            handle.interrupt(force=True)
            self._cut(handle)
        for waiting in self._task_waits.values():  # run_task raises SessionClosedError
            waiting.cancel("the session is closing")
        activity = self._activity
        with anyio.move_on_after(self._close_timeout) as bound:
            # ... then the current activity closes as in a handoff ...
            if activity is not None:
                activity.request_close()
                await activity.wait_closed()
            # ... task by task, down to the agent that started the first one (issue #18) ...
            for paused in reversed(self._paused):
                paused.request_close()
                await paused.wait_closed()
            # ... then session-level toolsets drain together (non-cancellable calls awaited).
            await drain_all(self._session_executors)
        if bound.cancelled_caught:
            logger.warning(
                "closing took longer than close_timeout=%ss; cancelling what is left",
                self._close_timeout,
            )

    def _request_agent(self, agent: Agent) -> None:
        # One "activities" task at a time serves the requests in order; it runs while there
        # are some, in the context the session was entered in.
        self._agent_requests.append(agent)
        if not self._managing and self._task_group is not None:
            self._managing = True
            self._task_group.create_task(
                self._manage_activities(), name="activities", context=self._entry_context
            )

    async def _manage_activities(self) -> None:
        try:
            while self._agent_requests:
                agent = self._agent_requests.pop(0)
                old = self._activity
                if old is not None:
                    old.request_close()
                    await old.wait_closed()
                if self._closing:
                    return
                self.record(
                    [AgentHandoff(old_agent=old.agent.name if old else None, new_agent=agent.name)]
                )
                activity = self._new_activity(agent)
                assert self._task_group is not None
                try:
                    await self._task_group.start(activity.run, name=f"activity {agent.name}")
                except Exception as exc:  # noqa: BLE001 - a failed start is reported to its waiters
                    self._start_failed(activity, exc)
                    continue
                if self._agent_state is AgentState.INITIALIZING:
                    self._set_agent_state(AgentState.LISTENING)
                self._notify()
        finally:
            self._managing = False

    def _new_activity(self, agent: Agent) -> Activity:
        activity = Activity(
            agent,
            host_factory=lambda act: ActivityHost(cast("AgentSession[object]", self), act),
            registry=self.registry,
            session_options=self._options,
            session_items=self._items,
            session_routes=self._session_routes,
            close_timeout=self._close_timeout,
            report=lambda source, exc: self.emit(SessionError(source, exc)),
            notify=self._notify,
            instrumentation=self._instrument,
        )
        if self._run is not None:  # issue #20 item 1: its on_enter belongs to the run
            self._run.activities.append(activity)
        self._activity = activity
        self._attempts[id(agent)] = (agent, activity)
        return activity

    def _start_failed(self, activity: Activity, exc: Exception) -> None:
        # Issue #11 item 6, #12 item 5: the failure is remembered for whoever waits for this
        # agent (start(), wait_for_agent(), run(), queued turns), and the session is left with
        # no current agent unless a newer one was already requested.
        agent = activity.agent
        logger.error("agent %s failed to start: %r", agent.name, exc)
        activity.start_error = exc
        if self._current_agent is agent:
            self._current_agent = None
            self._start_failure = activity
        self.emit(SessionError("activity", exc))

    def _start_error(self, agent: Agent | None = None) -> AgentStartError | None:
        """The error to raise for ``agent`` (None: for the session having no agent), if any."""
        if agent is None:
            failed = None if self._current_agent is not None else self._start_failure
        else:
            attempt = self._attempts.get(id(agent))
            failed = None if attempt is None else attempt[1]
        if failed is None or failed.start_error is None:
            return None
        error = AgentStartError(failed.agent.name)
        error.__cause__ = failed.start_error
        return error

    def _check_open(self) -> None:
        if not self._opened or self._closed:
            raise RuntimeError(NOT_OPEN)
        if self._closing:
            raise SessionClosedError("the session is closing")

    async def start(self, agent: Agent) -> None:
        """Make ``agent`` the first agent and wait until it is active.

        If its activity fails to start (a toolset's ``setup()`` raises, say), this raises
        `AgentStartError` and the session stays open with no agent: `start` may be called
        again.

        Raises:
            AgentStartError: The agent's activity failed to start (the cause is chained).
            RuntimeError: The session is not open, or an agent was already started.
            ValueError: Two different tools of the agent and the session share a name
                (a built-in's name included, when a cancellable tool is visible).
        """
        self._check_open()
        if self._current_agent is not None:
            raise RuntimeError("an agent was already started; use update_agent() to hand off")
        self.update_agent(agent)
        await self.wait_for_agent(agent)

    def update_agent(self, agent: Agent) -> None:
        """Hand the conversation to ``agent`` (a close handoff); returns at once.

        The current agent changes now; the old activity drains (its cancellable calls are
        cancelled, the others awaited, its pending replies dropped), then the new one starts.
        If the new one fails to start, a `SessionError` with source ``"activity"`` is emitted
        and the session is left with no current agent: `wait_for_agent`, `run` and
        `current_agent` raise `AgentStartError` until an agent is started again.

        Raises:
            RuntimeError: The session is not open, or a task runs (`run_task`): a handoff
                from inside a task is refused.
            TypeError: ``agent`` is not an `Agent`.
            ValueError: Two different tools of the agent and the session share a name
                (a built-in's name included, when a cancellable tool is visible).
        """
        self._check_open()
        if not isinstance(agent, Agent):
            raise TypeError(f"update_agent() expects an Agent, got {agent!r}")
        if self._paused:
            raise RuntimeError(
                f"a task ({self._paused[-1].agent.name} is paused) cannot hand off with "
                "update_agent(); end the task with complete() or fail() first"
            )
        check_builtin_names(flatten_tools([*self._items, *agent.tools]))  # DEC-10
        self._attempts.pop(id(agent), None)  # waiters now wait for the new attempt
        self._start_failure = None
        self._current_agent = agent
        if self._activity is not None and self._activity.agent is not agent:
            self._activity.request_close()
        self._request_agent(agent)
        self._notify()

    async def wait_for_agent(self, agent: Agent) -> None:
        """Wait until ``agent``'s activity started (the latest start or handoff to it).

        Returns at once if it is active; also returns if it started and then handed off
        already (in its ``on_enter``, say).

        Raises:
            AgentStartError: The agent's activity failed to start (the cause is chained).
            RuntimeError: The session was never entered (use it inside ``async with``).
            SessionClosedError: The session closed first.
        """
        self._check_entered()
        while True:
            attempt = self._attempts.get(id(agent))
            if attempt is not None and attempt[1].started:
                break
            error = self._start_error(agent)
            if error is not None:
                raise error
            if self._closing:
                raise SessionClosedError("the session closed")
            await self._changed.wait()
        await anyio.lowlevel.checkpoint()

    async def run_task(self, task: SubAgentTask[ResultT]) -> ResultT:
        """Pause the current agent, run ``task`` on top of it, resume it, return the result.

        A pause handoff (CON-4, HND-2): the current activity becomes
        `ActivityState.PAUSED` (nothing drains; its calls keep running, their deferred
        replies wait for it), ``task`` becomes the current agent and its activity starts.
        Once the task calls `AgentTask.complete` or `AgentTask.fail`, its activity drains
        and closes as in a close handoff, and the paused activity is ``ACTIVE`` again: what
        its calls reported meanwhile is voiced on it in one reply. Tasks nest.

        Reachable from a tool as ``ctx.session.run_task(task)``. Blocks until the task
        ended; cancelling the wait closes the task's activity, resumes the paused agent and
        lets the cancellation go on. While the agent is paused, a turn of it that would take
        another step (the LLM's follow-up to its calls' answers, say) takes none, as if
        interrupted, and its calls' fillers stay silent.

        Args:
            task: The task agent, an `AgentTask` (a fresh instance: a task runs once).

        Returns:
            The value the task passed to `AgentTask.complete`.

        Raises:
            AgentTaskError: The task called `AgentTask.fail` (its error is the ``__cause__``).
            AgentStartError: The task's activity failed to start; the paused agent resumed.
            SessionClosedError: The session closed while the task ran (both activities
                closed, the task's first).
            RuntimeError: The session is not open, or no agent is active to pause (none was
                started, or a handoff is in progress), or ``task`` already ran.
            TypeError: ``task`` is not an `AgentTask`.
        """
        self._check_open()
        if not isinstance(task, AgentTask):
            raise TypeError(f"run_task() expects an AgentTask, got {task!r}")
        if task.done or id(task) in self._attempts:
            raise RuntimeError(f"task {task.name!r} already ran; a task instance runs once")
        parent = self._activity
        if (
            parent is None
            or parent.agent is not self._current_agent
            or parent.state is not ActivityState.ACTIVE
        ):
            raise RuntimeError("run_task() needs an active agent to pause")
        check_builtin_names(flatten_tools([*self._items, *task.tools]))  # DEC-10
        parent.state = ActivityState.PAUSED
        self._paused.append(parent)
        self._current_agent = task
        self.record([AgentHandoff(old_agent=parent.agent.name, new_agent=task.name)])
        self.emit(AgentPaused(parent.agent.name, task.name))
        activity = self._new_activity(task)
        self._notify()
        try:
            assert self._task_group is not None
            try:
                await self._task_group.start(activity.run, name=f"task {task.name}")
            except Exception as exc:
                activity.start_error = exc
                self.emit(SessionError("activity", exc))
                error = AgentStartError(task.name)
                error.__cause__ = exc
                raise error from exc
            with anyio.CancelScope() as waiting:
                self._task_waits[id(task)] = waiting
                try:
                    await task._wait()
                finally:
                    del self._task_waits[id(task)]
            if task._outcome is None:  # the session is closing: it closes both activities
                raise SessionClosedError("the session closed while the task ran")
        finally:
            with anyio.CancelScope(shield=True):
                await self._end_task(parent, activity)
        return cast(ResultT, task._result())

    async def _end_task(self, parent: Activity, activity: Activity) -> None:
        if self._closing:  # HND-3: _close closes the task's activity, then the paused ones
            await anyio.lowlevel.checkpoint()
            return
        activity.request_close()
        await activity.wait_closed()  # HND-1 (2)-(4) for the task's activity
        self._paused.remove(parent)
        self._activity = parent
        self._current_agent = parent.agent
        self._attempts.pop(id(activity.agent), None)
        if parent.state is ActivityState.PAUSED:
            parent.state = ActivityState.ACTIVE  # its waiting deliveries may go now (DEL-2)
        self.record([AgentHandoff(old_agent=activity.agent.name, new_agent=parent.agent.name)])
        self.emit(AgentResumed(parent.agent.name, activity.agent.name))
        self._notify()

    # -- state ------------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.wake()
        run = self._run
        # Issue #19 item 5: the run is woken only when it may end. It cannot end while a turn
        # of it runs, and a turn ending notifies; it stops on closing or a failed start
        # (which leaves no current agent), both of which notify too.
        if run is not None and (run.turns_done() or self._closing or self._current_agent is None):
            run.changed.wake()
        if self._waiters:
            self._serve_waiters()  # HOST-3

    def _bump_activity(self) -> None:
        self._activity_event.wake()

    def _set_agent_state(self, state: AgentState, *, bump: bool = True) -> None:
        old = self._agent_state
        if old is state:
            return
        self._agent_state = state
        if bump and state in (AgentState.SPEAKING, AgentState.THINKING):
            self._bump_activity()
        self.emit(AgentStateChanged(old, state))

    def user_started_speaking(self) -> None:
        """The user starts speaking: interruptible speech stops; the session is busy."""
        old = self._user_state
        self._user_state = UserState.SPEAKING
        self.interrupt()
        self._bump_activity()
        if old is not UserState.SPEAKING:
            self.emit(UserStateChanged(old, UserState.SPEAKING))

    def user_stopped_speaking(self) -> None:
        """The user stops speaking."""
        old = self._user_state
        if old is UserState.SPEAKING:
            self._user_state = UserState.LISTENING
            self.emit(UserStateChanged(old, UserState.LISTENING))

    def _quiet(self) -> bool:
        return (
            not self._closing
            and self._agent_state is AgentState.LISTENING
            and self._user_state is UserState.LISTENING
            and not self.registry.running()
        )

    async def _watch_user_away(self) -> None:
        """Declare the user away after *user_away_timeout* seconds of quiet (HOST-8).

        Quiet: the agent and the user listening and no call registered. A call of a turn keeps
        the agent thinking, and any registered call holds the timer; the last call ending
        with the session quiet starts it again from zero.
        """
        while True:
            while not self._quiet():
                await self._changed.wait()
            assert self._user_away_timeout is not None
            with anyio.move_on_after(self._user_away_timeout) as timer:
                while self._quiet():
                    await self._changed.wait()
            if timer.cancelled_caught and self._quiet():
                self._user_state = UserState.AWAY
                self.emit(UserStateChanged(UserState.LISTENING, UserState.AWAY))

    # -- speech -----------------------------------------------------------------------------

    def say(self, text: str, *, allow_interruptions: bool = True) -> SpeechHandle:
        """Queue ``text`` to be spoken by the current agent; return its handle.

        Raises:
            RuntimeError: The session is not open or no agent was started.
        """
        self._check_open()
        handle = SpeechHandle(allow_interruptions=allow_interruptions)
        owner = entering_activity()  # speech of an on_enter stays with its agent (INV-22)
        self._start_turn(handle, owner, text=text, instructions=None, tool_choice="none")
        return handle

    def generate_reply(
        self,
        *,
        instructions: str | None = None,
        user_input: str | None = None,
        tool_choice: ToolChoice = "auto",
        allow_interruptions: bool = True,
    ) -> SpeechHandle:
        """Queue a generation by the current agent's LLM; return its handle.

        Args:
            instructions: Extra instructions for this generation only.
            user_input: A user message to add first.
            tool_choice: Whether the LLM may call tools.
            allow_interruptions: Whether the reply may be interrupted.

        Raises:
            AgentStartError: No agent is active because the last one failed to start.
            RuntimeError: The session is not open or no agent was started.
        """
        self._check_open()
        owner = entering_activity()  # speech of an on_enter stays with its agent (INV-22)
        agent = self.current_agent if owner is None else owner.agent
        if user_input is not None:
            message = ChatMessage(role="user", content=user_input)
            agent.chat_ctx.insert(message)
            self.record([message])
        handle = SpeechHandle(allow_interruptions=allow_interruptions)
        self._start_turn(
            handle, owner, text=None, instructions=instructions, tool_choice=tool_choice
        )
        return handle

    def schedule_reply(self, agent: Agent, *, instructions: str) -> SpeechHandle:
        """Schedule a deferred tool reply on ``agent``'s activity (HOST-4)."""
        activity = self._activity
        if (
            activity is None
            or activity.agent is not agent
            or activity.state is not ActivityState.ACTIVE
        ):
            raise RuntimeError(f"{agent.name} is not the active agent")
        handle = SpeechHandle()
        handle._deferred_reply = True  # its batch settles by LED-2/LED-3, nothing else (LED-7)
        self._start_turn(handle, activity, text=None, instructions=instructions, tool_choice="none")
        return handle

    def interrupt(self) -> None:
        """Interrupt the turns in flight that allow it: speech playing or queued, and turns
        whose calls run (their calls go on; their answers are committed, and they take no
        further step: EXE-12).

        A turn of an agent paused under a sub-agent task whose calls run is left alone: the
        user speaking to the task does not cut the paused agent's turn (its call may be the
        one awaiting the task).
        """
        for handle in [*self._speaking, *self._in_tools, *(h for h, _ in self._slot_waiters)]:
            if handle.allow_interruptions and not self._waits_paused(handle):
                handle.interrupt()
                self._cut(handle)

    def _waits_paused(self, handle: SpeechHandle) -> bool:
        # Issue #18, HND-2: a paused agent's turn that is not speaking waits for its calls.
        owner = self._turn_owners.get(handle)
        return (
            owner is not None
            and owner.state is ActivityState.PAUSED
            and handle not in self._speaking
        )

    def _cut(self, handle: SpeechHandle) -> None:
        scope = self._cut_scopes.pop(handle, None)  # gone: `_generate` knows it was cut
        if scope is not None:
            scope.cancel()

    def _start_turn(
        self,
        handle: SpeechHandle,
        activity: Activity | None,
        *,
        text: str | None,
        instructions: str | None,
        tool_choice: ToolChoice,
    ) -> None:
        assert self._task_group is not None
        self._speech_demand += 1  # sync: the session is busy from now on (HOST-4)
        if activity is not None:
            # Counted now, not when the task runs: a drain that starts in between waits for
            # this turn instead of letting it speak for a closed activity (HND-1 (2)).
            activity.turn_started()
        if self._run is not None:
            self._run.handles.append(handle)
        self._notify()
        self._task_group.start_soon(
            self._run_turn,
            handle,
            activity,
            text,
            instructions,
            tool_choice,
            name=f"turn {handle.id}",
        )

    async def _acquire_slot(self, handle: SpeechHandle) -> None:
        if self._slot_holder is None and not self._slot_waiters:
            self._slot_holder = handle
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        entry = (handle, event)
        self._slot_waiters.append(entry)
        try:
            await event.wait()
        except BaseException:
            if entry in self._slot_waiters:
                self._slot_waiters.remove(entry)
            elif self._slot_holder is handle:
                self._release_slot(handle, demand=False)
            raise

    def _release_slot(self, handle: SpeechHandle, *, demand: bool = True) -> None:
        if demand:
            self._speech_demand -= 1
        if self._slot_holder is handle:
            self._slot_holder = None
            if self._slot_waiters:
                self._slot_holder, event = self._slot_waiters.pop(0)
                event.set()
        self._settle_agent_state()
        self._notify()

    # -- runs -------------------------------------------------------------------------------

    async def run(self, *, user_input: str) -> RunResult:
        """Play one user turn to completion and return what happened.

        Adds the user message, lets the agent answer (with tools, and the deferred replies
        that belong to this turn), and returns once the session is idle again with nothing
        of this turn pending. Background calls do not hold it open. A handoff of the run
        belongs to it with what follows: the run also waits until the ``on_enter`` of each
        agent it started returned, so the greeting that ``on_enter`` queues is among its
        items (CON-11).

        If the LLM fails during the run (it raises, or passes *llm_timeout*), the run still
        plays out, then raises `LLMError`: its ``__cause__`` is the LLM's exception and its
        ``result`` what the run recorded. The session stays usable.

        Raises:
            LLMError: The LLM of a turn of this run failed (the cause is chained).
            AgentStartError: No agent is active because the last one failed to start, or
                a handoff of this run failed to start its agent.
            RuntimeError: The session is not open, or another run is in progress.
        """
        self._check_open()
        if self._run is not None:
            raise RuntimeError("another run is in progress; await it first")
        run = RunState()
        self._run = run
        try:
            self.generate_reply(user_input=user_input)
            while not self._run_complete(run):
                if self._closing:
                    break
                error = self._start_error()
                if error is not None:  # a handoff of this run failed (#12 item 5)
                    raise error
                await run.changed.wait()
            await anyio.lowlevel.checkpoint()
        finally:
            self._run = None
        items = sorted(run.items, key=lambda item: item.sort_key)
        result = RunResult(items=items, events=list(run.events))
        failures = [error for handle in run.handles for error in handle._llm_errors]
        if failures:  # issue #11 item 11: a failed LLM is not a normal return
            raise LLMError(f"the LLM failed during this run: {failures[0]!r}", result) from (
                failures[0]
            )
        return result

    def _executors(self) -> list[ToolExecutor]:
        activity = self._activity
        return [*self._session_executors, *(activity.executors if activity else ())]

    def _run_complete(self, run: RunState) -> bool:
        return (
            all(handle.done for handle in run.handles)
            and run.guards == 0
            and all(activity.entered for activity in run.activities)
            and self._idle()
            and all(executor.pending_updates == 0 for executor in self._executors())
        )
