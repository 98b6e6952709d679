"""Benchmarks: anyio_tools against the cheapest thing each backend can do (issue #6).

Run ``python benchmarks/run.py`` (or ``make bench``). Each backend (asyncio, asyncio with
uvloop, trio) runs in a fresh subprocess; each row is measured over repeated rounds and
printed with its median, p90, the median of its baseline measured in the same run, the
ratio, and the target. ``--json`` prints the raw figures instead; ``--quick`` runs smaller; ``--smoke`` runs every
row once at toy sizes and prints JSON (the test suite uses it to check the script runs).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from anyio_tools import (
    ChatContext,
    ChatItem,
    ChatMessage,
    FunctionCall,
    RunContext,
    ToolEvent,
    ToolExecutor,
    ToolFlag,
    function_tool,
)

BACKENDS = ("asyncio", "uvloop", "trio")


# -- a host that costs next to nothing ----------------------------------------------------


class _Reply:
    def __init__(self, n: int) -> None:
        self.id = f"r{n}"
        self.interrupted = False
        self.chat_items: list[ChatItem] = [ChatMessage(role="assistant", content="ok")]

    async def wait_for_playout(self) -> None:
        await anyio.lowlevel.checkpoint()


class NullHost:
    """A `ToolHost` with one agent, a busy switch, instant replies and no event storage."""

    def __init__(self) -> None:
        self.chat = ChatContext()
        self.history = ChatContext()
        self.busy = False
        self.changed = anyio.Event()
        self.replies = 0

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.changed.set()
        self.changed = anyio.Event()

    def eager_target(self) -> object:
        return self.chat

    def insert_items(self, target: object, items: Sequence[ChatItem]) -> None:
        self.chat.insert(items)

    def record_history(self, items: Sequence[ChatItem]) -> None:
        self.history.insert(items)

    def last_item_id(self, target: object) -> str | None:
        last = self.chat.last_item
        return None if last is None else last.id

    async def wait_for_idle(self) -> object:
        while self.busy:
            await self.changed.wait()
        return self.chat

    def generate_reply(self, target: object, *, instructions: str) -> _Reply:
        self.replies += 1
        return _Reply(self.replies)

    def emit(self, event: ToolEvent) -> None:
        pass


# -- tools --------------------------------------------------------------------------------

_gate: dict[str, anyio.Event] = {}


@function_tool
async def echo(x: int) -> int:
    """Return x."""
    return x


@function_tool(flags=ToolFlag.CANCELLABLE)
async def parked(ctx: RunContext[None], x: int) -> None:
    """Update once, then wait for the gate."""
    await ctx.update("started")
    await _gate["open"].wait()


@function_tool(flags=ToolFlag.CANCELLABLE)
async def asleep(ctx: RunContext[None], x: int) -> None:
    """Update once, then sleep until cancelled (as the bare tasks a drain is compared with)."""
    await ctx.update("started")
    await anyio.sleep_forever()


@function_tool
async def pinned(ctx: RunContext[None], x: int) -> None:
    """Update once, then wait for the gate (not cancellable)."""
    await ctx.update("started")
    await _gate["open"].wait()


@function_tool
async def chatty(ctx: RunContext[None], n: int) -> None:
    """Make n + 1 updates in a burst."""
    for _i in range(n + 1):
        await ctx.update("progress", template="{message}")
    done = _gate.get("chatty")
    if done is not None:
        done.set()


@function_tool(on_duplicate="reject", duplicate_scope="name_and_args")
async def keyed(ctx: RunContext[None], x: int) -> None:
    """Update once, then wait for the gate (duplicates of equal arguments are rejected)."""
    await ctx.update("started")
    await _gate["open"].wait()


_ids = iter(range(10**12))


def ctx_for(name: str, arguments: str = '{"x": 1}') -> RunContext[None]:
    call = FunctionCall(call_id=f"c{next(_ids)}", name=name, arguments=arguments)
    return RunContext(function_call=call)


# -- measurements (each returns one figure per round) --------------------------------------


async def _timed(fn: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def baseline_spawn(n: int) -> float:
    """µs per spawn-a-task-that-sets-an-event-and-await-it."""

    async def setter(event: anyio.Event) -> None:
        event.set()

    async with anyio.create_task_group() as tg:

        async def loop() -> None:
            for _ in range(n):
                event = anyio.Event()
                tg.start_soon(setter, event)
                await event.wait()

        return await _timed(loop) / n * 1e6


async def baseline_waiters(n: int) -> tuple[float, float, float, float]:
    """(bytes per waiting task, µs to start n, µs per wake-up, µs to cancel n)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    event = anyio.Event()
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(event.wait)
        await anyio.wait_all_tasks_blocked()
        per_task = (tracemalloc.get_traced_memory()[0] - before) / n
        tracemalloc.stop()
        event.set()
    event = anyio.Event()
    gc.collect()
    async with anyio.create_task_group() as tg:
        start = time.perf_counter()
        for _ in range(n):
            tg.start_soon(event.wait)
        await anyio.wait_all_tasks_blocked()
        started = time.perf_counter() - start
        start = time.perf_counter()
        event.set()
    woke = time.perf_counter() - start
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(anyio.sleep_forever)
        await anyio.wait_all_tasks_blocked()
        gc.collect()
        start = time.perf_counter()
        tg.cancel_scope.cancel()
    cancelled = time.perf_counter() - start
    return per_task, started / n * 1e6, woke / n * 1e6, cancelled * 1e6


async def dispatch_immediate(n: int) -> float:
    """µs per execute() of a one-argument tool that returns at once."""
    async with ToolExecutor(NullHost()) as executor:
        contexts = [ctx_for("echo") for _ in range(n)]

        async def loop() -> None:
            for ctx in contexts:
                await executor.execute(echo, ctx)

        return await _timed(loop) / n * 1e6


async def dispatch_first_update(n: int) -> float:
    """µs until execute() returns for a tool that updates once and keeps running."""
    _gate["open"] = anyio.Event()
    async with ToolExecutor(NullHost()) as executor:
        contexts = [ctx_for("parked") for _ in range(n)]

        async def loop() -> None:
            for ctx in contexts:
                await executor.execute(parked, ctx)

        elapsed = await _timed(loop)
        _gate["open"].set()
    return elapsed / n * 1e6


async def update_cost(history: int, n: int) -> float:
    """µs per later update in a burst, with ``history`` items already in the chat."""
    host = NullHost()
    host.set_busy(True)
    host.chat.insert([ChatMessage(role="user", content=str(i)) for i in range(history)])
    host.history.insert([ChatMessage(role="user", content=str(i)) for i in range(history)])
    # The pre-filled history is old, long-lived data: freeze it out of the cyclic GC so that
    # the row measures update() itself, not collections walking 20,000 unrelated objects.
    gc.collect()
    gc.freeze()
    _gate["chatty"] = anyio.Event()
    async with ToolExecutor(host) as executor:
        start = time.perf_counter()
        await executor.execute(chatty, ctx_for("chatty", f'{{"n": {n}}}'))
        await _gate["chatty"].wait()
        elapsed = time.perf_counter() - start
        await executor.aclose()
    gc.unfreeze()
    return elapsed / n * 1e6


async def _start_parked(
    n: int, *, concurrent: bool, measure_memory: bool
) -> tuple[float, float, float]:
    """(µs to start n calls that update once and wait, bytes per call, µs to drain them).

    The calls wait on one shared event, as the bare tasks of `baseline_started` do; the drain
    figure printed is `drain_in_flight`'s, whose calls wait as the bare tasks it is compared
    with (each in ``sleep_forever``).

    Sequential: one task calls ``execute()`` n times (each returns at the call's first
    update). Concurrent: n dispatcher tasks call it once each.
    """
    _gate["open"] = anyio.Event()
    contexts = [ctx_for("parked") for _ in range(n)]
    released = anyio.Event()
    count = 0

    async def dispatch(executor: ToolExecutor, ctx: RunContext[None]) -> None:
        nonlocal count
        await executor.execute(parked, ctx)
        count += 1
        if count == n:
            released.set()

    gc.collect()
    if measure_memory:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    async with ToolExecutor(NullHost()) as executor:
        start = time.perf_counter()
        if concurrent:
            async with anyio.create_task_group() as tg:
                for ctx in contexts:
                    tg.start_soon(dispatch, executor, ctx)
                await released.wait()
        else:
            for ctx in contexts:
                await executor.execute(parked, ctx)
        started = time.perf_counter() - start
        await anyio.wait_all_tasks_blocked()
        per_call = (tracemalloc.get_traced_memory()[0] - before) / n
        if measure_memory:
            tracemalloc.stop()
        gc.collect()
        start = time.perf_counter()
        await executor.drain()
        drained = time.perf_counter() - start
    return started * 1e6, per_call, drained * 1e6


async def drain_in_flight(n: int) -> float:
    """µs to drain n cancellable calls that updated once and sleep until cancelled (row 4).

    They wait as the bare tasks of `baseline_waiters`' cancel figure do: each in
    ``anyio.sleep_forever()``. (Calls waiting on one shared asyncio event would add the
    event's own cost: each cancelled waiter removes itself from the event's deque, a linear
    search unless the waiters are cancelled in the order they started waiting.)
    """
    contexts = [ctx_for("asleep") for _ in range(n)]
    async with ToolExecutor(NullHost()) as executor:
        for ctx in contexts:
            await executor.execute(asleep, ctx)
        await anyio.wait_all_tasks_blocked()
        gc.collect()
        start = time.perf_counter()
        await executor.drain()
        drained = time.perf_counter() - start
    return drained * 1e6


async def baseline_started(n: int) -> float:
    """µs to start n bare tasks the way calls are started: spawn each one and await the event
    it sets once running (row 1), leaving it waiting on a shared event."""
    gate = anyio.Event()

    async def waiter(running: anyio.Event) -> None:
        running.set()
        await gate.wait()

    gc.collect()
    async with anyio.create_task_group() as tg:
        start = time.perf_counter()
        for _ in range(n):
            running = anyio.Event()
            tg.start_soon(waiter, running)
            await running.wait()
        elapsed = time.perf_counter() - start
        gate.set()
    return elapsed * 1e6


async def in_flight(n: int, *, memory: bool) -> tuple[float, float, float, float]:
    """(µs to start n first-update calls from one task, from n dispatcher tasks, bytes per
    in-flight call (if *memory*, in a third, traced run), µs to drain)."""
    started, _, _ = await _start_parked(n, concurrent=False, measure_memory=False)
    concurrent, _, _ = await _start_parked(n, concurrent=True, measure_memory=False)
    drained = await drain_in_flight(n)
    per_call = math.nan
    if memory:
        _, per_call, _ = await _start_parked(n, concurrent=False, measure_memory=True)
    return started, concurrent, per_call, drained


async def coalescing(calls: int, updates: int) -> tuple[float, int]:
    """(updates per second in one busy period, replies generated once idle)."""
    host = NullHost()
    host.set_busy(True)
    async with ToolExecutor(host) as executor:
        start = time.perf_counter()
        for _ in range(calls):
            _gate["chatty"] = anyio.Event()
            await executor.execute(chatty, ctx_for("chatty", f'{{"n": {updates}}}'))
            await _gate["chatty"].wait()
        elapsed = time.perf_counter() - start
        host.set_busy(False)
        while executor.pending_updates:
            await anyio.lowlevel.checkpoint()
        await anyio.wait_all_tasks_blocked()
        replies = host.replies
    return calls * updates / elapsed, replies


async def admit_keyed(n: int) -> float:
    """µs per admitted call of a tool with a duplicate policy, n distinct calls kept running
    (each is checked against every running one's key: the cost must not grow with n)."""
    _gate["open"] = anyio.Event()
    contexts = [ctx_for("keyed", f'{{"x": {i}}}') for i in range(n)]
    gc.collect()
    async with ToolExecutor(NullHost()) as executor:

        async def loop() -> None:
            for ctx in contexts:
                await executor.execute(keyed, ctx)

        elapsed = await _timed(loop)
        _gate["open"].set()
    return elapsed / n * 1e6


async def bare_waiting(n: int) -> float:
    """µs per bare anyio task started and left waiting, n of them in flight: what the event
    loop and Python's cyclic garbage collector cost at that scale, without anyio_tools."""
    gate = anyio.Event()

    async def waiter(started: anyio.Event) -> None:
        started.set()
        await gate.wait()

    gc.collect()
    async with anyio.create_task_group() as tg:

        async def loop() -> None:
            for _ in range(n):
                started = anyio.Event()
                tg.start_soon(waiter, started)
                await started.wait()

        elapsed = await _timed(loop)
        gate.set()
    return elapsed / n * 1e6


async def one_call_updates(n: int) -> float:
    """µs per update for one call making n updates with an instant host (never busy), until
    every update is settled (voiced by a reply): the cost per update must not grow with n."""
    host = NullHost()
    _gate["chatty"] = anyio.Event()
    gc.collect()
    async with ToolExecutor(host) as executor:
        start = time.perf_counter()
        await executor.execute(chatty, ctx_for("chatty", f'{{"n": {n}}}'))
        await _gate["chatty"].wait()
        while executor.pending_updates:
            await anyio.lowlevel.checkpoint()
        elapsed = time.perf_counter() - start
    return elapsed / n * 1e6


async def handoff(per_scope: int) -> tuple[float, float]:
    """(µs from update_agent to the new on_enter, µs to cancel as many bare tasks)."""
    from anyio_tools.runtime import Agent, AgentSession, AsyncToolset, ScriptedLLM

    _gate["open"] = anyio.Event()
    entered = anyio.Event()

    class Next(Agent):
        async def on_enter(self) -> None:
            entered.set()

    @function_tool
    async def session_parked(ctx: RunContext[None], x: int) -> None:
        """Session-scoped call that waits."""
        await ctx.update("started")
        await _gate["session"].wait()

    _gate["session"] = anyio.Event()
    session: AgentSession[None] = AgentSession(
        llm=ScriptedLLM({}), tools=[AsyncToolset(id="s", tools=[session_parked])]
    )
    first = Agent(instructions="a", tools=[parked, pinned])
    async with session:
        await session.start(first)
        activity = session._activity
        assert activity is not None
        default = activity.executors[0]
        session_executor = session._session_executors[0]
        for i in range(per_scope):
            tool = parked if i % 2 else pinned
            ctx = RunContext(
                function_call=FunctionCall(
                    call_id=f"a{next(_ids)}", name=tool.name, arguments='{"x": 1}'
                ),
                session=session,  # type: ignore[arg-type]
            )
            await default.execute(tool, ctx)
            await session_executor.execute(session_parked, ctx_for("session_parked"))
        start = time.perf_counter()
        session.update_agent(Next(instructions="b"))
        _gate["open"].set()  # the non-cancellable half finishes as soon as it may
        await entered.wait()
        elapsed = time.perf_counter() - start
        _gate["session"].set()
    _, _, _, cancel_bare = await baseline_waiters(2 * per_scope)
    return elapsed * 1e6, cancel_bare


async def _sessions(n: int, *, traced: bool) -> tuple[float, float, float]:
    """(seconds for n open sessions to run one tool turn each, seconds from opening the
    first to closing the last, bytes per open session if *traced*)."""
    from anyio_tools.runtime import (
        Agent,
        AgentSession,
        LLMRequest,
        ScriptedCall,
        ScriptedLLM,
        ScriptedResponse,
    )

    def script(request: LLMRequest) -> ScriptedResponse | str:
        if request.tool_outputs:
            return "done"
        return ScriptedResponse("", calls=[ScriptedCall("echo", {"x": 1})])

    ready = anyio.Event()
    opened = 0
    done = anyio.Event()
    finished = 0
    marks = {"peak": 0.0, "open": 0.0, "done": 0.0}

    async def one() -> None:
        nonlocal opened, finished
        session: AgentSession[None] = AgentSession(llm=ScriptedLLM(script))
        async with session:
            await session.start(Agent(instructions="x", tools=[echo]))
            opened += 1
            if opened == n:
                if traced:
                    marks["peak"] = tracemalloc.get_traced_memory()[0]
                else:
                    # Like every timed section here: it starts after a full collection, so
                    # that the collector's debt from opening n sessions is not charged to
                    # their turns (the turns' own garbage still is).
                    gc.collect()
                marks["open"] = time.perf_counter()
                ready.set()
            await ready.wait()
            await session.run(user_input="go")
            finished += 1
            if finished == n:
                marks["done"] = time.perf_counter()
                done.set()
            await done.wait()

    gc.collect()
    if traced:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
    elapsed = time.perf_counter() - start
    if traced:
        tracemalloc.stop()
    return marks["done"] - marks["open"], elapsed, (marks["peak"] - before) / n


async def many_sessions(n: int, *, memory: bool = True) -> tuple[float, float, float]:
    """(turns per second while n sessions are open, each running one tool turn at once;
    sessions per second opened, run for one turn and closed; bytes per open session).

    The timed run is not traced (``tracemalloc`` slows allocation several times over; until
    issue #19 this row timed a traced run); the bytes come from a second, traced run.
    """
    turns, whole, _ = await _sessions(n, traced=False)
    per_session = math.nan
    if memory:
        _, _, per_session = await _sessions(n, traced=True)
    return n / turns, n / whole, per_session


async def gc_pause(n: int) -> tuple[float, float, float]:
    """(ms of one full ``gc.collect()`` with n calls in flight, the same with n bare tasks
    waiting, the same with neither): the cyclic garbage collector walks every object a call
    keeps (row 16). The first two less the third are what the calls and the tasks cost it;
    the third is what the process holds anyway (this script's earlier rows included)."""
    idle = _collect_ms()
    _gate["open"] = anyio.Event()
    async with ToolExecutor(NullHost()) as executor:
        for _ in range(n):
            await executor.execute(parked, ctx_for("parked"))
        await anyio.wait_all_tasks_blocked()
        calls = _collect_ms()
        _gate["open"].set()
    gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(gate.wait)
        await anyio.wait_all_tasks_blocked()
        bare = _collect_ms()
        gate.set()
    return calls, bare, idle


def _collect_ms() -> float:
    gc.collect()  # what is already garbage goes first
    times = []
    for _ in range(3):
        start = time.perf_counter()
        gc.collect()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


# -- the worker (one backend) --------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p90": p90}


@dataclass(frozen=True)
class Sizes:
    """How much work one round does."""

    ops: int  # sequential operations per per-operation figure
    histories: tuple[int, int, int]  # chat lengths an update is priced at
    in_flight: tuple[int, int]  # concurrent parked calls; memory is traced at the first
    busy_calls: int  # calls updating during row 6's busy period
    handoff: int  # activity-scoped and session-scoped calls in row 5, each
    sessions: int  # concurrent sessions in row 7
    gc_in_flight: int  # calls and bare tasks in flight in row 16
    scaling: tuple[int, int]  # rows 8 and 9: the small and the large count


PRESETS: dict[str, Sizes] = {
    "standard": Sizes(
        2000, (10, 1000, 10000), (1000, 10000), 100, 1000, 1000, 50_000, (1000, 20000)
    ),
    # Rows 7 and 16 at half and a tenth of their size (their targets are set at 1,000
    # sessions and 50,000 calls): --quick stays quick.
    "quick": Sizes(500, (10, 1000, 10000), (1000, 2000), 100, 500, 500, 5_000, (1000, 20000)),
    # Every row once at toy sizes: checks that the suite runs, measures nothing.
    "smoke": Sizes(20, (10, 100, 1000), (50, 200), 10, 20, 10, 200, (20, 200)),
}


async def _worker(rounds: int, preset: str) -> dict[str, Any]:
    sizes = PRESETS[preset]
    n = sizes.ops
    small, big = sizes.in_flight
    rows: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        rows.setdefault(key, []).append(value)

    for _ in range(rounds):
        add("baseline.spawn_await_us", await baseline_spawn(n))
        per_task, _start_us, wake_us, _ = await baseline_waiters(n)
        add("baseline.bytes_per_task", per_task)
        add("baseline.wake_us", wake_us)
        add("dispatch.immediate_us", await dispatch_immediate(n))
        add("dispatch.first_update_us", await dispatch_first_update(n))
        # Row 3 against bare tasks that keep running too (row 4's protocol, at row 3's count):
        # a call that answered and goes on keeps objects alive, which the cyclic GC walks.
        add("baseline.started_us", await baseline_started(n) / n)
        for size in sizes.histories:
            add(f"update.history_{size}_us", await update_cost(size, n))
        for count in (small, big):
            started, concurrent, per_call, drained = await in_flight(count, memory=count == small)
            add(f"inflight.{count}.start_us", started)
            add(f"inflight.{count}.start_concurrent_us", concurrent)
            if count == small:
                add(f"inflight.{count}.bytes_per_call", per_call)
            add(f"inflight.{count}.drain_us", drained)
            add(f"baseline.{count}.start_us", await baseline_started(count))
            _, start_bare, _, cancel_bare = await baseline_waiters(count)
            add(f"baseline.{count}.start_soon_us", start_bare * count)
            add(f"baseline.{count}.cancel_us", cancel_bare)
        per_second, replies = await coalescing(sizes.busy_calls, big // sizes.busy_calls)
        add("coalescing.updates_per_s", per_second)
        add("coalescing.replies", replies)
        handoff_us, cancel_bare = await handoff(sizes.handoff)
        add("handoff.us", handoff_us)
        add("baseline.handoff_cancel_us", cancel_bare)
        turns, whole, per_session = await many_sessions(sizes.sessions)
        add("sessions.turns_per_s", turns)
        add("sessions.whole_per_s", whole)
        add("sessions.bytes_per_session", per_session)
        calls_ms, bare_ms, idle_ms = await gc_pause(sizes.gc_in_flight)
        add("gc.whole_ms", calls_ms)  # row 16 (#19)
        # At toy sizes (--smoke) the difference is within noise: floored at 1 µs.
        add("gc.in_flight_ms", max(calls_ms - idle_ms, 1e-3))
        add("baseline.gc_bare_ms", max(bare_ms - idle_ms, 1e-3))
        for label, count in zip(("small", "large"), sizes.scaling, strict=True):
            add(f"admit_keyed.{label}_us", await admit_keyed(count))
            add(f"bare_waiting.{label}_us", await bare_waiting(count))
            add(f"one_call_updates.{label}_us", await one_call_updates(2 * count))
        ledger_rows(add, n)  # row 15 (#15)
        await deadline_rows(n, add)  # row 13 (#16)
    return {key: _stats(values) for key, values in rows.items()}


async def _integration_worker(rounds: int, preset: str) -> dict[str, Any]:
    # Rows 10, 11 and 14 import the MCP SDK (with its HTTP stack), the provider adapters and
    # the OpenTelemetry SDK: about 57,000 objects more for the cyclic GC to walk at each full
    # collection. They run in a process of their own, so the other rows are measured in a
    # heap that holds only anyio_tools and the backend (see README, "Two worker processes").
    import mcp_rows  # row 10: MCP calls (issue #14); this script's folder is on sys.path

    n = PRESETS[preset].ops
    rows: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        rows.setdefault(key, []).append(value)

    for _ in range(rounds):
        for key, value in (await mcp_rows.measure(*mcp_rows.CALLS[preset])).items():
            add(key, value)  # row 10 (#14), kept in its own module
        conversion_rows(add)  # row 11 (#13)
        await otel_rows(add, n)  # row 14 (#17)
    return {key: _stats(values) for key, values in rows.items()}


def _run_worker(backend: str, rounds: int, preset: str, part: str) -> dict[str, Any]:
    if backend == "uvloop":
        import uvloop

        options: dict[str, Any] = {"loop_factory": uvloop.new_event_loop}
        name = "asyncio"
    else:
        options, name = {}, backend
    worker = _integration_worker if part == "integrations" else _worker
    return anyio.run(worker, rounds, preset, backend=name, backend_options=options)


# -- the report -------------------------------------------------------------------------

# (label, metric key, baseline key or None, target text, check(ratio or value) -> bool)
_ROWS: list[tuple[str, str, str | None, str, Callable[[float], bool] | None]] = [
    ("1 spawn+await (baseline)", "baseline.spawn_await_us", None, "", None),
    ("1 bytes per waiting task", "baseline.bytes_per_task", None, "", None),
    ("1 wake-up per task (µs)", "baseline.wake_us", None, "", None),
    (
        "2 immediate dispatch (µs)",
        "dispatch.immediate_us",
        "baseline.spawn_await_us",
        "<= 1.5x",  # issue #19 (was 2.0x)
        lambda r: r <= 1.5,
    ),
    (
        "3 first-update dispatch (µs)",
        "dispatch.first_update_us",
        "baseline.spawn_await_us",
        "<= 2.0x",  # issue #19 (was 2.5x)
        lambda r: r <= 2.0,
    ),
    (
        "3 same, vs bare tasks left running",
        "dispatch.first_update_us",
        "baseline.started_us",
        "",
        None,
    ),
    ("3 update, 10 items (µs)", "update.history_10_us", None, "<= 6 µs", None),
    ("3 update, 1,000 items (µs)", "update.history_1000_us", "update.history_10_us", "", None),
    (
        "3 update, 10,000 items (µs)",
        "update.history_10000_us",
        "update.history_10_us",
        "<= 1.2x",
        lambda r: r <= 1.2,
    ),
    ("4 start 1,000 in flight (µs)", "inflight.1000.start_us", "baseline.1000.start_us", "", None),
    (
        "4 bytes per in-flight call",
        "inflight.1000.bytes_per_call",
        "baseline.bytes_per_task",
        "<= +1 KiB",  # issue #19 (was 2 KiB)
        None,
    ),
    ("4 drain 1,000 (µs)", "inflight.1000.drain_us", "baseline.1000.cancel_us", "", None),
    (
        "4 start 10,000 in flight (µs)",
        "inflight.{big}.start_us",
        "baseline.{big}.start_us",
        "<= 2.0x",
        lambda r: r <= 2.0,
    ),
    (
        "4 same, 10,000 dispatcher tasks",
        "inflight.{big}.start_concurrent_us",
        "baseline.{big}.start_soon_us",
        "",
        None,
    ),
    (
        "4 drain 10,000 (µs)",
        "inflight.{big}.drain_us",
        "baseline.{big}.cancel_us",
        "<= 1.2x",
        lambda r: r <= 1.2,
    ),
    (
        "5 handoff, 2,000 in flight (µs)",
        "handoff.us",
        "baseline.handoff_cancel_us",
        "<= 1.2x + work",
        lambda r: r <= 1.2,
    ),
    ("6 updates per second", "coalescing.updates_per_s", None, "", None),
    ("6 replies for one busy period", "coalescing.replies", None, "== 1", None),
    ("7 turns per second, {sessions} open", "sessions.turns_per_s", None, ">= 3,000/s", None),
    ("7 sessions opened, one turn, closed /s", "sessions.whole_per_s", None, "", None),
    ("7 bytes per open session", "sessions.bytes_per_session", None, "<= 32 KB", None),
    ("16 gc.collect(), {gc} in flight (ms)", "gc.whole_ms", None, "", None),
    (
        "16 of which the calls (ms)",
        "gc.in_flight_ms",
        "baseline.gc_bare_ms",
        "<= 2.0x",
        lambda r: r <= 2.0,
    ),
    ("8 bare waiting task, {small} (µs)", "bare_waiting.small_us", None, "", None),
    (
        "8 bare waiting task, {large} (µs)",
        "bare_waiting.large_us",
        "bare_waiting.small_us",
        "",
        None,
    ),
    ("8 admit keyed call, {small} (µs)", "admit_keyed.small_us", None, "", None),
    (
        "8 admit keyed call, {large} (µs)",
        "admit_keyed.large_us",
        "admit_keyed.small_us",
        "<= 1.5x bare",
        None,
    ),
    ("9 update of one call, {small2} (µs)", "one_call_updates.small_us", None, "", None),
    (
        "9 update of one call, {large2} (µs)",
        "one_call_updates.large_us",
        "one_call_updates.small_us",
        "<= 1.5x",
        lambda r: r <= 1.5,
    ),
]


# -- row 11: converting a history for a provider (issue #13) ------------------------------
# Kept apart from the rows above (its imports too) so it merges and reads on its own.

CONVERSION_SIZES = (10, 1_000, 10_000)
CONVERTERS = ("chat", "responses", "anthropic")


def _conversion_request(items: int) -> Any:
    """A request whose history has ``items`` items, cycling through what sessions record:
    a user message, a step's call and text and answer, an update pair, a final pair."""
    from anyio_tools import FunctionCall, FunctionCallOutput
    from anyio_tools._chat import ChatContext, ChatMessage
    from anyio_tools.runtime import LLMRequest

    made: list[Any] = []
    turn = 0
    while len(made) < items:
        turn += 1
        call_id = f"call_{turn}"
        made += [
            ChatMessage(role="user", content=f"book flight {turn}"),
            FunctionCall(call_id=call_id, name="echo", arguments='{"x": 1}'),
            ChatMessage(role="assistant", content="Sure, looking."),
            FunctionCallOutput(call_id=call_id, name="echo", output="looking"),
            FunctionCall(call_id=f"{call_id}_update_1", name="echo", arguments='{"x": 1}'),
            FunctionCallOutput(call_id=f"{call_id}_update_1", name="echo", output="found"),
            ChatMessage(role="assistant", content="Found three."),
            FunctionCall(call_id=f"{call_id}_final", name="echo", arguments='{"x": 1}'),
            FunctionCallOutput(call_id=f"{call_id}_final", name="echo", output="booked"),
            ChatMessage(role="assistant", content="Booked."),
        ]
    return LLMRequest(
        chat_ctx=ChatContext(made[:items]),
        tools=[echo],
        tool_choice="auto",
        instructions="You book flights.",
    )


def conversion_rows(add: Callable[[str, float], None]) -> None:
    """Row 11: µs to build one provider request from 10, 1,000 and 10,000 history items."""
    from anyio_tools.anthropic import anthropic_request
    from anyio_tools.openai import chat_request, responses_request

    convert = {"chat": chat_request, "responses": responses_request, "anthropic": anthropic_request}
    for size in CONVERSION_SIZES:
        request = _conversion_request(size)
        repeats = max(3, 30_000 // size)
        # The cyclic GC is paused while timing: how often it runs, and what it walks, depends
        # on everything alive in the process (here a 10,000-item history and the requests
        # just built), which made this row noisy by 2x; the row prices the conversion itself.
        gc.collect()
        gc.disable()
        try:
            for name in CONVERTERS:
                start = time.perf_counter()
                for _ in range(repeats):
                    convert[name](request)
                elapsed = time.perf_counter() - start
                add(f"convert.{name}.history_{size}_us", elapsed / repeats * 1e6)
                gc.collect()
        finally:
            gc.enable()


_CONVERSION_ROWS: list[tuple[str, str, str | None, str, Callable[[float], bool] | None]] = [
    row
    for name in CONVERTERS
    for row in (
        (f"11 {name} request, 10 items (µs)", f"convert.{name}.history_10_us", None, "", None),
        (
            f"11 {name} request, 10,000 items (µs)",
            f"convert.{name}.history_10000_us",
            f"convert.{name}.history_1000_us",
            # 10 times the items. The walk is linear; measured per item it costs 1.3 µs at
            # 1,000 items, 2.0 at 10,000 and 2.2 at 100,000 (memory caches, GC paused), so
            # the bound allows 2x per item and would catch anything quadratic (100x).
            "<= 20x",
            lambda r: r <= 20.0,
        ),
    )
]
_ROWS += _CONVERSION_ROWS


LEDGER_BATCH = 50  # items settled per reply in the ledger row


def ledger_rows(add: Callable[[str, float], None], n: int) -> None:
    """Row 15 (issue #15): µs of delivery-ledger bookkeeping per update.

    What the ledger adds to one deferred update: its record (made when the update is
    queued, appended to its call's ledger) and its outcome (set when the reply that voiced
    it completed, one `DeliverySettled` per reply of `LEDGER_BATCH` updates). The chat items
    are made beforehand: they exist without the ledger too.
    """
    from anyio_tools import (
        DeliveryOutcome,
        DropReason,
        FunctionCall,
        FunctionCallOutput,
        ToolOptions,
    )
    from anyio_tools._deliverer import Deliverer
    from anyio_tools._ledger import CallLedger, Owed

    host = NullHost()
    deliverer = Deliverer(
        host, ToolOptions.resolve(), closed_reason=DropReason.ACTIVITY_CLOSED, close_timeout=1
    )
    count = max(LEDGER_BATCH, n - n % LEDGER_BATCH)
    pairs = [
        (
            FunctionCall(call_id=f"c_update_{i}", name="echo"),
            FunctionCallOutput(call_id=f"c_update_{i}", name="echo", output="x"),
        )
        for i in range(count)
    ]
    ledger = CallLedger()
    target = host.eager_target()
    gc.collect()
    gc.disable()  # as in row 11: price the bookkeeping, not collections of unrelated objects
    try:
        start = time.perf_counter()
        for first in range(0, count, LEDGER_BATCH):
            batch = [Owed(c, o, target, ledger) for c, o in pairs[first : first + LEDGER_BATCH]]
            deliverer._record(batch, DeliveryOutcome.DELIVERED, None)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    add("ledger.per_update_us", elapsed / count * 1e6)


_ROWS.append(("15 ledger per update (µs)", "ledger.per_update_us", None, "<= 1 µs", None))


# -- row 13: a tool with a deadline vs without (issue #16) -------------------------------
# Kept apart from the rows above so it merges and reads on its own.


async def _reporting(ctx: RunContext[None], x: int) -> int:
    """Report progress three times, then return x."""
    for step in ("searching", "comparing", "booking"):
        await ctx.update(step)
    return x


reporting = function_tool(name="reporting")(_reporting)
reporting_deadline = function_tool(name="reporting_deadline", timeout=60, idle_timeout=30)(
    _reporting
)


async def deadline_rows(n: int, add: Callable[[str, float], None]) -> None:
    """Row 13: µs per call, start to end, of a tool that reports progress three times and
    returns, with deadlines (hard and idle: each update moves the idle one) and without.

    Both run in the same executor, alternating in short blocks of 10 calls; each figure is
    its fastest block, so load from other processes (which only ever slows a block down)
    hits neither.
    """
    pairs = ((reporting, "deadline.without_us"), (reporting_deadline, "deadline.with_us"))
    per_block = 10
    best = {key: math.inf for _, key in pairs}
    async with ToolExecutor(NullHost()) as executor:

        async def one(tool: Any, ctx: RunContext[None]) -> None:
            handle = await executor.start(tool, ctx)
            await handle.result()

        for tool, _key in pairs:
            await one(tool, ctx_for(tool.name))  # warm-up
        for _ in range(max(20, n // 5)):
            for tool, key in pairs:
                contexts = [ctx_for(tool.name) for _ in range(per_block)]

                async def loop(tool: Any = tool, contexts: list[Any] = contexts) -> None:
                    for ctx in contexts:
                        await one(tool, ctx)

                best[key] = min(best[key], await _timed(loop) / per_block * 1e6)
    for key, value in best.items():
        add(key, value)


_DEADLINE_ROWS: list[tuple[str, str, str | None, str, Callable[[float], bool] | None]] = [
    (
        "13 call with a deadline (µs)",
        "deadline.with_us",
        "deadline.without_us",
        "<= 1.1x",
        lambda r: r <= 1.1,
    ),
]
_ROWS += _DEADLINE_ROWS


# -- row 14: OpenTelemetry overhead (issue #17) -------------------------------------------
# Kept apart from the rows above (its imports too) so it merges and reads on its own.


async def _otel_dispatch(n: int, instrumentation: Any) -> float:
    """µs per execute() of ``echo``; None: the executor's default instrumentation."""
    async with ToolExecutor(NullHost(), instrumentation=instrumentation) as executor:
        contexts = [ctx_for("echo") for _ in range(n)]

        async def loop() -> None:
            for ctx in contexts:
                await executor.execute(echo, ctx)

        return await _timed(loop) / n * 1e6


async def _otel_update(n: int, instrumentation: Any) -> float:
    """µs per later update in a burst (10 items in the chat), as row 3 measures it."""
    host = NullHost()
    host.set_busy(True)
    _gate["chatty"] = anyio.Event()
    async with ToolExecutor(host, instrumentation=instrumentation) as executor:
        start = time.perf_counter()
        await executor.execute(chatty, ctx_for("chatty", f'{{"n": {n}}}'))
        await _gate["chatty"].wait()
        elapsed = time.perf_counter() - start
        await executor.aclose()
    return elapsed / n * 1e6


async def otel_rows(add: Callable[[str, float], None], n: int) -> None:
    """Row 14: dispatch and update without OpenTelemetry, with the API installed and
    `anyio_tools.otel.instrument()` called but no SDK configured, and with an SDK exporting
    to memory. The first two alternate three times and keep each one's best figure, so the
    ratio compares like with like on a shared machine."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from anyio_tools.otel import OpenTelemetry, instrument, uninstrument

    best: dict[str, float] = {}
    for _ in range(3):
        for label, install in (("off", False), ("nosdk", True)):
            if install:
                assert instrument() is None, "no SDK is configured in this process"
            try:
                for row, measure in (("dispatch", _otel_dispatch), ("update", _otel_update)):
                    gc.collect()
                    figure = await measure(n, None)
                    key = f"otel.{label}.{row}_us"
                    best[key] = min(best.get(key, math.inf), figure)
            finally:
                uninstrument()
    for key, figure in best.items():
        add(key, figure)
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    telemetry = OpenTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        gc.collect()
        add("otel.sdk.dispatch_us", await _otel_dispatch(n, telemetry))
        exporter.clear()
        gc.collect()
        add("otel.sdk.update_us", await _otel_update(n, telemetry))
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


_OTEL_ROWS: list[tuple[str, str, str | None, str, Callable[[float], bool] | None]] = [
    ("14 dispatch, no OTel (µs)", "otel.off.dispatch_us", None, "", None),
    (
        "14 dispatch, OTel API no SDK (µs)",
        "otel.nosdk.dispatch_us",
        "otel.off.dispatch_us",
        "<= 1.05x",
        lambda r: r <= 1.05,
    ),
    ("14 dispatch, SDK to memory (µs)", "otel.sdk.dispatch_us", "otel.off.dispatch_us", "", None),
    ("14 update, no OTel (µs)", "otel.off.update_us", None, "", None),
    (
        "14 update, OTel API no SDK (µs)",
        "otel.nosdk.update_us",
        "otel.off.update_us",
        "<= 1.05x",
        lambda r: r <= 1.05,
    ),
    ("14 update, SDK to memory (µs)", "otel.sdk.update_us", "otel.off.update_us", "", None),
]
_ROWS += _OTEL_ROWS


def _table(backend: str, figures: dict[str, Any], quick: bool, sizes: Sizes) -> str:
    big = "2000" if quick else "10000"
    small_n, large_n = sizes.scaling
    counts = {
        "sessions": f"{sizes.sessions:,}",
        "gc": f"{sizes.gc_in_flight:,}",
        "small": f"{small_n:,}",
        "large": f"{large_n:,}",
        "small2": f"{2 * small_n:,}",
        "large2": f"{2 * large_n:,}",
    }
    lines = [
        f"\n{backend}",
        f"{'row':<36} {'median':>12} {'p90':>12} {'baseline':>12} {'ratio':>7}  target      verdict",
    ]
    import mcp_rows  # the parent process only prints: importing the SDK costs no figure

    for label, key, base_key, target, check in [*_ROWS, *mcp_rows.ROWS]:
        label = label.format(**counts)
        key = key.format(big=big)
        base_key = base_key.format(big=big) if base_key else None
        if key not in figures:
            continue
        median, p90 = figures[key]["median"], figures[key]["p90"]
        base = figures[base_key]["median"] if base_key else None
        ratio = median / base if base else None
        verdict = ""
        if key == "inflight.1000.bytes_per_call" and base is not None:
            verdict = "meets" if median <= base + 1024 else "MISSES"
        elif key == "coalescing.replies":
            verdict = "meets" if median == 1 else "MISSES"
        elif key == "sessions.turns_per_s":  # issue #19 item 5: absolute targets
            verdict = "meets" if median >= 3000 else "MISSES"
        elif key == "sessions.bytes_per_session":
            verdict = "meets" if median <= 32 * 1024 else "MISSES"
        elif key == "update.history_10_us" and backend != "trio":
            verdict = "meets" if median <= 6 else "MISSES (<= 6 µs)"
        elif key == "ledger.per_update_us" and backend != "trio":
            verdict = "meets" if median <= 1 else "MISSES (<= 1 µs)"
        elif key == "admit_keyed.large_us" and ratio is not None:
            # Growth with n, against the growth of bare anyio tasks at the same sizes: the
            # event loop and the garbage collector grow alike for both (benchmarks/README.md).
            bare = (
                figures["bare_waiting.large_us"]["median"]
                / (figures["bare_waiting.small_us"]["median"])
            )
            verdict = ("meets" if ratio <= 1.5 * bare else "MISSES") + f" (bare {bare:.2f}x)"
        elif check is not None and ratio is not None:
            verdict = "meets" if check(ratio) else "MISSES"
        lines.append(
            f"{label:<36} {median:>12.1f} {p90:>12.1f} "
            f"{'' if base is None else f'{base:.1f}':>12} "
            f"{'' if ratio is None else f'{ratio:.2f}':>7}  {target:<11} {verdict}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print tables (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print machine-readable figures")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer rounds")
    parser.add_argument(
        "--smoke", action="store_true", help="every row once at toy sizes (checks it runs)"
    )
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--part", default="core", help=argparse.SUPPRESS)
    parser.add_argument("--preset", default="standard", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    preset = "smoke" if args.smoke else "quick" if args.quick else args.preset
    rounds = args.rounds or {"standard": 5, "quick": 2, "smoke": 1}[preset]
    if args.worker:
        print(json.dumps(_run_worker(args.worker, rounds, preset, args.part)))
        return 0
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "nproc": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "rounds": rounds,
        "quick": preset == "quick",
        "preset": preset,
        "sizes": dataclasses.asdict(PRESETS[preset]),
        "backends": {},
    }
    for backend in args.backends.split(","):
        figures: dict[str, Any] = {}
        for part in ("core", "integrations"):
            command = [sys.executable, __file__, "--worker", backend, "--rounds", str(rounds)]
            command += ["--preset", preset, "--part", part]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            figures.update(json.loads(output))
        results["backends"][backend] = figures
    if args.json or preset == "smoke":
        print(json.dumps(results, indent=2))
        return 0
    print(
        f"anyio_tools benchmarks: Python {results['python']}, {results['nproc']} cores, "
        f"{results['date']}, {rounds} rounds{' (quick)' if args.quick else ''}"
    )
    for backend, figures in results["backends"].items():
        print(_table(backend, figures, args.quick, PRESETS[preset]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
