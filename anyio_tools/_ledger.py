"""The delivery ledger: one outcome for every item the executor owes the conversation
(issue #15; the LED rules below).

An *owed item* is an update after the first or a final result of a call (UPD-7, UPD-10): it is
in the chat at once, and a deferred reply should voice it. The first update is not owed: the
turn that made the call answers with it.

- **LED-1 One outcome.** Every owed item ends with exactly one outcome, reported once by a
  `DeliverySettled` event and kept on its call's ledger (`CallHandle.deliveries`):
  ``delivered``, ``covered``, ``superseded`` or ``dropped`` with a `DropReason`. When the
  executor closes, every item still owed is dropped (``activity_closed`` or ``session_closed``).
- **LED-2 Delivered.** A reply that carried the item completed and the host counted it heard
  (`reply_heard`): only then is the item ``delivered``.
- **LED-3 Covered.** A reply that carried the item completed without producing anything (the
  LLM saw the item and had nothing to add), or a *normal turn* covered it: the item was still
  queued when the chat context of one of that turn's LLM requests was built, it was in that
  context, and the turn then completed heard (the same notion as LED-2, through its speech
  handle). The host reports it (`ToolExecutor.queued_updates_in` when building a request,
  `ToolExecutor.mark_covered` when the turn completed). A covered item leaves the queue (no
  deferred reply voices it), gets one ``covered`` outcome, and counts as settled for
  everything that waits for settlement (DEL-9, so `RunContext.foreground`: the covering turn
  is the reply that covers it, INV-16). An item added to the chat after the request was built
  is not covered by it; a turn that was interrupted (or failed) covers nothing, and its items
  stay owed for a deferred reply (LED-4 merging applies).
- **LED-4 Re-delivery.** A reply that was not heard (interrupted, or its playout failed) puts
  its items back at the head of the queue: they are voiced at the next idle, merged with
  whatever else is pending, still one reply per idle period. An item is voiced at most
  ``1 + max_redeliveries`` times (default 2 re-deliveries); after that it is
  ``dropped(retries_exhausted)``. An item of a call that ended cancelled is not voiced again:
  ``dropped(cancelled)``.
- **LED-5 Superseded.** When items are put back, an update (never a final result) is
  ``superseded`` if a later item of the same call is put back with it or already queued: the
  later item is voiced instead, and it says where the call stands now.
- **LED-6 Events.** `DeliverySettled(update_ids, outcome, reason)` per group of items settled
  together, emitted after the `ReplyUpdated` outcome or `ReplyDropped` that settled them.
- **LED-7 Covering turns in the reference runtime.** Every turn of `anyio_tools.runtime`
  that asks the LLM (a user turn, ``generate_reply``, and each follow-up step after its tools,
  including the step after the tool phase in which the item was made) notes, per executor
  of the session and of its activity, the queued items in its request's chat context once the
  step's generation succeeded. When the turn ends heard (``SpeechHandle.heard``: done, not
  interrupted) and did not fail, it marks them covered; the ones a deferred reply took in the
  meantime are not queued any more and keep that reply's outcome (LED-1: one outcome). A
  deferred reply's own turn covers nothing beyond its batch (LED-2, LED-3 settle that batch);
  a `say` turn asks no LLM and covers nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import final

import attrs

from ._chat import FunctionCall, FunctionCallOutput
from ._events import DeliveryOutcome, DropReason
from ._host import ReplyHandle, ReplyTarget

__all__ = ["CallLedger", "CallMark", "Delivery", "Owed", "reply_heard", "supersede"]


@final
@attrs.frozen
class Delivery:
    """Where one owed item of a call stands in the delivery ledger.

    Args:
        id: The item's entry id (``{call_id}_update_{k}`` or ``{call_id}_final``).
        outcome: Its outcome, or None while it is still owed.
        reason: Why it was dropped (``dropped`` only).
        attempts: How many replies carried it so far.
    """

    id: str
    outcome: DeliveryOutcome | None
    reason: DropReason | None = None
    attempts: int = 0


@final
class CallMark:
    """What an owed item knows of its call: whether it ended cancelled (LED-4).

    Owed items point to their call's mark, not to its ledger, which points to them: no
    reference cycle per owed item, so a call's ledger is freed by reference counting alone.
    """

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False


@final
class CallLedger:
    """The owed items of one call, in the order they were made."""

    __slots__ = ("items", "mark")

    def __init__(self) -> None:
        self.items: list[Owed] = []
        self.mark = CallMark()  # shared by the call's owed items

    @property
    def cancelled(self) -> bool:
        """Whether the call ended cancelled (LED-4: its items are not voiced again)."""
        return self.mark.cancelled

    @cancelled.setter
    def cancelled(self, value: bool) -> None:
        self.mark.cancelled = value

    def snapshot(self) -> tuple[Delivery, ...]:
        """Return where each owed item stands, in update order."""
        return tuple(
            Delivery(item.output.call_id, item.outcome, item.reason, item.attempts)
            for item in self.items
        )


@final
class Owed:
    """One owed item: its chat pair, where it was inserted, and its ledger state."""

    __slots__ = ("attempts", "call", "dropped_for", "ledger", "outcome", "output", "target")

    dropped_for: DropReason  # set with a ``dropped`` outcome only

    def __init__(
        self,
        call: FunctionCall,
        output: FunctionCallOutput,
        target: ReplyTarget,
        ledger: CallLedger,
    ) -> None:
        self.call = call
        self.output = output
        self.target = target
        self.ledger = ledger.mark  # the call's mark, not its ledger (no cycle)
        self.attempts = 0
        self.outcome: DeliveryOutcome | None = None
        ledger.items.append(self)

    @property
    def reason(self) -> DropReason | None:
        """Why the item was dropped (``dropped`` only)."""
        return self.dropped_for if self.outcome is DeliveryOutcome.DROPPED else None

    @property
    def final(self) -> bool:
        """Whether the item is its call's final result."""
        return self.output.call_id.endswith("_final")


def reply_heard(handle: ReplyHandle) -> bool:
    """Return whether the user heard a finished reply, as its host decides (LED-2).

    A handle may say so itself with a ``heard`` attribute (the reference runtime's
    `SpeechHandle` and the testing `FakeReply` do: the reply's text was played to the end).
    Otherwise a reply that was not interrupted counts as heard.
    """
    heard = getattr(handle, "heard", None)
    if isinstance(heard, bool):
        return heard
    return not handle.interrupted


def supersede(back: Sequence[Owed], queued: Sequence[Owed]) -> tuple[list[Owed], list[Owed]]:
    """Split items put back after an unheard reply into (kept, superseded) (LED-5).

    An update is superseded when a later item of the same call is in ``back`` after it or
    anywhere in ``queued``; a final result never is.
    """
    later: set[int] = {id(item.ledger) for item in queued}
    kept: list[Owed] = []
    superseded: list[Owed] = []
    for item in reversed(back):
        key = id(item.ledger)
        if key in later and not item.final:
            superseded.append(item)
        else:
            kept.append(item)
        later.add(key)
    kept.reverse()
    superseded.reverse()
    return kept, superseded
