"""A scenario drives a whole `AgentSession` with commands drawn by hypothesis: user turns that
call tools, tools that update, return, fail or take the floor, the user speaking, interruptions,
handoffs between two agents (each greets in its ``on_enter``), runs (some handing off), sub-agent
tasks (a tool pauses its agent with ``run_task``; the program completes or fails the current
task, and tasks nest) and time passing (SPEC section 12 at the runtime level; CON-11 and RUN-1
for runs, issue #20; HND-2 and DEL-2 for tasks, issue #18).

User turns may disallow interruptions (their follow-up step then waits while the user speaks,
and updates made meanwhile are in its request), and the user may say something that needs no
tool (`UserSays`): normal turns cover queued items (LED-3, LED-7). The trace records every
request (`Requested`) and whether each turn was heard."""

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
    DeliverySettled,
    FunctionCallOutput,
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
    SpeechHandle,
    TextOutput,
    UserState,
)
from anyio_tools.testing import no_task_leaks

from .invariants import (
    Requested,
    Trace,
    check_call_events,
    check_chat_order,
    check_ledger,
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


_replies: dict[str, SpeechHandle] = {}  # the deferred replies' turns, by speech id


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
                covered = (
                    {
                        i
                        for e in _events
                        if isinstance(e, ReplyUpdated) and e.status != "scheduled"
                        for i in e.update_ids
                    }
                    | {
                        i
                        for e in _events
                        if type(e).__name__ == "ReplyDropped"
                        for i in e.update_ids
                    }
                    | {i for e in _events if isinstance(e, DeliverySettled) for i in e.update_ids}
                )  # LED-7: a turn that was heard with them in its request covered them
                # INV-16: or a reply that carried it was scheduled and finished playing (heard
                # or cut: LED-4 voices it again later) before the body: its outcome event may
                # come after the body started.
                played = {
                    i
                    for e in _events
                    if isinstance(e, ReplyUpdated)
                    and e.status == "scheduled"
                    and e.speech_id in _replies
                    and _replies[e.speech_id].done
                    for i in e.update_ids
                }
                late = [m for m in made if m not in covered and m not in played]
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
    # The turn's task is named after its speech handle (`AgentSession._start_turn`).
    speech_id = anyio.get_current_task().name.removeprefix("turn ")
    entries = {i.call_id for i in request.chat_ctx.items if isinstance(i, FunctionCallOutput)}
    _events.append(Requested(speech_id, frozenset(entries)))
    if request.extra_instructions is not None:
        if request.extra_instructions.startswith("greet "):
            return f"welcome {request.extra_instructions.split()[1]}"
        return "reply"
    if request.tool_outputs:
        return "ok"
    text = request.last_user_text or ""
    if text == "say hi":
        return "hi there"
    if text.startswith("call "):
        return ScriptedResponse("sure", calls=[ScriptedCall(text.split()[1], {"key": 0})])
    return "hello"


@dataclass(frozen=True)
class UserTurn:
    tool: int
    interruptible: bool = True


@dataclass(frozen=True)
class UserSays:
    """A user turn without tools: its request holds whatever is queued (LED-7). With
    ``over_update``, a running call (``pick``) updates while the user speaks first, so its
    update is still queued when the turn's request is built."""

    pick: int = 0
    over_update: bool = False


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
    UserTurn
    | UserSays
    | Act
    | UserSpeaking
    | Interrupt
    | SwitchAgent
    | Wait
    | Run
    | Pause
    | EndTask
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
        self.handles: dict[str, SpeechHandle] = {}
        generate_reply = session.generate_reply

        def recorded(**kwargs: Any) -> SpeechHandle:
            # Every turn that is not a deferred reply starts here (runs and greetings too).
            handle = generate_reply(**kwargs)
            self.handles[handle.id] = handle
            return handle

        session.generate_reply = recorded  # type: ignore[method-assign]
        schedule_reply = session.schedule_reply

        def reply(agent: Agent, *, instructions: str) -> SpeechHandle:
            handle = schedule_reply(agent, instructions=instructions)
            _replies[handle.id] = handle
            return handle

        session.schedule_reply = reply  # type: ignore[method-assign]

    async def apply(self, command: SessionCommand) -> None:
        self.steps += 1
        session = self.session
        if isinstance(command, UserTurn):
            try:
                session.generate_reply(
                    user_input=f"call {TOOL_NAMES[command.tool]}",
                    allow_interruptions=command.interruptible,
                )
            except RuntimeError:
                pass
        elif isinstance(command, UserSays):
            speaking = session.user_state is UserState.SPEAKING
            if command.over_update:
                session.user_started_speaking()  # busy: no deferred reply takes the update
                self._send(command.pick, "update")
                await anyio.wait_all_tasks_blocked()
            try:
                session.generate_reply(user_input="say hi")
            except RuntimeError:
                pass
            if command.over_update and not speaking:
                session.user_stopped_speaking()
        elif isinstance(command, Act):
            self._send(command.pick, command.action)
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

    def _send(self, pick: int, action: str) -> None:
        calls = sorted(self.senders)
        if calls:
            self.senders[calls[pick % len(calls)]].send_nowait(action)

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
        self.trace.heard = {speech_id: h.heard for speech_id, h in self.handles.items()}
        assert not _floor["violations"], _floor["violations"]
        check_call_events(self.trace, final=final)
        check_replies(self.trace, final=final)
        check_ledger(self.trace, final=final)
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
    _replies.clear()
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
        sc = SessionScenario(session, agents)  # before start: it records the greeting's turn
        try:
            async with session:
                await session.start(agents[0])
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
