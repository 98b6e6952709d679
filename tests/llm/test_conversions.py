"""The pure conversions: each state the executor can create becomes a request the provider
accepts, in the shape the README's mapping table documents (issue #13 item 2)."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from anyio_tools import FunctionCall, FunctionCallOutput, function_tool
from anyio_tools._chat import AgentHandoff, ChatContext, ChatItem, ChatMessage
from anyio_tools._llmio._steps import PENDING_TEXT
from anyio_tools.anthropic import (
    CONTINUE_TEXT,
    OPENING_TEXT,
    anthropic_messages,
    anthropic_request,
    anthropic_tools,
)
from anyio_tools.openai import (
    chat_messages,
    chat_request,
    chat_tools,
    responses_input,
    responses_request,
    responses_tools,
)
from anyio_tools.runtime import LLMRequest

from .checks import provider_violations


@function_tool
async def book(origin: str, seats: int = 1) -> str:
    """Book a flight.

    Args:
        origin: Where from.
        seats: How many seats.
    """
    return "ok"


def _ctx(*items: ChatItem) -> ChatContext:
    # Explicit times keep the given order whatever the construction order.
    ctx = ChatContext()
    for t, item in enumerate(items):
        ctx.insert(_at(item, float(t)))
    return ctx


def _at(item: ChatItem, t: float) -> ChatItem:
    return attrs.evolve(item, created_at=t)


def _call(call_id: str, arguments: str = '{"origin": "CDG"}') -> FunctionCall:
    return FunctionCall(call_id=call_id, name="book", arguments=arguments)


def _out(call_id: str, text: str = "done", **kw: Any) -> FunctionCallOutput:
    return FunctionCallOutput(call_id=call_id, name="book", output=text, **kw)


def _user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def _assistant(text: str, **kw: Any) -> ChatMessage:
    return ChatMessage(role="assistant", content=text, **kw)


def _request(ctx: ChatContext, **kw: Any) -> LLMRequest:
    options: dict[str, Any] = {"tools": [book], "tool_choice": "auto", "instructions": "Be brief."}
    options.update(kw)
    return LLMRequest(chat_ctx=ctx, **options)


# The history: the step's call is created before the step's text is committed.
STEP = (
    _user("book"),
    _call("c1"),
    _assistant("Sure, looking."),
    _out("c1", "looking up flights"),
)


def test_step_text_and_calls_make_one_assistant_message() -> None:
    """CON-5: a step's call and its later text become one assistant message, answered next."""
    messages = chat_messages(_ctx(*STEP), instructions="Be brief.")
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "book"},
        {
            "role": "assistant",
            "content": "Sure, looking.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "book", "arguments": '{"origin": "CDG"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "looking up flights"},
    ]
    assert responses_input(_ctx(*STEP)) == [
        {"type": "message", "role": "user", "content": "book"},
        {"type": "message", "role": "assistant", "content": "Sure, looking."},
        {
            "type": "function_call",
            "call_id": "c1",
            "name": "book",
            "arguments": '{"origin": "CDG"}',
        },
        {"type": "function_call_output", "call_id": "c1", "output": "looking up flights"},
    ]
    assert anthropic_messages(_ctx(*STEP)) == [
        {"role": "user", "content": [{"type": "text", "text": "book"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Sure, looking."},
                {"type": "tool_use", "id": "c1", "name": "book", "input": {"origin": "CDG"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": "looking up flights"}
            ],
        },
    ]


def test_update_and_final_pairs_become_their_own_call_and_answer() -> None:
    """CON-8, UPD-7, EXE-9: derived-id pairs are calls of their own, each answered at once;
    the deferred reply's text follows them."""
    ctx = _ctx(
        *STEP,
        _assistant("On it."),
        _user("and a hotel?"),
        _call("c1_update_1"),
        _out("c1_update_1", "found 3 flights"),
        _assistant("Found three flights."),
        _call("c1_final"),
        _out("c1_final", "booked", is_error=False),
        _assistant("Booked!"),
    )
    messages = chat_messages(ctx)
    roles = [
        (m["role"], m.get("tool_call_id") or [c["id"] for c in m.get("tool_calls", [])])
        for m in messages
    ]
    assert roles == [
        ("user", []),
        ("assistant", ["c1"]),
        ("tool", "c1"),
        ("assistant", []),
        ("user", []),
        ("assistant", ["c1_update_1"]),
        ("tool", "c1_update_1"),
        ("assistant", ["c1_final"]),
        ("tool", "c1_final"),
        ("assistant", []),
    ]
    assert messages[3]["content"] == "On it."
    assert messages[7]["content"] == "Found three flights."
    assert provider_violations(_request(ctx)) == []
    # Anthropic: the final assistant turn is followed by the continue text (no prefill).
    assert anthropic_messages(ctx)[-1] == {
        "role": "user",
        "content": [{"type": "text", "text": CONTINUE_TEXT}],
    }


def test_update_pair_between_a_call_and_its_step_text() -> None:
    """UPD-9: a background call's update may land between another step's call and its text;
    every call is still answered right after the assistant message that holds it."""
    ctx = _ctx(
        _user("go"),
        _call("c2"),
        _call("c1_update_1"),
        _out("c1_update_1", "progress"),
        _assistant("Working."),
        _out("c2", "result"),
    )
    assert provider_violations(_request(ctx)) == []
    messages = chat_messages(ctx)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "assistant"]
    assert {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"} == {
        "c2": "result",
        "c1_update_1": "progress",
    }


def test_running_call_placeholder_and_pending_call() -> None:
    """HOST-7: the placeholder pair is a normal call and answer; a call without any output
    gets the pending text instead of breaking the request."""
    ctx = _ctx(
        _user("status?"),
        _call("c9"),
        _out("c9", "This call is still running; its result will come later.", reply_required=False),
        _call("c10"),
    )
    assert provider_violations(_request(ctx)) == []
    tools = [m for m in chat_messages(ctx) if m["role"] == "tool"]
    assert [m["content"] for m in tools][-1] == PENDING_TEXT


def test_interrupted_and_empty_messages() -> None:
    """An interrupted reply keeps what was said; empty and blank texts are left out (Anthropic
    rejects empty text blocks)."""
    ctx = _ctx(
        _user("hi"),
        _assistant("Hello, I was say", interrupted=True),
        _user("   "),
        _assistant(""),
        _user("go on"),
    )
    assert provider_violations(_request(ctx)) == []
    assert chat_messages(ctx) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello, I was say"},
        {"role": "user", "content": "go on"},
    ]


def test_anthropic_roles_alternate_and_results_come_first() -> None:
    """Anthropic: one user message holds the step's results first, then the user's next text;
    a conversation opened by the assistant gets an opening user text."""
    ctx = _ctx(_assistant("Welcome!"), _user("book"), _call("c1"), _out("c1"), _user("thanks"))
    messages = anthropic_messages(ctx)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"][0]["text"] == OPENING_TEXT
    assert [b["type"] for b in messages[4]["content"]] == ["tool_result", "text"]
    assert provider_violations(_request(ctx)) == []


def test_anthropic_without_tools_writes_calls_as_text() -> None:
    """An agent without tools (after a handoff) still sees the calls, as text: Anthropic
    rejects tool blocks in a request that defines no tools."""
    ctx = _ctx(*STEP, AgentHandoff(old_agent="a", new_agent="b"), _user("hello"))
    body = anthropic_request(_request(ctx, tools=[]))
    assert "tools" not in body
    assert "tool_choice" not in body
    texts = [b["text"] for m in body["messages"] for b in m["content"]]
    assert '(called book {"origin": "CDG"})' in texts
    assert "(result of book: looking up flights)" in texts


def test_errors_duplicates_and_bad_arguments() -> None:
    """EXE-5d: a rejected duplicate id gets a unique id; is_error reaches Anthropic; arguments
    that are not a JSON object are sent as {}."""
    ctx = _ctx(
        _user("x"),
        _call("c1"),
        _out("c1"),
        _call("c1", arguments="not json"),
        _out("c1", "call id 'c1' is already in use", is_error=True),
    )
    assert provider_violations(_request(ctx)) == []
    body = anthropic_request(_request(ctx))
    uses = [b for m in body["messages"] for b in m["content"] if b["type"] == "tool_use"]
    assert [u["id"] for u in uses] == ["c1", "c1_dup1"]
    assert uses[1]["input"] == {}
    results = [b for m in body["messages"] for b in m["content"] if b["type"] == "tool_result"]
    assert results[1]["is_error"] is True


def test_orphan_outputs_and_system_messages() -> None:
    """An output with no call is dropped; system messages stay in place for OpenAI and join the
    system text for Anthropic; extra instructions come last."""
    ctx = _ctx(_out("ghost"), ChatMessage(role="system", content="Rules."), _user("hi"))
    request = _request(ctx, extra_instructions="Reply now.", tool_choice="none")
    assert provider_violations(request) == []
    body = chat_request(request)
    assert [m["role"] for m in body["messages"]] == ["system", "system", "user", "system"]
    assert body["tool_choice"] == "none"
    anthropic = anthropic_request(request)
    assert anthropic["system"] == "Be brief.\n\nRules.\n\nReply now."
    assert anthropic["tool_choice"] == {"type": "none"}
    assert responses_request(request)["instructions"] == "Be brief.\n\nReply now."


def test_tool_schemas_are_strict_where_supported() -> None:
    """DEC-6: OpenAI gets the strict schema (every property required, defaults nullable);
    Anthropic gets the plain schema as input_schema."""
    (chat,) = chat_tools([book])
    assert chat["type"] == "function"
    function = chat["function"]
    assert function["strict"] is True
    assert function["parameters"]["required"] == ["origin", "seats"]
    assert function["parameters"]["additionalProperties"] is False
    assert function["description"].startswith("Book a flight.")
    assert function["parameters"]["properties"]["origin"]["description"] == "Where from."
    (flat,) = responses_tools([book])
    assert flat["name"] == "book"
    assert flat["strict"] is True
    (anthropic,) = anthropic_tools([book])
    assert anthropic["input_schema"]["type"] == "object"
    assert anthropic["input_schema"]["required"] == ["origin"]
    assert "strict" not in anthropic
    (strict,) = anthropic_tools([book], strict=True)
    assert strict["strict"] is True
    assert strict["input_schema"]["required"] == ["origin", "seats"]
    assert chat_tools([book], strict=False)[0]["function"].get("strict") is None
    assert json.dumps(chat)  # plain JSON


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_tool_choice(choice: str) -> None:
    """Tool choice maps to each provider's form ("required" is Anthropic's "any")."""
    request = _request(_ctx(_user("x")), tool_choice=choice)
    assert chat_request(request)["tool_choice"] == choice
    assert responses_request(request)["tool_choice"] == choice
    expected = {"auto": "auto", "none": "none", "required": "any"}[choice]
    assert anthropic_request(request)["tool_choice"] == {"type": expected}


def test_long_derived_ids_are_shortened_consistently() -> None:
    """CON-8: "<30-character id>_update_100" is 41 characters, past Chat Completions' 40; it is
    shortened the same way in the call and its answer, and stays unique."""
    base = "toolu_01" + "x" * 22
    ctx = _ctx(
        _user("go"),
        _call(base),
        _out(base),
        _call(f"{base}_update_100"),
        _out(f"{base}_update_100", "progress"),
        _call(f"{base}_update_101"),
        _out(f"{base}_update_101", "more"),
    )
    assert provider_violations(_request(ctx)) == []
    messages = chat_messages(ctx)
    ids = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    assert ids[0] == base
    assert all(len(i) <= 40 for i in ids)
    assert len(set(ids)) == 3
    assert ids[1].startswith(base)
