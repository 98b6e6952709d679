"""The demonstration run by ``make demo``: a flight-booking conversation, printed live.

It shows progress updates, one coalesced reply, a sub-agent task (the booking pauses its agent
to collect the user's consent, then goes on once the agent is back), a duplicate call asking
for confirmation, a filler during a slow step, a handoff while the booking keeps running (its
result reaches the new agent), and a cancel requested by the user. It uses public names only.

The LLM is scripted by default; ``--llm openai`` plays the same user turns against any server
that speaks OpenAI's Chat Completions API (issue #13 item 5).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import TYPE_CHECKING, TextIO

import anyio

from . import (
    CANCEL_TOOL_NAME,
    CallEnded,
    CallStarted,
    CallUpdated,
    DeliverySettled,
    FunctionCall,
    ReplyDropped,
    ReplyUpdated,
    RunContext,
    SessionHandle,
    ToolFlag,
    function_tool,
)
from ._chat import AgentHandoff, ChatMessage, FunctionCallOutput
from .runtime import (
    Agent,
    AgentPaused,
    AgentResumed,
    AgentSession,
    AgentTask,
    AsyncToolset,
    ConversationItemAdded,
    LLMRequest,
    ScriptedCall,
    ScriptedLLM,
    ScriptedResponse,
    SessionEvent,
    TextOutput,
)

if TYPE_CHECKING:
    from .runtime import LLM

__all__ = ["run_demo"]


class _Clock:
    """Scales the story's durations: ``--speed 2`` runs twice as fast."""

    def __init__(self, speed: float) -> None:
        self.speed = speed

    async def wait(self, seconds: float) -> None:
        await anyio.sleep(seconds / self.speed)


_clock = _Clock(1.0)


@function_tool(on_duplicate="confirm", flags=ToolFlag.CANCELLABLE)
async def book_flight(ctx: RunContext[None], origin: str, destination: str) -> str:
    """Book the best flight between two airports.

    Args:
        origin: IATA code of the departure airport.
        destination: IATA code of the arrival airport.
    """
    await ctx.update(f"looking up flights {origin} to {destination}")
    await _clock.wait(2.2)
    await ctx.update("found 3 flights")
    await _clock.wait(0.3)
    await ctx.update("the best one is AF006 at 9:40, booking it")
    async with ctx.foreground():
        pass  # the updates above were voiced: now ask (the booker is paused meanwhile)
    if not await ctx.session.run_task(FareConsent(ctx.session)):
        return "not booked: the fare conditions were declined"
    filler = "The airline is still confirming, one moment."
    async with ctx.with_filler(filler, delay=1.0 / _clock.speed):  # scaled like every delay
        await _clock.wait(7.5)
    return f"booked AF006 {origin}-{destination}, seat 12A"


class FareConsent(AgentTask[bool]):
    """A short sub-agent: asks the user to accept the fare conditions; True if they do."""

    def __init__(self, session: SessionHandle[None]) -> None:
        super().__init__(
            instructions="Ask whether the user accepts the fare conditions of flight AF006 "
            "(non-refundable, one cabin bag); record the answer with record_consent.",
            name="fare_consent",  # the transcript tells a pause from a handoff by it
        )
        self._session = session

    async def on_enter(self) -> None:
        self._session.say("AF006 is non-refundable, with one cabin bag. Do you accept?")
        await anyio.lowlevel.checkpoint()

    @function_tool
    async def record_consent(self, accepts: bool) -> str:
        """Record whether the user accepts the fare conditions.

        Args:
            accepts: True if the user accepts them.
        """
        self.complete(accepts)
        return "recorded"


@function_tool(flags=ToolFlag.CANCELLABLE)
async def search_hotels(ctx: RunContext[None], city: str) -> str:
    """Search hotels in a city (slow).

    Args:
        city: The city.
    """
    await ctx.update(f"searching hotels in {city}")
    await _clock.wait(3600)
    return "found a hotel"


@function_tool
async def weather(city: str) -> str:
    """Tell the weather in a city.

    Args:
        city: The city.
    """
    return f"sunny and 21 degrees in {city}"


class Support(Agent):
    """The agent the conversation is handed to."""

    def __init__(self) -> None:
        super().__init__(instructions="You are the support desk.", name="support")


_SUPPORT = Support()


@function_tool
async def transfer_to_support() -> Agent:
    """Hand the conversation to the support desk."""
    return _SUPPORT


def _script(request: LLMRequest) -> ScriptedResponse | str | None:
    if request.extra_instructions is not None:
        ids = request.extra_instructions.split("call ids: ", 1)[-1].split(")")[0]
        if "_final" in ids:
            return "Good news from the booking desk: your flight AF006 is booked, seat 12A."
        return "Quick update: I found three flights, and I'm booking AF006 at 9:40."
    outputs = request.tool_outputs
    if outputs:
        last = outputs[-1]
        if last.name == "weather":
            return f"It's {last.output}, a lovely week to travel, with light winds."
        if "already running" in last.output:
            return "A booking is already in progress. Do you really want a second one?"
        if last.name == CANCEL_TOOL_NAME:
            return "Done, I stopped the hotel search."
        if last.name == "record_consent":
            return "Thank you, noted."
        if last.name == "search_hotels":
            return "I'm searching hotels in New York."
        return "I'm on it; this takes a moment."
    said = (request.last_user_text or "").lower()
    if "accept" in said:
        accepts = "not" not in said
        return ScriptedResponse("", calls=[ScriptedCall("record_consent", {"accepts": accepts})])
    if "cancel" in said:
        hotel = [
            item.call_id
            for item in request.chat_ctx.items
            if isinstance(item, FunctionCall) and item.name == "search_hotels"
        ]
        return ScriptedResponse("", calls=[ScriptedCall(CANCEL_TOOL_NAME, {"call_id": hotel[-1]})])
    if "book" in said:
        call = ScriptedCall("book_flight", {"origin": "CDG", "destination": "JFK"})
        return ScriptedResponse("Sure, let me look for flights.", calls=[call])
    if "weather" in said:
        return ScriptedResponse("", calls=[ScriptedCall("weather", {"city": "New York"})])
    if "support" in said:
        return ScriptedResponse("Transferring you.", calls=[ScriptedCall("transfer_to_support")])
    if "hotel" in said:
        return ScriptedResponse("", calls=[ScriptedCall("search_hotels", {"city": "New York"})])
    return "How can I help?"


class _Board:
    """The calls in flight and the latest update of each (issue #17 item 4)."""

    def __init__(self) -> None:
        self.running: dict[str, tuple[str, float, str]] = {}  # id -> tool, start, latest

    def started(self, call_id: str, tool: str, now: float) -> None:
        self.running[call_id] = (tool, now, "starting")

    def updated(self, call_id: str, message: str) -> None:
        known = self.running.get(call_id)
        if known is not None:
            self.running[call_id] = (known[0], known[1], message)

    def ended(self, call_id: str) -> None:
        self.running.pop(call_id, None)

    def text(self, now: float) -> str:
        return " | ".join(
            f"{call_id} {tool} {now - start:.1f}s: {latest}"
            for call_id, (tool, start, latest) in self.running.items()
        )


class _Transcript:
    """Prints the conversation; shows the calls in flight as a live status line on a
    terminal, and as an ``[in flight]`` line after each user turn elsewhere."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()
        self.board = _Board()
        self.start = anyio.current_time()
        self.counts: Counter[str] = Counter()
        self.admitted: set[str] = set()
        self.final_settled = anyio.Event()  # a `_final` reached its delivery outcome
        self.paused = anyio.Event()  # a sub-agent task started on top of an agent
        self.asked = anyio.Event()  # the task agent spoke
        self.resumed = anyio.Event()  # and the paused agent is back
        self.tasks = {"fare_consent"}  # task agents: handing to one is a pause, not a handoff

    def line(self, text: str) -> None:
        now = anyio.current_time()
        clear = "\r\x1b[K" if self.live else ""
        print(f"{clear}[{now - self.start:5.1f}s] {text}", file=self.out, flush=not self.live)
        if self.live:
            self.status()

    def status(self) -> None:
        """Redraw the status line below the transcript (terminal only)."""
        board = self.board.text(anyio.current_time())
        shown = f"\x1b[2m  in flight: {board}\x1b[0m" if board else ""
        print(f"\r\x1b[K{shown}", end="", file=self.out, flush=True)

    def close(self) -> None:
        """Clear the status line (terminal only)."""
        if self.live:
            print("\r\x1b[K", end="", file=self.out, flush=True)

    def _in_flight(self) -> None:
        board = self.board.text(anyio.current_time())
        if board and not self.live:
            self.line(f"  [in flight] {board}")

    def __call__(self, event: SessionEvent) -> None:
        if isinstance(event, ConversationItemAdded):
            item = event.item
            if isinstance(item, ChatMessage):
                who = "user " if item.role == "user" else "agent"
                self.line(f"{who}: {item.content}")
                if who == "agent" and self.paused.is_set():
                    self.asked.set()
                if item.role == "user":
                    self._in_flight()
            elif (
                isinstance(item, FunctionCallOutput)
                and item.call_id.removesuffix("_final") not in self.admitted
            ):
                first_line = item.output.splitlines()[0] if item.output else ""
                self.line(f"  .. {item.name} not run ({item.call_id}): {first_line}")
            elif isinstance(item, AgentHandoff):
                if item.new_agent in self.tasks or item.old_agent in self.tasks:
                    return  # a pause or a resume: told by the events below
                self.counts["handoffs"] += 1
                self.line(f"  => handoff {item.old_agent} -> {item.new_agent}")
        elif isinstance(event, AgentPaused):
            self.counts["tasks"] += 1
            self.paused.set()
            self.line(f"  => {event.agent_name} paused: task {event.task_name} runs")
        elif isinstance(event, AgentResumed):
            self.resumed.set()
            self.line(f"  => {event.agent_name} resumed: task {event.task_name} ended")
        elif isinstance(event, CallStarted):
            self.counts["calls"] += 1
            self.admitted.add(event.call_id)
            self.board.started(event.call_id, event.call.name, anyio.current_time())
            self.line(f"  .. {event.call.name} started ({event.call_id})")
        elif isinstance(event, CallUpdated):
            self.counts["updates"] += 1
            self.admitted.add(event.id)
            self.board.updated(event.call_id, event.message)
            self.line(f"  .. {event.id}: {event.message}")
        elif isinstance(event, CallEnded):
            self.board.ended(event.call_id)
            self.line(f"  .. {event.call_id} ended {event.status}: {event.message}")
        elif isinstance(event, ReplyUpdated) and event.status == "scheduled":
            self.counts["replies"] += 1
            self.line(f"  .. one reply for {', '.join(event.update_ids)}")
        elif isinstance(event, ReplyDropped):
            self.line(f"  .. dropped {', '.join(event.update_ids)} ({event.reason})")
        if isinstance(event, DeliverySettled) and any(
            entry.endswith("_final") for entry in event.update_ids
        ):
            self.final_settled.set()  # voiced, or given up on (the delivery ledger)


async def _story(out: TextIO, speed: float, llm: LLM | None = None) -> Counter[str]:
    _clock.speed = speed
    transcript = _Transcript(out)
    session: AgentSession[None] = AgentSession(
        llm=ScriptedLLM(_script) if llm is None else llm,
        tools=[AsyncToolset(id="booking", tools=[book_flight])],
        output=TextOutput(chars_per_second=50 * speed),
    )
    session.on(None, transcript)
    main = Agent(
        instructions="You book trips.",
        tools=[weather, search_hotels, transfer_to_support],
        name="booker",
    )
    async with session:
        await session.start(main)
        await session.run(user_input="Book me a flight from Paris to New York.")
        await session.run(user_input="Can you find a hotel there too?")
        await session.run(user_input="What's the weather like there?")
        await transcript.asked.wait()  # the booking asks for consent (a sub-agent task)
        await session.run(user_input="Yes, I accept.")
        await transcript.resumed.wait()
        await session.run(user_input="Book it again please.")
        await session.run(user_input="No. And cancel the hotel search, actually.")
        await session.run(user_input="Transfer me to support, please.")
        while session.registry.running():  # the booking finishes under the new agent
            await session.wait_for_idle()
            await _clock.wait(0.5)
        with anyio.move_on_after(60):  # its result is voiced by the new agent
            await transcript.final_settled.wait()
        await session.wait_for_idle()
    transcript.close()
    counts = transcript.counts
    print(
        "\nsummary: "
        + json.dumps({k: counts[k] for k in ("calls", "updates", "replies", "handoffs", "tasks")}),
        file=out,
    )
    return counts


def run_demo(
    *,
    backend: str,
    out: TextIO,
    speed: float = 1.0,
    llm: str = "scripted",
    model: str | None = None,
    base_url: str | None = None,
) -> int:
    """Run the demonstration on ``backend`` ("asyncio" or "trio"), writing to ``out``.

    With ``llm="openai"`` the turns go to an OpenAI-compatible server: ``model`` (else the
    ``OPENAI_MODEL`` environment variable, else "gpt-4o-mini") at ``base_url`` (else
    ``OPENAI_BASE_URL``, else OpenAI's), with the key of ``OPENAI_API_KEY`` (a local server
    that needs no key gets a placeholder).
    """
    print(f"anyio_tools demo on {backend} ({llm} LLM)\n", file=out)
    anyio.run(_played, out, speed, llm, model, base_url, backend=backend)
    return 0


async def _played(
    out: TextIO, speed: float, llm: str, model: str | None, base_url: str | None
) -> None:
    if llm == "scripted":
        await _story(out, speed)
        return
    from .openai import OpenAIChatLLM  # the openai extra is needed only here

    chosen = model or os.environ.get("OPENAI_MODEL") or "gpt-4o-mini"
    api_key = os.environ.get("OPENAI_API_KEY") or "no-key"  # the client insists on one
    async with OpenAIChatLLM(chosen, base_url=base_url, api_key=api_key) as real:
        await _story(out, speed, real)
