"""How one speech turn runs: generation steps, playout, the tool phase (SPEC CON-5, EXE-1,
EXE-2, EXE-10..12, HOST-7; LED-7 in `anyio_tools._ledger`).

A turn plays one generation step at a time while holding the session's speech slot; its
tools run between steps without it, so running tools never make the session busy. The
answers of a step's calls are committed to the agent's chat context and the history when
every call of the step was released. A turn that ends heard covers the deferred updates its
LLM requests contained (LED-3, LED-7).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast

import anyio

from anyio_tools._chat import ChatContext, ChatItem, ChatMessage, FunctionCall, FunctionCallOutput
from anyio_tools._context import RunContext
from anyio_tools._errors import SessionClosedError, UnknownToolError
from anyio_tools._executor import ToolExecutor
from anyio_tools._outcomes import DispatchResult
from anyio_tools._registry import CallRegistry
from anyio_tools._signals import Signal
from anyio_tools._values import INTERRUPTED_HANDOFF_TEXT

from ._activity import Activity, ActivityState, Route
from ._agent import Agent
from ._errors import AgentStartError
from ._llm import LLM, LLMRequest, TextDelta, ToolCallRequest, ToolChoice
from ._session_events import AgentState, SessionError, SessionEvent, UserState
from ._speech import SpeechHandle, SpeechOutput

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["TurnRunner", "is_ours"]

logger = logging.getLogger("anyio_tools.runtime")


class _ToolPhase:
    """The calls of one step, from admission until every one answered and was committed."""

    __slots__ = ("contexts", "results")

    def __init__(self, size: int) -> None:
        self.results: list[DispatchResult | None] = [None] * size
        self.contexts: list[RunContext[Any] | None] = [None] * size

    def all_answered(self) -> bool:
        # A call answers synchronously in its own task (its first update, or its end),
        # before its dispatcher wakes up to hand the answer to this phase.
        return all(
            result is not None or (ctx is not None and ctx.answered)
            for result, ctx in zip(self.results, self.contexts, strict=True)
        )


def is_ours(*scopes: anyio.CancelScope) -> bool:
    """Return whether a cancellation exception caught now comes from one of ``scopes`` or an
    enclosing scope (issue #12 item 1).

    On asyncio, awaiting a future that someone else cancelled raises ``CancelledError`` in a
    task nobody cancelled. Only a cancellation of our own scopes (or of one around us) may
    propagate; any other is an error like any other.
    """
    return (
        any(scope.cancel_called for scope in scopes)
        or anyio.current_effective_deadline() == -math.inf
    )


class TurnRunner:
    """The turn-running part of `AgentSession` (a mixin; the session provides the state)."""

    registry: CallRegistry
    _session_executors: list[ToolExecutor]
    _llm: LLM | None
    _llm_timeout: float | None
    _output: SpeechOutput
    _closing: bool
    _activity: Activity | None
    _current_agent: Agent | None
    _changed: Signal
    _speech_demand: int
    _speaking: set[SpeechHandle]
    _cut_scopes: dict[SpeechHandle, anyio.CancelScope]
    _tool_phases: list[_ToolPhase]
    _in_tools: set[SpeechHandle]
    _turn_owners: dict[SpeechHandle, Activity]  # the activity each running turn speaks for
    _agent_state: AgentState
    _user_state: UserState

    def emit(self, event: SessionEvent) -> None:
        raise NotImplementedError

    def record(self, items: Iterable[ChatItem]) -> None:
        raise NotImplementedError

    def update_agent(self, agent: Agent) -> None:
        raise NotImplementedError

    def _notify(self) -> None:
        raise NotImplementedError

    def _start_error(self, agent: Agent | None = None) -> AgentStartError | None:
        raise NotImplementedError

    def _set_agent_state(self, state: AgentState, *, bump: bool = True) -> None:
        raise NotImplementedError

    async def _acquire_slot(self, handle: SpeechHandle) -> None:
        raise NotImplementedError

    def _release_slot(self, handle: SpeechHandle, *, demand: bool = True) -> None:
        raise NotImplementedError

    async def _activity_for_turn(self) -> Activity:
        while True:
            if self._closing:
                raise SessionClosedError("the session closed")
            error = self._start_error()
            if error is not None:  # no agent to speak for (#12 item 5)
                raise error
            activity = self._activity
            if (
                activity is not None
                and activity.agent is self._current_agent
                and activity.state is ActivityState.ACTIVE
            ):
                return activity
            await self._changed.wait()

    async def _run_turn(
        self,
        handle: SpeechHandle,
        activity: Activity | None,
        text: str | None,
        instructions: str | None,
        tool_choice: ToolChoice,
    ) -> None:
        counted = activity  # a bound turn was counted when it was queued
        outputs: list[FunctionCallOutput] = []
        demand = True  # this step's demand is counted
        in_tools = False  # in self._in_tools: its calls run, or its follow-up step is due
        # LED-7: queued updates its requests contained; None for a deferred reply's turn.
        seen: list[tuple[ToolExecutor, list[str]]] | None = None if handle._deferred_reply else []
        completed = False
        try:
            if activity is None:
                activity = await self._activity_for_turn()
                activity.turn_started()
                counted = activity
            self._turn_owners[handle] = activity
            while True:
                if outputs:  # issue #20 item 4: a follow-up is not spoken over the user
                    await self._wait_user_quiet(handle)
                await self._acquire_slot(handle)
                calls: list[FunctionCall] = []
                try:
                    self._speaking.add(handle)
                    if in_tools:
                        self._in_tools.discard(handle)
                        in_tools = False
                    if activity.state is ActivityState.PAUSED:  # issue #18, HND-2
                        self._cut_paused_turn(handle)
                    if not handle.interrupted:
                        step = handle._start_step()
                        if text is not None:
                            content = text
                        else:
                            content, calls = await self._generate(
                                activity, handle, instructions, tool_choice, outputs, seen
                            )
                        if content:
                            await self._play(activity, handle, content)
                        handle._end_step(step)
                finally:
                    self._speaking.discard(handle)
                    demand = False
                    if calls:  # before the release: thinking, never listening (HOST-8)
                        self._in_tools.add(handle)
                        in_tools = True
                    self._release_slot(handle)
                if not calls:
                    break
                answered = await self._tool_phase(activity, handle, calls)
                if answered is None:
                    break
                outputs = answered
                instructions = None
                self._speech_demand += 1
                demand = True
                self._notify()
            completed = True
        except (SessionClosedError, AgentStartError):
            pass  # the session closed, or the failed start was already emitted
        except Exception as exc:
            logger.exception("turn %s failed", handle.id)
            self.emit(SessionError("turn", exc))
        except anyio.get_cancelled_exc_class() as exc:
            if is_ours():
                raise
            logger.exception("turn %s got a stray cancellation", handle.id)
            self.emit(SessionError("turn", exc))
        finally:
            if demand:
                self._speech_demand -= 1
            if in_tools:
                self._in_tools.discard(handle)
            if counted is not None:
                counted.turn_ended()
            self._turn_owners.pop(handle, None)
            handle._mark_done()
            if completed and seen and handle.heard:  # LED-3, LED-7
                for executor, ids in seen:
                    executor.mark_covered(ids)
            self._settle_agent_state()
            self._notify()

    def _cut_paused_turn(self, handle: SpeechHandle) -> None:
        """A turn of a paused agent takes no further step (issue #18, HND-2).

        Its step would speak into the task agent's conversation, and by the time the agent is
        back it would answer a conversation that has moved on. Like an interruption (EXE-12),
        the turn ends: its calls go on and what they report comes as deferred replies once
        the agent is back; a deferred reply cut here was not heard and is voiced again then.
        """
        logger.debug("turn %s: its agent is paused under a task; it takes no step", handle.id)
        handle.interrupt(force=True)

    async def _wait_user_quiet(self, handle: SpeechHandle) -> None:
        """Wait until the user stops speaking (a turn that disallows interruptions waits;
        an interruptible one was interrupted when the user started and takes no step)."""
        while self._user_state is UserState.SPEAKING and not handle.interrupted:
            if self._closing:
                raise SessionClosedError("the session closed")
            await self._changed.wait()

    def _settle_agent_state(self) -> None:
        """Set the agent's state once no speech is playing or queued (HOST-8).

        "thinking" while a turn's calls run after its speech (or its follow-up step is due),
        "listening" otherwise. Speech in between (a filler) sets "speaking" and then comes
        back here; this change does not count as the agent starting to think (the fillers'
        dwell goes on).
        """
        if self._agent_state is AgentState.INITIALIZING or self._speech_demand:
            return
        state = AgentState.THINKING if self._in_tools else AgentState.LISTENING
        self._set_agent_state(state, bump=False)

    async def _generate(
        self,
        activity: Activity,
        handle: SpeechHandle,
        instructions: str | None,
        tool_choice: ToolChoice,
        outputs: Sequence[FunctionCallOutput],
        seen: list[tuple[ToolExecutor, list[str]]] | None,
    ) -> tuple[str, list[FunctionCall]]:
        agent = activity.agent
        llm = agent.llm or self._llm
        if llm is None:
            self.emit(SessionError("llm", RuntimeError(f"{agent.name} has no LLM")))
            return "", []
        chat_ctx = agent.chat_ctx.copy()
        # LED-7: what is queued now and in this context; what is queued later is not.
        queued = [] if seen is None else self._queued_in(activity, chat_ctx)
        self._add_running_placeholders(chat_ctx)
        request = LLMRequest(
            chat_ctx=chat_ctx,
            tools=activity.tools,
            tool_choice=tool_choice,
            instructions=agent.instructions,
            extra_instructions=instructions,
            tool_outputs=tuple(outputs),
        )
        self._set_agent_state(AgentState.THINKING)
        parts: list[str] = []
        calls: list[FunctionCall] = []
        failure: BaseException | None = None
        timeout = math.inf if self._llm_timeout is None else self._llm_timeout
        # One scope (issue #19 item 5) for the cut (`_cut` takes it out of `_cut_scopes`
        # before cancelling it) and the LLM's time limit, its deadline (issue #12 item 11).
        deadline = anyio.current_time() + timeout
        with anyio.CancelScope(deadline=deadline) as scope:
            self._cut_scopes[handle] = scope
            try:
                try:
                    async with aclosing(llm.stream(request)) as stream:
                        async for chunk in stream:
                            if isinstance(chunk, TextDelta):
                                parts.append(chunk.text)
                            elif isinstance(chunk, ToolCallRequest):
                                calls.append(
                                    FunctionCall(
                                        call_id=chunk.call_id,
                                        name=chunk.name,
                                        arguments=chunk.arguments,
                                    )
                                )
                except anyio.get_cancelled_exc_class() as exc:
                    if is_ours(scope):
                        raise
                    failure = exc  # a stray cancellation is an LLM failure (#12 item 1)
                except Exception as exc:  # noqa: BLE001 - an LLM failure is a session event
                    failure = exc
            finally:
                cut = self._cut_scopes.pop(handle, None) is not scope
        # The limit wins a tie with the cut, as the inner of two scopes did.
        expired = scope.cancel_called and anyio.current_time() >= deadline
        if scope.cancelled_caught and not expired:
            return "", []
        if expired or (scope.cancel_called and not cut):
            timed_out = TimeoutError(f"the LLM did not finish within llm_timeout={timeout}s")
            timed_out.__cause__ = failure  # what the stream raised when cancelled, if anything
            failure = timed_out
        if failure is not None:
            logger.warning("the LLM failed: %r", failure)
            handle._llm_failed(failure)
            self.emit(SessionError("llm", failure))
            return "", []
        if queued and seen is not None:  # the LLM answered with them in its context
            seen.extend(queued)
        if tool_choice == "none" and calls:  # EXE-1
            logger.warning(
                "ignored %d tool calls of a generation with tool choice none", len(calls)
            )
            calls = []
        return "".join(parts), calls

    def _queued_in(
        self, activity: Activity, chat_ctx: ChatContext
    ) -> list[tuple[ToolExecutor, list[str]]]:
        """The queued updates of the session's and the activity's executors that are in
        ``chat_ctx`` (LED-7)."""
        queued = []
        for executor in (*self._session_executors, *activity.executors):
            ids = executor.queued_updates_in(chat_ctx)
            if ids:
                queued.append((executor, ids))
        return queued

    def _add_running_placeholders(self, chat_ctx: ChatContext) -> None:
        # HOST-7: calls running elsewhere (another agent, the session) are visible to this
        # inference only, as a call and an output saying the result comes later.
        if not self.registry:
            return
        present = {item.call_id for item in chat_ctx.items if isinstance(item, FunctionCall)}
        for running in self.registry.running():
            if running.call_id in present:
                continue
            chat_ctx.insert(
                (
                    FunctionCall(
                        call_id=running.call_id, name=running.name, arguments=running.arguments
                    ),
                    FunctionCallOutput(
                        call_id=running.call_id,
                        name=running.name,
                        output="This call is still running; its result will come later.",
                        reply_required=False,
                    ),
                )
            )

    async def _play(self, activity: Activity, handle: SpeechHandle, content: str) -> None:
        self._set_agent_state(AgentState.SPEAKING)
        with anyio.CancelScope() as scope:
            self._cut_scopes[handle] = scope
            try:
                await self._output.play(content)
            except anyio.get_cancelled_exc_class() as exc:
                if is_ours(scope):
                    raise
                # A stray cancellation is an output failure (#12 item 1).
                logger.warning("the speech output raised a stray cancellation: %r", exc)
                self.emit(SessionError("output", exc))
            except Exception as exc:  # noqa: BLE001 - an output failure is a session event
                logger.warning("the speech output failed: %r", exc)
                self.emit(SessionError("output", exc))
            finally:
                self._cut_scopes.pop(handle, None)
        message = ChatMessage(role="assistant", content=content, interrupted=handle.interrupted)
        activity.agent.chat_ctx.insert(message)
        handle._add_items(message)
        self.record([message])

    async def _tool_phase(
        self, activity: Activity, handle: SpeechHandle, calls: list[FunctionCall]
    ) -> list[FunctionCallOutput] | None:
        """Run a turn's calls and commit their answers.

        Returns:
            The answers for the LLM's next step, or None when the turn takes no more step.
        """
        phase = _ToolPhase(len(calls))
        results = phase.results
        routes: list[Route | None] = []
        for index, call in enumerate(calls):
            route = activity.routes.get(call.name)
            if route is None:  # EXE-2
                error = UnknownToolError(call.name, list(activity.routes))
                results[index] = DispatchResult(
                    call, FunctionCallOutput.from_exception(call, error)
                )
            routes.append(route)
        # Issue #19 item 5: the last call is dispatched by the turn's own task; only the calls
        # before it need a dispatcher task each (and a task group), so that it is admitted
        # after them (EXE-10) while they wait for their answers. Cancelling the turn's task
        # cancels every dispatcher as before (EXE-13).
        last = len(calls) - 1
        while last >= 0 and routes[last] is None:
            last -= 1
        self._tool_phases.append(phase)
        try:
            if last == 0:
                route = routes[0]
                assert route is not None
                await self._dispatch(route, handle, calls[0], phase, 0)
            elif last > 0:
                async with anyio.create_task_group() as task_group:
                    for index in range(last):  # EXE-10: admitted in emission order
                        route = routes[index]
                        if route is not None:
                            await task_group.start(
                                self._dispatch, route, handle, calls[index], phase, index
                            )
                    route = routes[last]
                    assert route is not None
                    await self._dispatch(route, handle, calls[last], phase, last)
            else:  # every call answered EXE-2: still a checkpoint, as a group's exit is
                await anyio.lowlevel.cancel_shielded_checkpoint()
        finally:
            # Sync from here to the follow-up step's demand (or the turn's end): no idle gap.
            self._tool_phases.remove(phase)
        answers = [r for r in results if r is not None]
        handoffs = [r.handoff for r in answers if r.handoff is not None]
        committed: list[ChatItem] = []
        for result in answers:
            output = result.output
            if handle.interrupted:  # EXE-12
                if result.handoff is not None:
                    output = FunctionCallOutput(
                        call_id=output.call_id,
                        name=output.name,
                        output=INTERRUPTED_HANDOFF_TEXT,
                        is_error=True,
                        reply_required=False,
                    )
                elif output.reply_required:
                    output = FunctionCallOutput(
                        call_id=output.call_id,
                        name=output.name,
                        output=output.output,
                        is_error=output.is_error,
                        reply_required=False,
                        id=output.id,
                        created_at=output.created_at,
                        seq=output.seq,
                    )
            committed.extend((result.call, output))
        activity.agent.chat_ctx.insert(committed)
        handle._add_items(*committed)
        self.record(committed)
        if handle.interrupted:
            return None
        if len(handoffs) == 1:  # EXE-11
            handoff = handoffs[0]
            if isinstance(handoff, Agent):
                self.update_agent(handoff)
                return None
        elif len(handoffs) > 1:
            logger.warning("%d calls of one turn asked for a handoff; none applied", len(handoffs))
        outputs = [item for item in committed if isinstance(item, FunctionCallOutput)]
        return outputs if any(output.reply_required for output in outputs) else None

    async def _dispatch(
        self,
        route: Route,
        handle: SpeechHandle,
        call: FunctionCall,
        phase: _ToolPhase,
        index: int,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        tool, executor = route
        ctx: RunContext[Any] = RunContext(
            function_call=call, session=cast(Any, self), speech_handle=handle
        )
        phase.contexts[index] = ctx
        task_status.started()
        logger.debug("call %s: dispatched by turn %s to %r", call.call_id, handle.id, executor)
        phase.results[index] = await executor.execute(tool, ctx)

    def _follow_up_due(self) -> bool:
        """Whether a step's calls all answered and its tool phase has not ended yet (CON-9)."""
        return any(phase.all_answered() for phase in self._tool_phases)
