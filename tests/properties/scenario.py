"""A scenario drives one executor through a FakeHost with commands drawn by hypothesis.

Calls may carry a deadline (issue #16: a hard or idle timeout, from the call), tools may beat
without speaking, and duplicates may join a running call.

Tools block on per-call channels the scenario controls, so hypothesis chooses every
interleaving: when a call updates, returns, raises; when the host is busy; when replies end;
when calls are cancelled; when the owner hands off; when the executor drains or closes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from anyio_tools import (
    CONFIRM_PARAM,
    CallRegistry,
    FunctionCall,
    Instrumentation,
    RunContext,
    RunningCallTools,
    StopResponse,
    ToolError,
    ToolExecutor,
    ToolFlag,
    function_tool,
)
from anyio_tools.testing import FakeAgent, FakeHost, FakeReply, no_task_leaks, tool_task_names

from .invariants import Trace, check_all

MODES = ("allow", "reject", "confirm", "replace", "join")
SCOPES = ("name", "name_and_args")
ACTIONS = ("update", "return", "none", "tool_error", "error", "stop", "commit", "heartbeat")
DEADLINES = (None, "timeout", "idle_timeout")

_channels: dict[str, MemoryObjectReceiveStream[str]] = {}
_committed: set[str] = set()  # calls past their commit point (CAN-11)


async def _body(ctx: RunContext[None], key: int) -> object:
    channel = _channels[ctx.call_id]
    async for action in channel:
        if action == "update":
            await ctx.update(f"progress of {ctx.call_id}")
        elif action == "heartbeat":
            ctx.heartbeat()
        elif action == "return":
            return f"result of {ctx.call_id}"
        elif action == "none":
            return None
        elif action == "tool_error":
            raise ToolError("it failed")
        elif action == "error":
            raise RuntimeError("internal detail")
        elif action == "stop":
            raise StopResponse
        elif action == "commit" and await ctx.commit():
            _committed.add(ctx.call_id)
    await anyio.sleep_forever()
    return None


def _make_tools() -> dict[tuple[str, str, bool], Any]:
    tools = {}
    for mode in MODES:
        for scope in SCOPES:
            for cancellable in (True, False):
                name = f"t_{mode}_{scope}_{'c' if cancellable else 'n'}"
                flags = ToolFlag.CANCELLABLE if cancellable else ToolFlag.NONE
                tools[mode, scope, cancellable] = function_tool(
                    name=name, flags=flags, on_duplicate=mode, duplicate_scope=scope
                )(_body)
    return tools


TOOLS = _make_tools()


@dataclass(frozen=True)
class Start:
    mode: str
    scope: str
    cancellable: bool
    key: int
    confirm: bool
    deadline: str | None = None
    seconds: float = 30.0


@dataclass(frozen=True)
class Act:
    pick: int
    action: str


@dataclass(frozen=True)
class Busy:
    busy: bool


@dataclass(frozen=True)
class EndReply:
    interrupt: bool
    text: bool
    heard: bool = False  # LED-2: interrupted after its text was fully played


@dataclass(frozen=True)
class Cancel:
    pick: int
    via_tool: bool


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Handoff:
    pass


@dataclass(frozen=True)
class Drain:
    pass


Command = Start | Act | Busy | EndReply | Cancel | Sleep | Handoff | Drain


class _CheckedHost(FakeHost):
    """FakeHost that records replies scheduled while busy or to a non-owner (INV-13/14)."""

    def __init__(self, trace: Trace, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._trace = trace

    def generate_reply(self, target: object, *, instructions: str) -> FakeReply:
        if not self.idle:
            self._trace.violations.append("INV-14: reply scheduled while busy")
        if self.owner is not None and target is not self.owner:
            self._trace.violations.append("INV-13: reply to an agent that is not the owner")
        return super().generate_reply(target, instructions=instructions)


class Scenario:
    """One executor, its host and the calls a program made."""

    def __init__(
        self, executor: ToolExecutor, host: _CheckedHost, tg: anyio.abc.TaskGroup, trace: Trace
    ) -> None:
        self.executor = executor
        self.host = host
        self.tg = tg
        self.trace = trace
        self.senders: dict[str, MemoryObjectSendStream[str]] = {}
        self.call_ids: list[str] = []
        self.builtins = RunningCallTools(executor.registry)
        self.steps = 0

    async def apply(self, command: Command) -> None:
        self.steps += 1
        if isinstance(command, Start):
            await self._start(command)
        elif isinstance(command, Act):
            sender = self._pick(command.pick)
            if sender is not None:
                sender.send_nowait(command.action)
        elif isinstance(command, Busy):
            self.host.set_busy(command.busy)
        elif isinstance(command, EndReply):
            pending = [r for r in self.host.replies if not r.done]
            if pending:
                if command.interrupt:
                    pending[0].interrupt(heard=command.heard)
                else:
                    pending[0].finish("said" if command.text else None)
        elif isinstance(command, Cancel):
            await self._cancel(command)
        elif isinstance(command, Sleep):
            await anyio.sleep(command.seconds)
        elif isinstance(command, Handoff):
            self.host.handoff(FakeAgent(f"agent{self.steps}"))
        elif isinstance(command, Drain):
            self.tg.start_soon(self.executor.drain)
        await anyio.wait_all_tasks_blocked()
        self.snapshot()

    def _pick(self, pick: int) -> MemoryObjectSendStream[str] | None:
        if not self.call_ids:
            return None
        return self.senders[self.call_ids[pick % len(self.call_ids)]]

    async def _start(self, command: Start) -> None:
        tool = TOOLS[command.mode, command.scope, command.cancellable]
        call_id = f"c{len(self.call_ids)}"
        arguments: dict[str, Any] = {"key": command.key}
        if command.confirm:
            arguments[CONFIRM_PARAM] = True
        send, receive = anyio.create_memory_object_stream[str](100)
        _channels[call_id] = receive
        self.senders[call_id] = send
        self.call_ids.append(call_id)
        key = (tool.name, None if command.scope == "name" else command.key)
        self.trace.modes[call_id] = (command.mode, key, command.confirm)
        self.trace.results[call_id] = []
        item = FunctionCall(call_id=call_id, name=tool.name, arguments=json.dumps(arguments))

        limits = {} if command.deadline is None else {command.deadline: command.seconds}

        async def dispatch() -> None:
            ctx = RunContext(function_call=item)
            result = await self.executor.execute(tool, ctx, **limits)
            self.trace.results[call_id].append(result)

        self.tg.start_soon(dispatch)

    async def _cancel(self, command: Cancel) -> None:
        if not self.call_ids:
            return
        call_id = self.call_ids[command.pick % len(self.call_ids)]
        if command.via_tool:
            tool = self.builtins.cancel_task
            item = FunctionCall(
                call_id=f"k{self.steps}", name=tool.name, arguments=json.dumps({"call_id": call_id})
            )
            self.trace.results[item.call_id] = []

            async def run_tool() -> None:
                result = await self.executor.execute(tool, RunContext(function_call=item))
                self.trace.results[item.call_id].append(result)

            self.tg.start_soon(run_tool)
            return
        try:
            ok = await self.executor.cancel(call_id)
        except ToolError:
            return
        self.trace.cancel_returns.append((call_id, ok, len(self.host.events)))

    def snapshot(self) -> None:
        self.trace.events = self.host.events
        self.trace.committed = set(_committed)
        self.trace.registry = set(self.executor.registry)
        agents = {id(r.target): r.target for r in self.host.replies}
        agents[id(self.host.current)] = self.host.current
        if self.host.owner is not None:
            agents[id(self.host.owner)] = self.host.owner
        self.trace.chats = [self.host.history, *(a.chat_ctx for a in agents.values())]


@asynccontextmanager
async def scenario(
    *, session_scope: bool, instrumentation: Instrumentation | None = None
) -> AsyncIterator[Scenario]:
    """Open an executor and its host; on exit close everything and check the final state."""
    _channels.clear()
    _committed.clear()
    trace = Trace()
    first = FakeAgent("first")
    host = _CheckedHost(
        trace, agent=first, auto_finish=False, owner=None if session_scope else first
    )
    registry = CallRegistry()
    with no_task_leaks():
        async with anyio.create_task_group() as tg:
            executor = ToolExecutor(
                host,
                registry=registry,
                scope="session" if session_scope else "activity",
                instrumentation=instrumentation,
            )
            async with executor:
                sc = Scenario(executor, host, tg, trace)
                yield sc
                # Teardown: let pending replies end so that closing does not wait for them.
                for reply in host.replies:
                    reply.finish()
            for send in sc.senders.values():
                send.close()
            tg.cancel_scope.cancel()
        for receive in _channels.values():
            receive.close()
    sc.snapshot()
    check_all(trace, final=True)
    assert tool_task_names() == [], "INV-22: a tool task outlived its executor"
