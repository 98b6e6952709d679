"""One long-lived task per executor that voices queued updates in coalesced replies (SPEC
UPD-7, DEL-1..9, SC-7; the ledger and re-delivery of issue #15, LED-1..6 in `_ledger`).

Updates are inserted into the chat at once (eagerly) and queued here. The deliverer takes the
first queued entry, waits until the host can take a reply, then, in one synchronous step, takes
everything queued at that moment, re-targets it if needed, and asks the host for one reply. So
k updates made during one busy period give exactly one reply. Nothing accepted is lost: every
entry ends up in a scheduled reply or in one `ReplyDropped`, and in exactly one ledger outcome
(`DeliverySettled`): a reply that was not heard puts its entries back for the next idle (LED-4).

What one reply's instructions carry is bounded (issue #12 item 9): the ``call_ids`` and
``call_ids_text`` given to the reply templates (DEL-6) name at most the first
`NAMED_IDS_PER_REPLY` entry ids of the batch, and ``call_ids_text`` then ends with
``"…and 37 more updates"``. Building them touches at most that many entries, however long the
batch. Every entry is still in the chat (inserted at once, UPD-7) and in the reply's
`ReplyUpdated` events (``update_ids`` lists the whole batch, INV-9): only the text is bounded.

Only the cancellation of the deliverer's own scope (or an enclosing one) stops it. Anything
else a host raises while a reply plays out, including a cancellation exception nobody asked for
(asyncio raises one in a task that awaits a future someone else cancelled), is logged and
reported as the reply's terminal ``ReplyUpdated(interrupted)`` (INV-10), and delivery goes on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Container, Sequence
from typing import Final, final

import anyio
from anyio import get_cancelled_exc_class
from anyio.lowlevel import checkpoint

from ._chat import ChatItem, FunctionCall, FunctionCallOutput
from ._errors import ActivityClosedError, SessionClosedError
from ._events import (
    DeliveryOutcome,
    DeliverySettled,
    DropReason,
    ReplyDropped,
    ReplyStatus,
    ReplyUpdated,
)
from ._floor import current_holder
from ._host import ReplyHandle, ReplyTarget, ToolHost, emit_safely
from ._ledger import CallLedger, Owed, reply_heard, supersede
from ._options import ReplyPromptArgs, ToolOptions, render

__all__ = ["NAMED_IDS_PER_REPLY", "Deliverer", "Entry", "InFlight", "reply_prompt_args"]

logger = logging.getLogger("anyio_tools.delivery")

Entry = Owed
"""A queued update: its call item, its output, where it was inserted eagerly, its ledger."""

InFlight = tuple[ReplyHandle, list[Owed], tuple[str, ...]]
"""A scheduled reply, the entries it carries and their ids."""


def _ids(entries: Sequence[Entry]) -> tuple[str, ...]:
    return tuple(entry.output.call_id for entry in entries)


def _first_time(entries: Sequence[Entry]) -> int:
    # DEL-9 counts an entry settled once: when a reply first carried it, or when it dropped.
    return sum(1 for entry in entries if entry.attempts == 0)


_LOGGED_IDS = 10

NAMED_IDS_PER_REPLY: Final = 50
"""How many entry ids the instructions of one reply name at most (issue #12 item 9)."""


def reply_prompt_args(ids: Sequence[str]) -> ReplyPromptArgs:
    """The reply templates' arguments for a batch: at most `NAMED_IDS_PER_REPLY` ids named.

    Reads ``len(ids)`` and the named ids only, so its cost does not grow with the batch.
    """
    count = len(ids)
    named = [ids[i] for i in range(min(count, NAMED_IDS_PER_REPLY))]
    text = ", ".join(named)
    if count > len(named):
        rest = count - len(named)
        text += f", …and {rest} more update{'s' if rest > 1 else ''}"
    return {"call_ids": named, "call_ids_text": text}


def _own_cancellation() -> bool:
    # anyio reports -inf when the current scope or an enclosing one was cancelled: only then
    # is a cancellation exception ours to obey. asyncio also raises one in a task that merely
    # awaited a future someone else cancelled (issue #12 item 1).
    return anyio.current_effective_deadline() == -math.inf


def _ids_text(ids: Sequence[str]) -> str:
    # For log lines: a drop of thousands of updates names the first few, not all of them.
    if len(ids) <= _LOGGED_IDS:
        return ", ".join(ids)
    return f"{', '.join(ids[:_LOGGED_IDS])} and {len(ids) - _LOGGED_IDS} more"


@final
class Deliverer:
    """Queue of one executor's updates and the loop that voices them.

    Args:
        host: The executor's host.
        options: The templates of the executor.
        closed_reason: What dropped entries are reported with when the executor closes.
        close_timeout: How long closing waits for a reply in flight to finish.
        max_redeliveries: How many more replies may carry an entry after the first was not
            heard (LED-4).
    """

    __slots__ = (
        "_accepted",
        "_arrived",
        "_close_timeout",
        "_closed_reason",
        "_host",
        "_max_redeliveries",
        "_open",
        "_options",
        "_queue",
        "_settled",
        "_settled_changed",
        "_spawn",
    )

    def __init__(
        self,
        host: ToolHost,
        options: ToolOptions,
        *,
        closed_reason: DropReason,
        close_timeout: float,
        max_redeliveries: int = 2,
    ) -> None:
        self._host = host
        self._max_redeliveries = max_redeliveries
        self._options = options
        self._closed_reason = closed_reason
        self._close_timeout = close_timeout
        # Unbounded on purpose: update() must never block on delivery (SC-7). The queue only
        # holds updates a running tool made, each already in the chat.
        # A list, not a deque: an empty deque takes 760 bytes, one per executor (issue #19).
        self._queue: list[Entry] = []
        self._open = False
        self._spawn: Callable[[], None] | None = None
        self._arrived: anyio.Event | None = None
        self._accepted = 0
        self._settled = 0
        # Created by the first waiter only: most replies settle with nobody waiting.
        self._settled_changed: anyio.Event | None = None

    def open(self, spawn: Callable[[], None] | None = None) -> None:
        """Start accepting entries (when the executor is entered).

        Args:
            spawn: Starts the task that runs `run`; called once, at the first entry queued
                (issue #19 item 5: an executor that never defers an update has no such task).
        """
        self._open = True
        self._spawn = spawn

    # -- producer side (synchronous, called from update() and from a call's end) -----------

    @property
    def accepted(self) -> int:
        """How many entries were accepted so far."""
        return self._accepted

    @property
    def pending(self) -> int:
        """How many accepted entries are not settled yet."""
        return self._accepted - self._settled

    def enqueue(
        self, call: FunctionCall, output: FunctionCallOutput, ledger: CallLedger | None = None
    ) -> None:
        """Insert an update into the chat now and queue it for a reply (UPD-7, LED-1)."""
        host = self._host
        target = host.eager_target()
        pair: tuple[ChatItem, ...] = (call, output)
        host.insert_items(target, pair)
        host.record_history(pair)
        self._accepted += 1
        entry = Owed(call, output, target, CallLedger() if ledger is None else ledger)
        if not self._open:
            self._drop([entry], self._closed_reason)
            return
        self._queue.append(entry)
        logger.debug("update %s: queued for a deferred reply", output.call_id)
        spawn = self._spawn
        if spawn is not None:
            self._spawn = None
            spawn()
        self._wake()

    def queued_in(self, chat: Container[str]) -> list[str]:
        """Return the ids of the queued entries whose output is in ``chat`` (LED-7).

        Costs nothing when nothing is queued, however long the chat.
        """
        return [entry.output.call_id for entry in self._queue if entry.output.id in chat]

    def mark_covered(self, ids: Collection[str]) -> None:
        """Settle queued entries with these ids as ``covered`` (LED-3); others are ignored."""
        queue = self._queue
        covered = [entry for entry in queue if entry.output.call_id in ids]
        if not covered:
            return
        kept = [entry for entry in queue if entry.output.call_id not in ids]
        queue.clear()
        queue.extend(kept)
        self._settle(_first_time(covered))
        self._record(covered, DeliveryOutcome.COVERED, None)

    def close(self) -> None:
        """Accept nothing more; later entries are dropped at once."""
        self._open = False
        self._wake()

    def _wake(self) -> None:
        arrived = self._arrived
        if arrived is not None:
            self._arrived = None
            arrived.set()

    async def _wait_for_entry(self) -> bool:
        # A checkpoint first, as a queue's receive() would; then wait for the first entry.
        # False once the deliverer was closed with nothing queued.
        await checkpoint()
        while not self._queue:
            if not self._open:
                return False
            arrived = self._arrived = anyio.Event()
            await arrived.wait()
        return True

    async def wait_settled(self, count: int) -> None:
        """Wait until the first ``count`` accepted entries are scheduled, covered (LED-3) or
        dropped (DEL-9)."""
        while self._settled < count:
            changed = self._settled_changed
            if changed is None:
                changed = self._settled_changed = anyio.Event()
            await changed.wait()
        await anyio.lowlevel.checkpoint()

    # -- the delivery loop ----------------------------------------------------------------

    async def run(self) -> None:
        """Voice queued entries until cancelled or closed (the executor's ``deliver`` task)."""
        current_holder.set(None)  # CTX-7c: a deliverer never acts for a floor holder
        in_flight: InFlight | None = None
        try:
            while True:
                if not await self._wait_for_entry():
                    return
                try:
                    target = await self._host.wait_for_idle()
                except ActivityClosedError as exc:
                    reason = (
                        DropReason.SESSION_CLOSED
                        if isinstance(exc, SessionClosedError)
                        else DropReason.ACTIVITY_CLOSED
                    )
                    self._drop(self._take(), reason)
                    continue
                except get_cancelled_exc_class():
                    if _own_cancellation():
                        raise
                    logger.exception("the host raised a stray cancellation while waiting for idle")
                    self._drop(self._take(), DropReason.HOST_ERROR)
                    continue
                except Exception:
                    logger.exception("the host failed while waiting for idle")
                    self._drop(self._take(), DropReason.HOST_ERROR)
                    continue
                # DEL-4: from here to the scheduling, no checkpoint.
                in_flight = self._schedule(target, self._take())
                if in_flight is None:
                    continue
                handle = in_flight[0]
                try:
                    await handle.wait_for_playout()
                except get_cancelled_exc_class():
                    if _own_cancellation():
                        raise
                    logger.exception(
                        "reply %s raised a stray cancellation during playout", handle.id
                    )
                    self._report_outcome(*in_flight, failed=True)
                except Exception:
                    logger.exception("reply %s failed during playout", handle.id)
                    self._report_outcome(*in_flight, failed=True)
                else:
                    self._report_outcome(*in_flight)
                in_flight = None
        except get_cancelled_exc_class():
            self._open = False  # entries arriving from now on are dropped at once
            self._drop(self._take(), self._closed_reason)
            if in_flight is not None:
                await self._finish_in_flight(*in_flight)
            raise
        finally:
            self._open = False
            self._drop(self._take(), self._closed_reason)  # every entry settles (DEL-9)

    def _take(self) -> list[Entry]:
        entries = list(self._queue)
        self._queue.clear()
        return entries

    def _schedule(self, target: ReplyTarget, entries: list[Entry]) -> InFlight | None:
        if not entries:
            return None
        host = self._host
        ids = _ids(entries)
        try:
            for entry in entries:
                if entry.target is not target:
                    # DEL-5: the agent that speaks the reply must also keep the entry.
                    logger.warning(
                        "update %s was made for another agent; inserting it into the new one",
                        entry.output.call_id,
                    )
                    host.insert_items(target, (entry.call, entry.output))
                    entry.target = target
            args = reply_prompt_args(ids)
            at_tail = host.last_item_id(target) == entries[-1].output.id
            options = self._options
            template = (
                options.reply_at_tail_template if at_tail else options.reply_maybe_covered_template
            )
            instructions = render(template, args)
            handle = host.generate_reply(target, instructions=instructions)
        except Exception:
            logger.exception("could not schedule the reply for updates %s", _ids_text(ids))
            self._drop(entries, DropReason.HOST_ERROR)
            return None
        self._settle(_first_time(entries))
        for entry in entries:
            entry.attempts += 1
        emit_safely(host, ReplyUpdated(ids, ReplyStatus.SCHEDULED, handle.id))
        logger.debug("reply %s: scheduled for updates %s", handle.id, _ids_text(ids))
        return handle, entries, ids

    def _report_outcome(
        self,
        handle: ReplyHandle,
        entries: list[Entry],
        ids: tuple[str, ...],
        *,
        failed: bool = False,
    ) -> None:
        # DEL-8 and LED-2..4: the host decides what was heard; what was not goes back.
        if failed or not reply_heard(handle):
            emit_safely(self._host, ReplyUpdated(ids, ReplyStatus.INTERRUPTED, handle.id))
            self._redeliver(entries)
        elif not handle.chat_items:
            emit_safely(self._host, ReplyUpdated(ids, ReplyStatus.SKIPPED, handle.id))
            self._record(entries, DeliveryOutcome.COVERED, None)
        else:
            emit_safely(self._host, ReplyUpdated(ids, ReplyStatus.COMPLETED, handle.id))
            logger.debug("reply %s: completed for updates %s", handle.id, _ids_text(ids))
            self._record(entries, DeliveryOutcome.DELIVERED, None)

    def _redeliver(self, entries: list[Entry]) -> None:
        # LED-4, LED-5: back to the head of the queue (older than anything queued since),
        # unless the call was cancelled, the attempts are used up, or a later item says more.
        if not self._open:
            self._drop(entries, self._closed_reason)
            return
        cancelled = [entry for entry in entries if entry.ledger.cancelled]
        limit = self._max_redeliveries
        exhausted = [e for e in entries if not e.ledger.cancelled and e.attempts > limit]
        again = [e for e in entries if not e.ledger.cancelled and e.attempts <= limit]
        kept, superseded = supersede(again, self._queue)
        self._drop(cancelled, DropReason.CANCELLED)
        self._drop(exhausted, DropReason.RETRIES_EXHAUSTED)
        self._record(superseded, DeliveryOutcome.SUPERSEDED, None)
        if kept:
            logger.info("re-delivering updates %s at the next idle", _ids_text(_ids(kept)))
            self._queue[:0] = kept
            self._wake()

    async def _finish_in_flight(
        self, handle: ReplyHandle, entries: list[Entry], ids: tuple[str, ...]
    ) -> None:
        # DEL-8: exactly one outcome per scheduled reply, even when closing.
        failed = False
        with anyio.move_on_after(self._close_timeout, shield=True) as scope:
            try:
                await handle.wait_for_playout()
            except get_cancelled_exc_class():
                if scope.cancel_called:
                    raise  # the bound was hit: move_on_after absorbs it
                logger.exception("reply %s raised a stray cancellation while closing", handle.id)
                failed = True
            except Exception:
                logger.exception("reply %s failed while closing", handle.id)
                failed = True
        if scope.cancelled_caught:
            logger.warning("reply %s did not finish while closing; reported interrupted", handle.id)
        # Closing: nothing can be voiced again, so _redeliver drops what was not heard.
        self._report_outcome(handle, entries, ids, failed=failed or scope.cancelled_caught)

    def _drop(self, entries: list[Entry], reason: DropReason) -> None:
        if not entries:
            return
        ids = _ids(entries)
        self._settle(_first_time(entries))
        level = logging.WARNING if reason is DropReason.HOST_ERROR else logging.INFO  # issue #17
        logger.log(level, "dropped the reply for updates %s (%s)", _ids_text(ids), reason)
        emit_safely(self._host, ReplyDropped(ids, reason))
        self._record(entries, DeliveryOutcome.DROPPED, reason)

    def _record(
        self, entries: list[Entry], outcome: DeliveryOutcome, reason: DropReason | None
    ) -> None:
        # LED-1: exactly one outcome per entry; an entry settled before is left as it was.
        ids = []
        for entry in entries:
            if entry.outcome is None:
                entry.outcome = outcome
                if reason is not None:
                    entry.dropped_for = reason
                ids.append(entry.output.call_id)
        if ids:
            emit_safely(self._host, DeliverySettled(tuple(ids), outcome, reason))

    def _settle(self, count: int) -> None:
        self._settled += count
        changed, self._settled_changed = self._settled_changed, None
        if changed is not None:
            changed.set()
