"""No invariant check is vacuous: each one fails on a deliberately broken trace (issue #5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from anyio_tools import (
    CallEnded,
    CallStarted,
    CallStatus,
    CallUpdated,
    CancelReason,
    ChatContext,
    DeliveryOutcome,
    DeliverySettled,
    DispatchResult,
    DropReason,
    FunctionCall,
    FunctionCallOutput,
    ReplyDropped,
    ReplyStatus,
    ReplyUpdated,
)
from anyio_tools._deliverer import Deliverer
from anyio_tools.runtime import AgentPaused, AgentResumed
from anyio_tools.runtime._idle import IdleWaits

from .invariants import (
    Requested,
    Trace,
    check_all,
    check_call_events,
    check_cancel_returns,
    check_chat_order,
    check_commits,
    check_dispatch,
    check_duplicates,
    check_ledger,
    check_paused_replies,
    check_registry,
    check_replies,
)
from .scenario import Act, EndReply, Start, scenario
from .session_scenario import Act as SessionAct
from .session_scenario import EndTask, Pause, UserTurn, Wait, session_scenario

CALL = FunctionCall(call_id="c", name="t")
DONE = CallStatus.DONE


def _answer(call_id: str = "c", *, non_blocking: bool = False) -> DispatchResult:
    output = FunctionCallOutput(call_id=call_id, name="t", output="x")
    return DispatchResult(
        FunctionCall(call_id=call_id, name="t"), output, non_blocking=non_blocking
    )


def _good() -> Trace:
    """A healthy trace: one call, updated twice, ended, its entries voiced once."""
    pair = [
        FunctionCall(call_id="c_update_1", name="t"),
        FunctionCallOutput(call_id="c_update_1", name="t", output="u"),
        FunctionCall(call_id="c_final", name="t"),
        FunctionCallOutput(call_id="c_final", name="t", output="f"),
    ]
    chat = ChatContext()
    chat.insert(pair)
    return Trace(
        events=[
            CallStarted(CALL),
            CallUpdated("c", "c", "a"),
            CallUpdated("c_update_1", "c", "b"),
            CallEnded("c_final", "c", DONE, "r"),
            ReplyUpdated(("c_update_1", "c_final"), ReplyStatus.SCHEDULED, "s1"),
            ReplyUpdated(("c_update_1", "c_final"), ReplyStatus.COMPLETED, "s1"),
            DeliverySettled(("c_update_1", "c_final"), DeliveryOutcome.DELIVERED),
        ],
        results={"c": [_answer(non_blocking=True)]},
        chats=[chat],
        registry=set(),
        modes={"c": ("allow", ("t", None), False)},
    )


def _covered_by_a_turn(t: Trace) -> None:
    """Turn t1's request held both entries; it completed heard and covered them (LED-7)."""
    t.events[4:] = [
        Requested("t1", frozenset({"c", "c_update_1", "c_final"})),
        DeliverySettled(("c_update_1", "c_final"), DeliveryOutcome.COVERED),
    ]
    t.heard = {"t1": True}


def test_the_healthy_trace_passes() -> None:
    """The baseline for the broken variants below."""
    check_all(_good(), final=True)
    covering = _good()
    _covered_by_a_turn(covering)
    check_all(covering, final=True)


def _breakers() -> dict[str, Callable[[Trace], None]]:
    def ended_twice(t: Trace) -> None:
        t.events.insert(4, CallEnded("c_final", "c", DONE, None))

    def never_ended(t: Trace) -> None:
        t.events = [e for e in t.events if not isinstance(e, CallEnded)]
        t.registry = {"c"}

    def update_after_end(t: Trace) -> None:
        t.events.insert(4, CallUpdated("c_update_2", "c", "late"))

    def gap_in_updates(t: Trace) -> None:
        t.events[2] = CallUpdated("c_update_2", "c", "b")

    def wrong_end_id(t: Trace) -> None:
        t.events[3] = CallEnded("c", "c", DONE, "r")

    def double_dispatch(t: Trace) -> None:
        t.results["c"].append(_answer())

    def non_blocking_without_update(t: Trace) -> None:
        t.events = [CallStarted(CALL), CallEnded("c", "c", DONE, "r")]

    def events_for_undispatched(t: Trace) -> None:
        t.results.clear()

    def registry_stale(t: Trace) -> None:
        t.registry = {"c"}

    def output_before_call(t: Trace) -> None:
        chat = ChatContext()
        chat.insert(FunctionCallOutput(call_id="c_update_1", name="t", output="u"))
        chat.insert(FunctionCall(call_id="c_update_1", name="t"))
        t.chats = [chat]

    def final_before_update(t: Trace) -> None:
        chat = ChatContext()
        chat.insert(
            [
                FunctionCall(call_id="c_final", name="t"),
                FunctionCall(call_id="c_update_1", name="t"),
            ]
        )
        t.chats = [chat]

    def voiced_twice(t: Trace) -> None:
        t.events.append(ReplyDropped(("c_final",), DropReason.ACTIVITY_CLOSED))

    def lost_entry(t: Trace) -> None:
        t.events = t.events[:4]

    def outcome_twice(t: Trace) -> None:
        t.events.append(ReplyUpdated(("c_update_1", "c_final"), ReplyStatus.COMPLETED, "s1"))

    def voiced_out_of_order(t: Trace) -> None:
        t.events[4] = ReplyUpdated(("c_final", "c_update_1"), ReplyStatus.SCHEDULED, "s1")
        t.events[5] = ReplyUpdated(("c_final", "c_update_1"), ReplyStatus.COMPLETED, "s1")

    def reject_twice(t: Trace) -> None:
        other = FunctionCall(call_id="d", name="t")
        t.events.insert(1, CallStarted(other))
        t.results["d"] = []
        t.registry = {"d"}
        t.modes = {"c": ("reject", ("t", None), False), "d": ("reject", ("t", None), False)}

    def cancel_too_early(t: Trace) -> None:
        t.cancel_returns.append(("c", True, 2))

    def settled_twice(t: Trace) -> None:
        t.events.append(DeliverySettled(("c_final",), DeliveryOutcome.COVERED))

    def never_settled(t: Trace) -> None:
        t.events = t.events[:-1]

    def delivered_by_interrupted_reply(t: Trace) -> None:
        # A broken deliverer that counts an interrupted reply as delivered (LED-2).
        t.events[5] = ReplyUpdated(("c_update_1", "c_final"), ReplyStatus.INTERRUPTED, "s1")

    def revoiced_after_completed(t: Trace) -> None:
        # A broken re-delivery that voices a completed reply's entries again (LED-4).
        t.events[6:6] = [
            ReplyUpdated(("c_final",), ReplyStatus.SCHEDULED, "s2"),
            ReplyUpdated(("c_final",), ReplyStatus.COMPLETED, "s2"),
        ]

    def covered_by_an_interrupted_turn(t: Trace) -> None:
        # A broken runtime that lets a turn cut before it was heard cover its items (LED-3).
        _covered_by_a_turn(t)
        t.heard = {"t1": False}

    def covered_though_added_after_the_request(t: Trace) -> None:
        # A broken runtime that covers what entered the chat while the request streamed.
        _covered_by_a_turn(t)
        t.events[4] = Requested("t1", frozenset({"c", "c_update_1"}))

    def committed_call_cancelled(t: Trace) -> None:
        t.committed = {"c"}
        t.events[3] = CallEnded("c_final", "c", CallStatus.CANCELLED, None, CancelReason.LLM)

    def cancelled_without_cause(t: Trace) -> None:
        t.events[3] = CallEnded("c_final", "c", CallStatus.CANCELLED, None)

    def voiced_while_paused(t: Trace) -> None:
        # A broken delivery that voices a paused agent's entries on the task (HND-2, DEL-2).
        t.owners = {"c": "A"}
        t.events.insert(4, AgentPaused("A", "T1"))

    def host_violation(t: Trace) -> None:
        t.violations.append("INV-14: reply scheduled while busy")

    return {name: fn for name, fn in locals().items() if callable(fn)}


@pytest.mark.parametrize("breaker", sorted(_breakers()))
def test_each_broken_variant_is_caught(breaker: str) -> None:
    """Every check is live: a trace broken in one way fails `check_all`."""
    trace = _good()
    _breakers()[breaker](trace)
    with pytest.raises(AssertionError):
        check_all(trace, final=True)


def test_every_check_is_exercised_by_some_breaker() -> None:
    """Each individual check function fails for at least one broken variant."""
    checks = {
        "call_events": lambda t: check_call_events(t, final=True),
        "dispatch": check_dispatch,
        "registry": check_registry,
        "chat_order": check_chat_order,
        "replies": lambda t: check_replies(t, final=True),
        "ledger": lambda t: check_ledger(t, final=True),
        "duplicates": check_duplicates,
        "cancel_returns": check_cancel_returns,
        "commits": check_commits,
        "paused_replies": check_paused_replies,
    }
    caught = set()
    for breaker in _breakers().values():
        trace = _good()
        breaker(trace)
        for name, check in checks.items():
            try:
                check(trace)
            except AssertionError:
                caught.add(name)
    assert caught == set(checks)


@pytest.mark.parametrize("broken", ["loses_interrupted_items", "delivers_interrupted_items"])
async def test_a_broken_deliverer_is_caught_by_the_ledger_invariant(
    broken: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LED-1, LED-2 (issue #15): the same generated-program machinery fails on a deliverer
    that forgets an interrupted reply's items, or counts them delivered."""

    def lose(self: Deliverer, entries: list[Any]) -> None:
        pass

    def deliver(self: Deliverer, entries: list[Any]) -> None:
        self._record(entries, DeliveryOutcome.DELIVERED, None)

    monkeypatch.setattr(
        Deliverer, "_redeliver", lose if broken == "loses_interrupted_items" else deliver
    )
    program = [
        Start("allow", "name", True, 0, False),
        Act(0, "update"),
        Act(0, "update"),
        EndReply(interrupt=True, text=False),
    ]

    async def run() -> None:
        async with scenario(session_scope=False) as sc:  # checks everything when it exits
            for command in program:
                await sc.apply(command)

    with pytest.raises(AssertionError, match=r"^LED-"):
        await run()


@pytest.mark.virtual_time
@pytest.mark.parametrize("broken", [False, True])
async def test_a_reply_voiced_while_its_agent_is_paused_is_caught(
    broken: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HND-2, DEL-2 (issue #18): the generated-conversation machinery fails on a delivery that
    ignores a paused owner (the original's deviation: it voiced on whatever agent was current),
    and passes on the real one with the same program."""
    if broken:
        original = IdleWaits.wait_for_reply_slot

        async def any_current(self: IdleWaits, owner: Any) -> Any:
            return await original(self, None)

        monkeypatch.setattr(IdleWaits, "wait_for_reply_slot", any_current)
    program = [
        UserTurn(0),  # A's background call
        Wait(5),
        SessionAct(0, "update"),  # its answer
        Wait(5),
        Pause(),  # a tool of A runs a task: A is paused
        Wait(5),
        SessionAct(0, "update"),  # a deferred update of A's call, while A is paused
        Wait(5),
        EndTask(fail=False),
        Wait(5),
    ]
    seen: list[Any] = []

    async def run() -> None:
        async with session_scenario() as sc:
            for command in program:
                await sc.apply(command)
                sc.check()
            seen.extend(sc.trace.events)

    if broken:
        with pytest.raises(AssertionError, match=r"^HND-2"):
            await run()
    else:
        await run()
        kinds = [type(e) for e in seen]
        assert AgentPaused in kinds
        assert AgentResumed in kinds
        paused_at = kinds.index(AgentPaused)
        resumed_at = kinds.index(AgentResumed)
        scheduled = [
            i for i, e in enumerate(seen) if isinstance(e, ReplyUpdated) and e.status == "scheduled"
        ]
        assert scheduled  # the update was voiced, after the resume
        assert all(not paused_at < i < resumed_at for i in scheduled)
