"""Conversation items and the ordered chat context (SPEC CON-6, UPD-9, HOST-1).

Every item carries a unique ``id`` and an ordering key ``(created_at, seq)``: ``created_at`` is
read from anyio's clock (so virtual clocks reach it) and ``seq`` from a process-wide counter
that only hands out increasing numbers. ``ChatContext.insert`` places an item after every item
with a smaller or equal key, so an item created earlier but committed later (the inline answer
of a tool's first update) still sorts before items created after it, even under a frozen clock.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final, Literal, TypeAlias, final

import anyio
import attrs

from ._errors import StopResponse, ToolError
from ._values import GENERIC_ERROR_TEXT, UNUSABLE_VALUE_TEXT, value_text

__all__ = [
    "AgentHandoff",
    "ChatContext",
    "ChatItem",
    "ChatMessage",
    "ChatRole",
    "FunctionCall",
    "FunctionCallOutput",
    "JSONValue",
]

JSONValue: TypeAlias = "dict[str, JSONValue] | list[JSONValue] | str | int | float | bool | None"
"""A value that JSON can represent."""

ChatRole: TypeAlias = Literal["system", "developer", "user", "assistant"]
"""Who said a chat message."""

_seq: Final = itertools.count(1)


def current_time() -> float:
    """Read anyio's clock for an item's ``created_at`` (0.0 outside an event loop)."""
    # Outside an event loop (an item built at import time, or in sync code) there is no clock
    # to read; 0.0 sorts such items before anything created while the conversation runs.
    try:
        return anyio.current_time()
    except RuntimeError:
        return 0.0


Clock: TypeAlias = Callable[[], float]
"""Reads a clock: anyio's, for ``created_at``."""


def _next_seq() -> int:
    return next(_seq)


def _item_id(prefix: str) -> str:
    return f"{prefix}_{next(_seq)}"


def _message_id() -> str:
    return _item_id("msg")


def _call_item_id() -> str:
    return _item_id("fc")


def _output_item_id() -> str:
    return _item_id("fco")


def _handoff_id() -> str:
    return _item_id("handoff")


@final
@attrs.frozen(kw_only=True)
class ChatMessage:
    """A message said by the user, the assistant, or given as instructions.

    Args:
        role: Who said it.
        content: The text.
        interrupted: Whether an assistant message was cut short while it played.
    """

    role: ChatRole
    content: str
    interrupted: bool = False
    id: str = attrs.field(factory=_message_id)
    created_at: float = attrs.field(factory=current_time)
    seq: int = attrs.field(factory=_next_seq)

    @property
    def sort_key(self) -> tuple[float, int]:
        """The ordering key ``(created_at, seq)``."""
        return (self.created_at, self.seq)


@final
@attrs.frozen(kw_only=True)
class FunctionCall:
    """The LLM's request to call a tool.

    Args:
        call_id: The id the LLM gave the call; its answer carries the same id.
        name: The tool's name.
        arguments: The arguments, as the text of a JSON object.
        extra: Metadata about the call (for instance whether it runs in the background).
    """

    call_id: str
    name: str
    arguments: str = "{}"
    extra: dict[str, JSONValue] = attrs.field(factory=dict)
    id: str = attrs.field(factory=_call_item_id)
    created_at: float = attrs.field(factory=current_time)
    seq: int = attrs.field(factory=_next_seq)

    @property
    def sort_key(self) -> tuple[float, int]:
        """The ordering key ``(created_at, seq)``."""
        return (self.created_at, self.seq)


@final
@attrs.frozen(kw_only=True)
class FunctionCallOutput:
    """The answer to one `FunctionCall`, sharing its ``call_id``.

    Args:
        call_id: The id of the call this answers.
        name: The tool's name.
        output: The text the LLM sees.
        is_error: Whether the text reports a failure.
        reply_required: Whether the LLM should reply to this output.
    """

    call_id: str
    name: str
    output: str
    is_error: bool = False
    reply_required: bool = True
    id: str = attrs.field(factory=_output_item_id)
    created_at: float = attrs.field(factory=current_time)
    seq: int = attrs.field(factory=_next_seq)

    @property
    def sort_key(self) -> tuple[float, int]:
        """The ordering key ``(created_at, seq)``."""
        return (self.created_at, self.seq)

    @classmethod
    def from_value(
        cls, call: FunctionCall, value: object, *, created_at: float | None = None
    ) -> FunctionCallOutput:
        """Build the answer for a value a tool returned.

        A str is used as it is; other valid values (scalars, and lists, tuples, sets and dicts
        of them) become ``str(value)``; ``None`` becomes an empty text that asks for no reply;
        anything else becomes an error saying the value is unusable.

        Args:
            call: The call this answers.
            value: What the tool returned.
            created_at: The creation time; anyio's clock is read when omitted.
        """
        now = current_time() if created_at is None else created_at
        return output_for_value(call.call_id, call.name, value, now)

    @classmethod
    def from_exception(
        cls, call: FunctionCall, exc: BaseException, *, created_at: float | None = None
    ) -> FunctionCallOutput:
        """Build the answer for an exception a tool raised.

        A `ToolError` gives its message verbatim, as an error. `StopResponse` gives an empty
        text that asks for no reply. Anything else gives a fixed generic error text that shows
        nothing of the exception.

        Args:
            call: The call this answers.
            exc: What the tool raised.
            created_at: The creation time; anyio's clock is read when omitted.
        """
        now = current_time() if created_at is None else created_at
        return output_for_exception(call.call_id, call.name, exc, now)


# -- construction on the hot path ----------------------------------------------------------
#
# An update creates two items and a call's answer one, so these build them with the classes'
# own ``__init__`` (public attrs API only, issue #11) and draw one number from the counter per
# item, used for both its ``id`` and its ``seq`` (``__init__``'s factories draw two). The
# default ``reply_required``/``is_error`` values are passed along so that no default is looked up.


def new_call_item(
    call_id: str, name: str, arguments: str, extra: dict[str, JSONValue], created_at: float
) -> FunctionCall:
    """Return ``FunctionCall(call_id=, name=, arguments=, extra=, created_at=)``."""
    seq = next(_seq)
    return FunctionCall(
        call_id=call_id,
        name=name,
        arguments=arguments,
        extra=extra,
        id=f"fc_{seq}",
        created_at=created_at,
        seq=seq,
    )


def new_output(
    call_id: str,
    name: str,
    output: str,
    created_at: float,
    is_error: bool = False,
    reply_required: bool = True,
) -> FunctionCallOutput:
    """Return ``FunctionCallOutput(call_id=, name=, output=, ..., created_at=)``."""
    seq = next(_seq)
    return FunctionCallOutput(
        call_id=call_id,
        name=name,
        output=output,
        is_error=is_error,
        reply_required=reply_required,
        id=f"fco_{seq}",
        created_at=created_at,
        seq=seq,
    )


def new_update_pair(
    call: FunctionCall, entry_id: str, text: str, created_at: float
) -> tuple[FunctionCall, FunctionCallOutput]:
    """Return an update's pair: a copy of ``call`` under ``entry_id``, and its output ``text``.

    Both items share one clock reading; their sequence numbers order them (INV-6). The copy
    takes a copy of the call's metadata, so later changes to it do not leak in (UPD-4).
    """
    name = call.name
    item = new_call_item(entry_id, name, call.arguments, dict(call.extra), created_at)
    return item, new_output(entry_id, name, text, created_at)


def output_for_value(
    call_id: str, name: str, value: object, created_at: float
) -> FunctionCallOutput:
    """The output `FunctionCallOutput.from_value` builds, under any call id."""
    if value is None:
        return new_output(call_id, name, "", created_at, reply_required=False)
    text = value_text(value)
    if text is None:
        return new_output(call_id, name, UNUSABLE_VALUE_TEXT, created_at, is_error=True)
    return new_output(call_id, name, text, created_at)


def output_for_exception(
    call_id: str, name: str, exc: BaseException, created_at: float
) -> FunctionCallOutput:
    """The output `FunctionCallOutput.from_exception` builds, under any call id."""
    if isinstance(exc, StopResponse):
        return new_output(call_id, name, "", created_at, reply_required=False)
    if isinstance(exc, ToolError):
        return new_output(call_id, name, exc.message, created_at, is_error=True)
    return new_output(call_id, name, GENERIC_ERROR_TEXT, created_at, is_error=True)


@final
@attrs.frozen(kw_only=True)
class AgentHandoff:
    """A marker in the history: the conversation passed from one agent to another.

    Args:
        old_agent: The name of the agent that left, or None at the start of a session.
        new_agent: The name of the agent that took over.
    """

    old_agent: str | None
    new_agent: str
    id: str = attrs.field(factory=_handoff_id)
    created_at: float = attrs.field(factory=current_time)
    seq: int = attrs.field(factory=_next_seq)

    @property
    def sort_key(self) -> tuple[float, int]:
        """The ordering key ``(created_at, seq)``."""
        return (self.created_at, self.seq)


ChatItem: TypeAlias = ChatMessage | FunctionCall | FunctionCallOutput | AgentHandoff
"""Any item of a chat context."""

_ITEM_TYPES: Final = (ChatMessage, FunctionCall, FunctionCallOutput, AgentHandoff)


def _sort_key(item: ChatItem) -> tuple[float, int]:
    return (item.created_at, item.seq)


@final
class ChatContext:
    """An ordered list of chat items: what an LLM sees, or a session's history.

    Items are kept sorted by their ``(created_at, seq)`` key; inserting an item that is
    already present (same ``id``) does nothing. Inserting at the end, the common case, costs
    the same however long the context is. Nothing here blocks or awaits.

    Args:
        items: Initial items, put in key order.
    """

    __slots__ = ("_by_id", "_items")

    def __init__(self, items: Iterable[ChatItem] = ()) -> None:
        self._items: list[ChatItem] = []
        self._by_id: dict[str, ChatItem] = {}
        self.insert(sorted(items, key=_sort_key))

    @property
    def items(self) -> Sequence[ChatItem]:
        """The items in order. A live, read-only view: use `insert` to change it."""
        return self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[ChatItem]:
        return iter(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._by_id

    def __repr__(self) -> str:
        return f"ChatContext({len(self._items)} items)"

    @property
    def last_item(self) -> ChatItem | None:
        """The newest item, or None when empty."""
        return self._items[-1] if self._items else None

    def get(self, item_id: str) -> ChatItem | None:
        """Return the item with this id, or None."""
        return self._by_id.get(item_id)

    def index(self, item_id: str) -> int:
        """Return the position of the item with this id.

        Raises:
            KeyError: No item has this id.
        """
        item = self._by_id.get(item_id)
        if item is None:
            raise KeyError(f"no item with id {item_id!r} in this chat context")
        position = bisect.bisect_left(self._items, _sort_key(item), key=_sort_key)
        while self._items[position] is not item:
            position += 1
        return position

    def insert(self, items: ChatItem | Iterable[ChatItem]) -> None:
        """Insert items by their ordering key, each after every item with a smaller or equal key.

        Items already present (by id) are skipped, so inserting twice is harmless.
        """
        if not isinstance(items, (list, tuple)):  # a tuple of types: cheaper than a union
            items = (items,) if isinstance(items, _ITEM_TYPES) else list(items)
        by_id = self._by_id
        listed = self._items
        for item in items:
            item_id = item.id
            if item_id in by_id:
                continue
            by_id[item_id] = item
            if listed:
                last = listed[-1]
                # The common case, at the end in O(1): a key no smaller than the last one.
                created_at = item.created_at
                if created_at < last.created_at or (
                    created_at == last.created_at and item.seq < last.seq
                ):
                    position = bisect.bisect_right(listed, _sort_key(item), key=_sort_key)
                    listed.insert(position, item)
                    continue
            listed.append(item)

    def add_message(
        self, role: ChatRole, content: str, *, interrupted: bool = False
    ) -> ChatMessage:
        """Create a message now and insert it; return it."""
        message = ChatMessage(role=role, content=content, interrupted=interrupted)
        self.insert(message)
        return message

    def copy(self) -> ChatContext:
        """Return an independent context with the same items (the items are immutable)."""
        clone = ChatContext()
        clone._items = list(self._items)
        clone._by_id = dict(self._by_id)
        return clone
