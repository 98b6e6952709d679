"""A scenario drives a whole `AgentSession` with commands drawn by hypothesis: user turns that
call tools, tools that update, return, fail or take the floor, the user speaking, interruptions,
handoffs between two agents (each greets in its ``on_enter``), runs (some handing off), sub-agent
tasks (a tool pauses its agent with ``run_task``; the program completes or fails the current
task, and tasks nest) and time passing (SPEC section 12 at the runtime level; CON-11 and RUN-1
for runs, issue #20; HND-2 and DEL-2 for tasks, issue #18)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from anyio_tools import (
    AgentHandoff,
    ChatMessage,
    ReplyUpdated,
    RunContext,
    ToolError,
    ToolFlag,
    function_tool,
)
from anyio_tools.runtime import (
    Agent,
    AgentSession,
    AgentTask,
    AsyncToolset,
    ConversationItemAdded,
    LLMRequest,
    ScriptedCall,
    ScriptedLLM,
    ScriptedResponse,
    TextOutput,
    UserState,
)
from anyio_tools.testing import no_task_leaks

from .invariants import (
    Trace,
    check_call_events,
    check_chat_order,
    check_paused_replies,
    check_replies,
)

ACTIONS = ("update", "return", "error", "tool_error", "foreground")
TOOL_NAMES = ("act_allow_c", "act_reject_n", "ses_allow_c", "ses_reject_n")

_channels: dict[str, MemoryObjectReceiveStream[str]] = {}
_senders: dict[str, MemoryObjectSendStream[str]] = {}
_floor = {"holders": 0, "violations": []}  # type: ignore[var-annotated]
_events: list[Any] = []
_owners: dict[str, str] = {}  # call id -> the agent whose activity runs it (activity scope)
_tasks: list[ScenarioTask] = []  # every task started, oldest first


def _note_owner(ctx: RunContext[None]) -> None:
    owner = ctx.session._owner_of_current_call()  # type: ignore[attr-defined]
    if owner is not None:
        _owners[ctx.call_id] = owner.agent.name


async def _body(ctx: RunContext[None], key: int) -> object:
    _note_owner(ctx)
    # The call opens its own channel; the program acts on it from then on.
    send, channel = anyio.create_memory_object_stream[str](100)
    _senders[ctx.call_id] = send
    _channels[ctx.call_id] = channel
    async for action in channel:
        if action == "update":
            await ctx.update("progress")
        elif action == "return":
            return "result"
        elif action == "error":
            raise RuntimeError("internal")
        elif action == "tool_error":
            raise ToolError("failed")
        elif action == "foreground":
            made = [
                e.id
                for e in _events
                if getattr(e, "call_id", None) == ctx.call_id
                and hasattr(e, "message")
                and e.id != ctx.call_id
            ]
            async with ctx.foreground():
                _floor["holders"] += 1
                if _floor["holders"] > 1:
                    _floor["violations"].append("INV-15: two floor holders")
                covered = {
                    i
                    for e in _events
                    if isinstance(e, ReplyUpdated) and e.status != "scheduled"
                    for i in e.update_ids
                } | {i for e in _events if type(e).__name__ == "ReplyDropped" for i in e.update_ids}
                late = [m for m in made if m not in covered]
                if late:
                    _floor["violations"].append(f"INV-16: {late} not voiced before the body")
                await ctx.session.say(f"floor {ctx.call_id}").wait_for_playout()  # type: ignore[attr-defined]
                _floor["holders"] -= 1
    return None


def _tool(name: str, *, cancellable: bool, mode: str) -> Any:
    flags = ToolFlag.CANCELLABLE if cancellable else ToolFlag.NONE
    return function_tool(name=name, flags=flags, on_duplicate=mode)(_body)


_agents: list[Agent] = []


@function_tool
async def handoff(ctx: RunContext[None], key: int = 0) -> Agent:
    """Hand the conversation to the other agent."""
    current = ctx.session.current_agent  # type: ignore[attr-defined]
    return _agents[1] if current is _agents[0] else _agents[0]


class ScenarioTask(AgentTask[bool]):
    """A sub-agent task; the program ends it (`EndTask`)."""


@function_tool
async def ask(ctx: RunContext[None], key: int = 0) -> str:
    """Pause this agent for a sub-agent task; the result comes later (issue #18)."""
    _note_owner(ctx)
    await ctx.update("asking")
    task = ScenarioTask(instructions="task", tools=ACTIVITY_TOOLS, name=f"T{len(_tasks) + 1}")
    _tasks.append(task)
    return f"answer {await ctx.session.run_task(task)}"


ACTIVITY_TOOLS = [
    _tool("act_allow_c", cancellable=True, mode="allow"),
    _tool("act_reject_n", cancellable=False, mode="reject"),
    handoff,
    ask,
]
# What a run may cause: its own turn's messages and a greeting (never a deferred reply).
RUN_REPLIES = {"sure", "ok", "hello", "welcome A", "welcome B"}
SESSION_TOOLS = [
    _tool("ses_allow_c", cancellable=True, mode="allow"),
    _tool("ses_reject_n", cancellable=False, mode="reject"),
]


def _script(request: LLMRequest) -> ScriptedResponse | str:
    if request.extra_instructions is not None:
        if request.extra_instructions.startswith("greet "):
            return f"welcome {request.extra_instructions.split()[1]}"
        return "reply"
    if request.tool_outputs:
        return "ok"
    text = request.last_user_text or ""
    if text.startswith("call "):
        return ScriptedResponse("sure", calls=[ScriptedCall(text.split()[1], {"key": 0})])
    return "hello"


@dataclass(frozen=True)
class UserTurn:
    tool: int


@dataclass(frozen=True)
class Act:
    pick: int
    action: str


@dataclass(frozen=True)
class UserSpeaking:
    speaking: bool


@dataclass(frozen=True)
class Interrupt:
    pass


@dataclass(frozen=True)
class SwitchAgent:
    pass


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(frozen=True)
class Run:
    handoff: bool


@dataclass(frozen=True)
class Pause:
    """The user asks for something that a tool collects with a sub-agent task."""


@dataclass(frozen=True)
class EndTask:
    """The current task (if one is current) completes, or fails."""

    fail: bool


SessionCommand = (
    UserTurn | Act | UserSpeaking | Interrupt | SwitchAgent | Wait | Run | Pause | EndTask
)


class Greeting(Agent):
    """An agent whose ``on_enter`` asks its LLM for a greeting (issue #20 item 1)."""

    session: AgentSession[None] | None = None

    async def on_enter(self) -> None:
        if self.session is not None:
            self.session.generate_reply(instructions=f"greet {self.name}")


class SessionScenario:
    """A session with two agents sharing the activity tools, and one session toolset."""

    def __init__(self, session: AgentSession[None], agents: list[Agent]) -> None:
        self.session = session
        self.agents = agents
        self.senders = _senders
        self.trace = Trace(events=_events)
        self.steps = 0
        self.llm: ScriptedLLM | None = None

    async def apply(self, command: SessionCommand) -> None:
        self.steps += 1
        session = self.session
        if isinstance(command, UserTurn):
            try:
                session.generate_reply(user_input=f"call {TOOL_NAMES[command.tool]}")
            except RuntimeError:
                pass
        elif isinstance(command, Act):
            calls = sorted(self.senders)
            if calls:
                self.senders[calls[command.pick % len(calls)]].send_nowait(command.action)
        elif isinstance(command, UserSpeaking):
            if command.speaking:
                session.user_started_speaking()
            else:
                session.user_stopped_speaking()
        elif isinstance(command, Interrupt):
            session.interrupt()
        elif isinstance(command, SwitchAgent):
            current = session.current_agent
            other = self.agents[1] if current is self.agents[0] else self.agents[0]
            try:
                session.update_agent(other)
            except RuntimeError:  # refused while a task runs (issue #18)
                pass
        elif isinstance(command, Pause):
            try:
                session.generate_reply(user_input="call ask")
            except RuntimeError:
                pass
        elif isinstance(command, EndTask):
            task = session._current_agent
            if isinstance(task, ScenarioTask) and not task.done:
                if command.fail:
                    task.fail(ValueError("no answer"))
                else:
                    task.complete(True)
        elif isinstance(command, Wait):
            await anyio.sleep(command.seconds)
        elif isinstance(command, Run):
            await self._run(handoff=command.handoff)
        await anyio.wait_all_tasks_blocked()

    async def _run(self, *, handoff: bool) -> None:
        """One run (the user stops speaking first); it must include every reply it caused:
        nothing it caused is recorded after it returned (CON-11, RUN-1; issue #20 item 1)."""
        session = self.session
        if session.user_state is UserState.SPEAKING:
            session.user_stopped_speaking()
        if session.registry.running() or not session.is_idle() or _tasks_running():
            # A drain (of a handoff, or of a switch before) could wait for an Act, and so
            # could a queued turn's call.
            return
        with anyio.fail_after(3600):
            result = await session.run(user_input="call handoff" if handoff else "say hello")
        late: list[Any] = []
        session.on(ConversationItemAdded, late.append)
        try:
            await anyio.wait_all_tasks_blocked()
        finally:
            session.off(ConversationItemAdded, late.append)
        caused = [
            e.item
            for e in late
            if isinstance(e.item, AgentHandoff)
            or (isinstance(e.item, ChatMessage) and e.item.content in RUN_REPLIES)
        ]
        assert not caused, f"recorded after its run returned: {caused}"
        if handoff:  # a turn queued before the run may hand off too: the last one counts
            items = list(result.items)
            last = max(i for i, item in enumerate(items) if isinstance(item, AgentHandoff))
            greeting = f"welcome {session.current_agent.name}"
            assert any(
                isinstance(item, ChatMessage) and item.content == greeting for item in items[last:]
            ), items

    def check(self, *, final: bool = False) -> None:
        chats = [*(a.chat_ctx for a in self.agents), *(t.chat_ctx for t in _tasks)]
        self.trace.chats = [self.session.history, *chats]
        self.trace.owners = _owners
        assert not _floor["violations"], _floor["violations"]
        check_call_events(self.trace, final=final)
        check_replies(self.trace, final=final)
        check_chat_order(self.trace)
        check_paused_replies(self.trace)


def _tasks_running() -> bool:
    return any(not task.done for task in _tasks)


@asynccontextmanager
async def session_scenario(
    *, chars_per_second: float | None = 20
) -> AsyncIterator[SessionScenario]:
    """Open a session; on exit close it, then check the final state and leaks.

    Args:
        chars_per_second: The speaking rate of the session's output (None plays instantly,
            for the real-time programs that also run on uvloop).
    """
    _channels.clear()
    _senders.clear()
    _events.clear()
    _owners.clear()
    _tasks.clear()
    _floor["holders"] = 0
    _floor["violations"] = []
    agents: list[Agent] = [
        Greeting(instructions="a", tools=ACTIVITY_TOOLS, name="A"),
        Greeting(instructions="b", tools=ACTIVITY_TOOLS, name="B"),
    ]
    _agents[:] = agents
    llm = ScriptedLLM(_script)
    with no_task_leaks():
        session: AgentSession[None] = AgentSession(
            llm=llm,
            tools=[AsyncToolset(id="shared", tools=SESSION_TOOLS)],
            output=TextOutput(chars_per_second=chars_per_second),
            close_timeout=30,
        )
        session.on(None, _events.append)
        for agent in agents:
            cast(Greeting, agent).session = session
        try:
            async with session:
                await session.start(agents[0])
                sc = SessionScenario(session, agents)
                sc.llm = llm  # its `requests` are every context an LLM saw (tests/properties/
                # test_provider_conversions.py converts them for each provider)
                yield sc
                for send in list(_senders.values()):
                    send.close()
        finally:
            # Calls admitted while the session closed opened channels after the loop above;
            # a failed check leaves them all open.
            for send in list(_senders.values()):
                send.close()
            for receive in list(_channels.values()):
                receive.close()
    sc.check(final=True)
