"""Checks of the ordering and safety invariants (SPEC section 12) on a recorded trace.

The checks are pure functions of a `Trace`, so the non-vacuity tests can feed them broken
traces and show that each one fails.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from anyio_tools import (
    CallEnded,
    CallStarted,
    CallUpdated,
    ChatContext,
    DeliverySettled,
    DispatchResult,
    FunctionCall,
    FunctionCallOutput,
    ReplyDropped,
    ReplyUpdated,
)
from anyio_tools.runtime import AgentPaused, AgentResumed


@dataclass(frozen=True)
class Requested:
    """Not an event of the library: the scenario's LLM saw a request of turn ``speech_id``
    whose chat context held the outputs of ``entries`` (LED-7)."""

    speech_id: str
    entries: frozenset[str]


@dataclass
class Trace:
    """What a scenario observed."""

    events: list[Any] = field(default_factory=list)
    results: dict[str, list[DispatchResult]] = field(default_factory=dict)
    chats: list[ChatContext] = field(default_factory=list)
    registry: set[str] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)
    modes: dict[str, tuple[str, Any, bool]] = field(
        default_factory=dict
    )  # id -> (mode, key, confirm)
    cancel_returns: list[tuple[str, bool, int]] = field(default_factory=list)  # id, ok, event index
    committed: set[str] = field(default_factory=set)  # calls past their commit point
    owners: dict[str, str] = field(default_factory=dict)  # call id -> its activity's agent
    heard: dict[str, bool] = field(default_factory=dict)  # speech id -> done and heard


def _per_call(events: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for e in events:
        if isinstance(e, CallStarted | CallUpdated | CallEnded):
            out.setdefault(e.call_id, []).append(e)
    return out


def check_call_events(trace: Trace, *, final: bool) -> None:
    """INV-1, INV-3, INV-4: one Started first, one Ended last, update ids without gaps."""
    for call_id, events in _per_call(trace.events).items():
        assert isinstance(events[0], CallStarted), (
            f"INV-1: {call_id} does not start with CallStarted"
        )
        assert sum(isinstance(e, CallStarted) for e in events) == 1, (
            f"INV-1: {call_id} started twice"
        )
        ends = [e for e in events if isinstance(e, CallEnded)]
        assert len(ends) <= 1, f"INV-1: {call_id} ended {len(ends)} times"
        if ends:
            assert events[-1] is ends[0], f"INV-1: an event of {call_id} follows its CallEnded"
        elif final:
            raise AssertionError(f"INV-1: {call_id} never ended")
        updates = [e.id for e in events if isinstance(e, CallUpdated)]
        expected = [call_id] + [f"{call_id}_update_{k}" for k in range(1, len(updates))]
        assert updates == expected[: len(updates)], f"INV-4: {call_id} update ids {updates}"
        if ends:
            want = f"{call_id}_final" if updates else call_id
            assert ends[0].id == want, f"INV-3: {call_id} ended as {ends[0].id}, expected {want}"


def check_dispatch(trace: Trace) -> None:
    """INV-2, INV-5: one answer per dispatch; unadmitted calls have no events."""
    per_call = _per_call(trace.events)
    for call_id, answers in trace.results.items():
        assert len(answers) <= 1, f"INV-5: dispatch of {call_id} returned {len(answers)} times"
        if not answers:
            continue
        answer = answers[0]
        events = per_call.get(call_id, [])
        if not events:
            continue  # unadmitted (INV-2): nothing else to check
        first_update = next((e for e in events if isinstance(e, CallUpdated)), None)
        if answer.non_blocking:
            assert first_update is not None, f"INV-5: {call_id} non-blocking without update"
            assert first_update.id == call_id, f"INV-5: {call_id} released by a later update"
    for call_id in per_call:
        assert call_id in trace.results, f"INV-2: events for {call_id}, which was never dispatched"


def check_registry(trace: Trace) -> None:
    """INV-19: the registry lists exactly the admitted calls that have not ended."""
    live = {
        call_id
        for call_id, events in _per_call(trace.events).items()
        if not any(isinstance(e, CallEnded) for e in events)
    }
    assert trace.registry == live, (
        f"INV-19: registry {sorted(trace.registry)} != live {sorted(live)}"
    )


def _entry_rank(call_id: str, entry: str) -> float:
    if entry == call_id:
        return 0
    if entry == f"{call_id}_final":
        return float("inf")
    return int(entry.rsplit("_", 1)[1])


def check_chat_order(trace: Trace) -> None:
    """INV-6, INV-7: every entry's call item precedes its output; one call's entries in order."""
    for chat in trace.chats:
        positions: dict[str, list[tuple[int, str]]] = {}
        for index, item in enumerate(chat.items):
            if isinstance(item, FunctionCall | FunctionCallOutput):
                positions.setdefault(item.call_id, []).append((index, type(item).__name__))
        for entry, seen in positions.items():
            kinds = [k for _, k in seen]
            assert kinds in (["FunctionCall", "FunctionCallOutput"], ["FunctionCall"]), (
                f"INV-6: entry {entry} appears as {kinds}"
            )
        by_call: dict[str, list[tuple[int, str]]] = {}
        for entry, seen in positions.items():
            base = entry.split("_update_")[0].removesuffix("_final")
            by_call.setdefault(base, []).append((seen[0][0], entry))
        for base, entries in by_call.items():
            ordered = [e for _, e in sorted(entries)]
            assert ordered == sorted(ordered, key=lambda e: _entry_rank(base, e)), (
                f"INV-7: entries of {base} out of order: {ordered}"
            )


def check_replies(trace: Trace, *, final: bool) -> None:
    """INV-8..11, LED-4: each deferred entry in one batch, or again only after the batch that
    carried it was interrupted; outcomes once; batches in order."""
    covered: Counter[str] = Counter()
    order: dict[str, list[str]] = {}
    scheduled: dict[str, tuple[str, ...]] = {}
    outcomes: Counter[str] = Counter()
    status: dict[str, str] = {}  # speech id -> its terminal status
    last_batch: dict[str, str] = {}  # entry -> speech id of the last batch that carried it
    twice: list[str] = []
    for e in trace.events:
        if (isinstance(e, ReplyUpdated) and e.status == "scheduled") or isinstance(e, ReplyDropped):
            for entry in e.update_ids:
                if entry in covered:
                    previous = last_batch.get(entry)
                    if previous is None or status.get(previous) != "interrupted":
                        twice.append(entry)  # only an interrupted reply's entries come back
                else:
                    base = entry.split("_update_")[0].removesuffix("_final")
                    order.setdefault(base, []).append(entry)
                covered[entry] += 1
                if isinstance(e, ReplyUpdated):
                    last_batch[entry] = e.speech_id
                else:
                    last_batch.pop(entry, None)
            if isinstance(e, ReplyUpdated):
                scheduled[e.speech_id] = e.update_ids
        elif isinstance(e, ReplyUpdated):
            assert e.speech_id in scheduled, f"INV-10: outcome for unscheduled {e.speech_id}"
            assert scheduled[e.speech_id] == e.update_ids, "INV-10: outcome ids differ"
            outcomes[e.speech_id] += 1
            status[e.speech_id] = e.status
    assert not twice, f"INV-9: entries in more than one batch: {twice}"
    assert all(n <= 1 for n in outcomes.values()), "INV-10: an outcome reported twice"
    for base, entries in order.items():
        ranks = [_entry_rank(base, e) for e in entries]
        assert ranks == sorted(ranks), f"INV-8/INV-11: {base} voiced out of order: {entries}"
    if final:
        deferred = {e.id for e in trace.events if isinstance(e, CallUpdated) and e.id != e.call_id}
        for chat in trace.chats:
            deferred |= {
                i.call_id
                for i in chat.items
                if isinstance(i, FunctionCallOutput) and i.call_id.endswith("_final")
            }
        settled = {i for e in trace.events if isinstance(e, DeliverySettled) for i in e.update_ids}
        lost = sorted(deferred - set(covered) - settled)  # LED-7: a turn may cover an entry
        assert not lost, f"INV-9: entries neither voiced nor dropped: {lost}"
        missing = [s for s in scheduled if outcomes[s] != 1]
        assert not missing, f"INV-10: replies without exactly one outcome: {missing}"


def _owed(trace: Trace) -> set[str]:
    owed = {e.id for e in trace.events if isinstance(e, CallUpdated) and e.id != e.call_id}
    for chat in trace.chats:
        owed |= {
            i.call_id
            for i in chat.items
            if isinstance(i, FunctionCallOutput) and i.call_id.endswith("_final")
        }
    return owed


def check_ledger(trace: Trace, *, final: bool) -> None:
    """LED-1, LED-2, LED-3, LED-7: every owed item ends with exactly one ledger outcome, never
    two; a ``delivered`` item was in a reply that completed; a ``covered`` item was in a reply
    that completed saying nothing, or in an LLM request of a turn that completed heard."""
    outcome: dict[str, str] = {}
    completed: set[str] = set()
    skipped: set[str] = set()
    requested: dict[str, set[str]] = {}  # entry -> turns whose request held it
    scheduled: dict[str, tuple[str, ...]] = {}
    for e in trace.events:
        if isinstance(e, Requested):
            for entry in e.entries:
                requested.setdefault(entry, set()).add(e.speech_id)
        elif isinstance(e, ReplyUpdated):
            if e.status == "scheduled":
                scheduled[e.speech_id] = e.update_ids
            elif e.status == "completed":
                completed.update(scheduled.get(e.speech_id, ()))
            elif e.status == "skipped":
                skipped.update(scheduled.get(e.speech_id, ()))
        elif isinstance(e, DeliverySettled):
            for entry in e.update_ids:
                assert entry not in outcome, (
                    f"LED-1: {entry} settled twice ({outcome[entry]}, then {e.outcome})"
                )
                outcome[entry] = e.outcome
                if e.outcome == "delivered":
                    assert entry in completed, f"LED-2: {entry} delivered by no completed reply"
                if e.outcome == "covered" and entry not in skipped:
                    turns = requested.get(entry, set())
                    assert any(trace.heard.get(turn, False) for turn in turns), (
                        f"LED-3: {entry} covered, but no turn that saw it in its request "
                        f"completed heard (turns that saw it: {sorted(turns)})"
                    )
                if e.outcome == "dropped":
                    assert e.reason is not None, f"LED-1: {entry} dropped without a reason"
    if final:
        lost = sorted(_owed(trace) - set(outcome))
        assert not lost, f"LED-1: owed items without a ledger outcome: {lost}"


def check_duplicates(trace: Trace) -> None:
    """INV-20: reject never runs two equal keys; confirm duplicates were confirmed;
    replace's new call starts after every replaced call ended; JOIN-1: join never runs two
    equal keys (a joiner has no events of its own)."""
    running: dict[Any, list[str]] = {}
    for index, e in enumerate(trace.events):
        if isinstance(e, CallStarted):
            mode, key, confirm = trace.modes.get(e.call_id, ("allow", None, False))
            others = running.setdefault(key, [])
            if mode == "reject":
                assert not others, f"INV-20: {e.call_id} runs beside {others} under reject"
            if mode == "confirm" and others:
                assert confirm, f"INV-20: {e.call_id} admitted beside {others} without confirm"
            if mode == "join":
                assert not others, f"JOIN-1: {e.call_id} runs beside {others} under join"
            if mode == "replace":
                assert not others, f"INV-20: {e.call_id} started before {others} ended (replace)"
            others.append(e.call_id)
        elif isinstance(e, CallEnded):
            for calls in running.values():
                if e.call_id in calls:
                    calls.remove(e.call_id)
        del index


def check_cancel_returns(trace: Trace) -> None:
    """INV-17: cancel() returned True only after CallEnded(cancelled) was emitted."""
    for call_id, ok, event_count in trace.cancel_returns:
        if not ok:
            continue
        seen = trace.events[:event_count]
        assert any(
            isinstance(e, CallEnded) and e.call_id == call_id and e.status == "cancelled"
            for e in seen
        ), f"INV-17: cancel({call_id}) returned True before its CallEnded(cancelled)"


def check_commits(trace: Trace) -> None:
    """CAN-10, CAN-11: every cancelled call carries a cause; a committed call is cancelled
    only by the closing of its executor or by its own deadline (DLN-4)."""
    for e in trace.events:
        if isinstance(e, CallEnded) and e.status == "cancelled":
            assert e.cancel_cause is not None, f"CAN-10: {e.call_id} cancelled without a cause"
            if e.call_id in trace.committed:
                assert e.cancel_cause in ("shutdown", "timeout"), (
                    f"CAN-11: committed {e.call_id} cancelled ({e.cancel_cause})"
                )


def check_paused_replies(trace: Trace) -> None:
    """HND-2, DEL-2 (issue #18): no reply carrying entries of a paused agent's calls is
    scheduled while that agent is paused (they wait until it resumed)."""
    paused: Counter[str] = Counter()
    for e in trace.events:
        if isinstance(e, AgentPaused):
            paused[e.agent_name] += 1
        elif isinstance(e, AgentResumed):
            paused[e.agent_name] -= 1
        elif isinstance(e, ReplyUpdated) and e.status == "scheduled":
            for entry in e.update_ids:
                owner = trace.owners.get(entry.split("_update_")[0].removesuffix("_final"))
                assert owner is None or paused[owner] <= 0, (
                    f"HND-2: {entry} of {owner}'s call voiced while {owner} is paused"
                )


def check_all(trace: Trace, *, final: bool = False) -> None:
    """Run every check."""
    assert not trace.violations, f"host-side violations: {trace.violations}"
    check_call_events(trace, final=final)
    check_dispatch(trace)
    check_registry(trace)
    check_chat_order(trace)
    check_replies(trace, final=final)
    check_ledger(trace, final=final)
    check_duplicates(trace)
    check_cancel_returns(trace)
    check_commits(trace)
    check_paused_replies(trace)
