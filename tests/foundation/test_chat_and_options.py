"""Conversation items, ordering, outputs, templates (SPEC CON-6, UPD-9, EXE-7, OPT-1..4)."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyio_tools import (
    GENERIC_ERROR_TEXT,
    ChatContext,
    ChatMessage,
    FunctionCall,
    FunctionCallOutput,
    StopResponse,
    ToolError,
    ToolOptions,
)


def test_items_have_unique_ids_and_monotonic_keys() -> None:
    """CON-6: every item has a unique id and a growing ordering key."""
    items = [ChatMessage(role="user", content=str(i)) for i in range(5)]
    assert len({i.id for i in items}) == 5
    assert [i.sort_key for i in items] == sorted(i.sort_key for i in items)


def test_insert_keeps_creation_order_and_is_idempotent() -> None:
    """UPD-9: out-of-order inserts end sorted; inserting an item twice keeps one copy."""
    a, b, c = (ChatMessage(role="user", content=x) for x in "abc")
    ctx = ChatContext()
    ctx.insert([c, a])
    ctx.insert(b)
    ctx.insert(a)
    assert [i.content for i in ctx.items] == ["a", "b", "c"]  # type: ignore[union-attr]
    assert ctx.get(b.id) is b
    assert ctx.index(c.id) == 2
    copy = ctx.copy()
    copy.add_message("assistant", "d")
    assert len(ctx.items) == 3
    assert len(copy.items) == 4


@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from([0.0, 1.0, 2.0]), st.integers(0, 3)), max_size=4),
        max_size=8,
    )
)
def test_insert_orders_like_a_stable_sort(batches: list[list[tuple[float, int]]]) -> None:
    """UPD-9: whatever the order of inserts, the context reads as the items stably sorted by
    ``(created_at, seq)``: an item goes after every item with a smaller or equal key;
    ``index()`` finds each item, and duplicates (same id) are ignored."""
    ctx = ChatContext()
    inserted: list[ChatMessage] = []
    for batch in batches:
        items = [
            ChatMessage(role="user", content=f"{at}/{seq}", created_at=at, seq=seq)
            for at, seq in batch
        ]
        ctx.insert(items)
        inserted.extend(items)
        if items:
            ctx.insert(items[0])  # again: nothing changes
    assert list(ctx.items) == sorted(inserted, key=lambda item: item.sort_key)
    for item in inserted:
        assert ctx.items[ctx.index(item.id)] is item


def test_outputs_from_values_and_exceptions() -> None:
    """EXE-7: values to text; ToolError verbatim; others generic; StopResponse no reply."""
    call = FunctionCall(call_id="c", name="t")
    assert FunctionCallOutput.from_value(call, 0).output == "0"
    assert FunctionCallOutput.from_value(call, {"a": [1]}).output == '{"a":[1]}'
    none = FunctionCallOutput.from_value(call, None)
    assert (none.output, none.reply_required) == ("", False)
    unusable = FunctionCallOutput.from_value(call, object())
    assert unusable.is_error
    err = FunctionCallOutput.from_exception(call, ToolError("no seats"))
    assert (err.output, err.is_error) == ("no seats", True)
    leak = FunctionCallOutput.from_exception(call, RuntimeError("db password 1234"))
    assert leak.output == GENERIC_ERROR_TEXT
    assert "1234" not in leak.output
    stop = FunctionCallOutput.from_exception(call, StopResponse())
    assert (stop.output, stop.reply_required) == ("", False)


def test_options_fill_missing_keys_from_defaults() -> None:
    """OPT-2: a partial set takes the library defaults for the rest."""
    options = ToolOptions.resolve({"update_template": "[{function_name}] {message}"})
    assert options.render_update({"function_name": "f", "call_id": "c", "message": "m"}) == "[f] m"
    assert "{call_ids_text}" in str(options.reply_at_tail_template)


def test_callable_templates_render() -> None:
    """UPD-2: a callable receives the argument mapping."""
    options = ToolOptions.resolve({"update_template": lambda args: args["message"].upper()})
    assert options.render_update({"function_name": "f", "call_id": "c", "message": "hi"}) == "HI"


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"update_templat": "x"}, ValueError, "unknown async tool option 'update_templat'"),
        ({"update_template": "{nope}"}, ValueError, "nope"),
        ({"reply_at_tail_template": "{message}"}, ValueError, "message"),
        ({"update_template": 3}, TypeError, "update_template"),
    ],
)
def test_bad_options_are_rejected_when_resolved(
    options: dict[str, object], error: type[Exception], words: str
) -> None:
    """OPT-4: unknown keys and placeholders, and wrong types, fail at resolution."""
    with pytest.raises(error, match=words):
        ToolOptions.resolve(options)


def test_tool_handling_rejects_unknown_keys() -> None:
    """OPT-4: the outer mapping is checked too."""
    with pytest.raises(ValueError, match="unknown tool_handling key 'async'"):
        ToolOptions.from_tool_handling({"async": {}})
    assert ToolOptions.from_tool_handling(None) is None


def test_fast_item_constructors_build_what_init_builds() -> None:
    """CON-6: the executor's item constructors give items equal, field for field, to the
    classes' own ``__init__`` with their defaults, with fresh ids and growing sequence
    numbers, and the items stay frozen (issue #11: no slot writes around ``__init__``)."""
    from anyio_tools._chat import new_call_item, new_output

    extra: dict[str, object] = {"non_blocking": True}
    call = new_call_item("c1", "book", '{"a": 1}', extra, 2.5)  # type: ignore[arg-type]
    assert call == FunctionCall(
        call_id="c1",
        name="book",
        arguments='{"a": 1}',
        extra={"non_blocking": True},
        id=call.id,
        created_at=2.5,
        seq=call.seq,
    )
    output = new_output("c1", "book", "done", 3.0, is_error=True, reply_required=False)
    assert output == FunctionCallOutput(
        call_id="c1",
        name="book",
        output="done",
        is_error=True,
        reply_required=False,
        id=output.id,
        created_at=3.0,
        seq=output.seq,
    )
    plain = FunctionCallOutput(call_id="c2", name="book", output="x")
    again = new_output("c2", "book", "x", 0.0)
    assert (plain.is_error, plain.reply_required) == (again.is_error, again.reply_required)
    assert call.id.startswith("fc_")
    assert output.id.startswith("fco_")
    assert len({call.id, output.id, plain.id, again.id}) == 4
    assert call.seq < output.seq < plain.seq < again.seq
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        output.output = "changed"  # type: ignore[misc]
