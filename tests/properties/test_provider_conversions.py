"""Every chat context the executor and the runtime can create converts to requests that each
provider accepts (issue #13 item 2; SPEC CON-5, CON-8, EXE-7..9, EXE-12, UPD-7..10, HOST-7).

Two generators: real sessions driven by the session program (every request its LLM received,
with the running-call placeholders, and every agent's context after each command), and
hand-built histories that add what a session rarely makes (answers that never come, orphan
outputs, duplicate ids, blank texts, system messages). Each context is converted for Chat
Completions, Responses and Anthropic, with and without tools, and checked by the validators of
the fake servers (tests/llm/validators.py). Quick in `make test`; `make soak` draws many more.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import attrs
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from anyio_tools import FunctionCall, FunctionCallOutput, function_tool
from anyio_tools._chat import AgentHandoff, ChatContext, ChatItem, ChatMessage
from anyio_tools.openai import chat_messages
from anyio_tools.runtime import LLMRequest
from tests.llm.checks import provider_violations

from .session_scenario import session_scenario
from .test_session_program import session_commands

_SOAK = os.environ.get("HYPOTHESIS_PROFILE") == "soak"
_SESSION_EXAMPLES = 1_000 if _SOAK else 50
_HISTORY_EXAMPLES = 5_000 if _SOAK else 200


@function_tool
async def book(origin: str) -> str:
    """Book.

    Args:
        origin: Where from.
    """
    return origin


def _check(ctx: ChatContext, *, extra: str | None = None) -> None:
    for tool_choice in ("auto", "none"):
        request = LLMRequest(
            chat_ctx=ctx,
            tools=[book],
            tool_choice=tool_choice,  # type: ignore[arg-type]
            instructions="Be brief.",
            extra_instructions=extra,
        )
        errors = provider_violations(request)
        assert errors == [], (errors, list(ctx.items))


@pytest.mark.virtual_time  # the conversations of test_session_program.py
@settings(deadline=None, max_examples=_SESSION_EXAMPLES)
@given(program=st.lists(session_commands, max_size=30))
async def test_session_contexts_convert_for_every_provider(program: list[object]) -> None:
    """Each context of a generated conversation (updates, finals, errors, interruptions,
    handoffs, placeholders of running calls) passes the validators of every provider."""
    async with session_scenario() as sc:
        assert sc.llm is not None
        seen = 0
        for command in program:
            await sc.apply(command)  # type: ignore[arg-type]
            note(repr(command))
            for request in sc.llm.requests[seen:]:
                errors = provider_violations(request)
                assert errors == [], (errors, list(request.chat_ctx.items))
            seen = len(sc.llm.requests)
            for agent in sc.agents:
                _check(agent.chat_ctx.copy())
            _check(sc.session.history.copy())


@dataclass(frozen=True)
class User:
    blank: bool


@dataclass(frozen=True)
class System:
    pass


@dataclass(frozen=True)
class Step:
    calls: tuple[str, ...]  # per call, when its answer comes: before/after the text, later, never
    text: bool
    interrupted: bool
    delay: int
    long_ids: bool


@dataclass(frozen=True)
class Pair:
    kind: str  # "update", "final", "placeholder", "duplicate"
    pick: int


@dataclass(frozen=True)
class Marker:
    kind: str  # "handoff", "orphan", "say"


Op = User | System | Step | Pair | Marker

ops: st.SearchStrategy[Op] = st.one_of(
    st.builds(User, blank=st.booleans()),
    st.just(System()),
    st.builds(
        Step,
        calls=st.lists(st.sampled_from(["before", "after", "later", "never"]), max_size=3).map(
            tuple
        ),
        text=st.booleans(),
        interrupted=st.booleans(),
        delay=st.integers(1, 4),
        long_ids=st.booleans(),
    ),
    st.builds(
        Pair,
        kind=st.sampled_from(["update", "final", "placeholder", "duplicate"]),
        pick=st.integers(0, 20),
    ),
    st.builds(Marker, kind=st.sampled_from(["handoff", "orphan", "say"])),
)


def _history(program: list[Op]) -> list[ChatItem]:
    """Items with creation times as the runtime gives them: a step's calls first, its text
    after playout, its answers before or after the text, or commands later, or never."""
    items: list[ChatItem] = []
    call_ids: list[str] = []
    updates: dict[str, int] = {}

    def add(item: ChatItem, t: float) -> None:
        items.append(attrs.evolve(item, created_at=t))

    def pair(call_id: str, text: str, t: float, *, is_error: bool = False) -> None:
        add(FunctionCall(call_id=call_id, name="book", arguments='{"origin": "CDG"}'), t)
        add(FunctionCallOutput(call_id=call_id, name="book", output=text, is_error=is_error), t)

    for t, op in enumerate(program):
        if isinstance(op, User):
            add(ChatMessage(role="user", content="   " if op.blank else f"user {t}"), t)
        elif isinstance(op, System):
            add(ChatMessage(role="system", content=f"rule {t}"), t)
        elif isinstance(op, Step):
            made = []
            for index in range(len(op.calls)):
                # A provider's id of 30 characters, as Anthropic's are: its derived ids pass
                # OpenAI's 40-character limit after 100 updates.
                call_id = (
                    f"toolu_01{t:02d}{index}{'x' * 19}" if op.long_ids else f"call_{t}_{index}"
                )
                call_ids.append(call_id)
                made.append(call_id)
                add(FunctionCall(call_id=call_id, name="book", arguments="{}"), t)
            if op.text:
                message = ChatMessage(
                    role="assistant", content=f"said {t}", interrupted=op.interrupted
                )
                add(message, t + 0.5)
            for call_id, when in zip(made, op.calls, strict=True):
                at = {"before": t + 0.25, "after": t + 0.75, "later": t + op.delay + 0.9}.get(when)
                if at is not None:
                    add(
                        FunctionCallOutput(call_id=call_id, name="book", output=f"out {call_id}"),
                        at,
                    )
        elif isinstance(op, Pair):
            if op.kind == "placeholder":
                pair(f"running_{t}", "This call is still running; its result will come later.", t)
                continue
            if not call_ids:
                continue
            base = call_ids[op.pick % len(call_ids)]
            if op.kind == "update":
                updates[base] = updates.get(base, 0) + 1 + op.pick * 10  # up to _update_<200+>
                pair(f"{base}_update_{updates[base]}", "progress", t)
            elif op.kind == "final":
                pair(f"{base}_final", "result", t)
            else:
                pair(base, f"call id {base!r} is already in use", t, is_error=True)
        elif op.kind == "handoff":
            add(AgentHandoff(old_agent="a", new_agent="b"), t)
        elif op.kind == "orphan":
            add(FunctionCallOutput(call_id=f"ghost_{t}", name="book", output="?"), t)
        else:
            add(ChatMessage(role="assistant", content=f"say {t}"), t)
    return items


@settings(deadline=None, max_examples=_HISTORY_EXAMPLES)
@given(program=st.lists(ops, max_size=25), extra=st.sampled_from([None, "Reply now."]))
def test_generated_histories_convert_for_every_provider(
    program: list[Op], extra: str | None
) -> None:
    """Every intermediate context of a generated history passes every provider's validator."""
    ordered = ChatContext(_history(program)).items
    for end in range(len(ordered) + 1):
        _check(ChatContext(ordered[:end]), extra=extra)
    _check_answers_precede_later_texts(ordered)


def _check_answers_precede_later_texts(ordered: Sequence[ChatItem]) -> None:
    """CON-5: an answer the history holds before an assistant text (the next step's) is sent
    before that text too, so the LLM reads the step's results before what it said after them."""
    position = {
        (item.output if isinstance(item, FunctionCallOutput) else item.content): index
        for index, item in enumerate(ordered)
        if isinstance(item, FunctionCallOutput)
        or (isinstance(item, ChatMessage) and item.role == "assistant")
    }
    sent: list[str] = []
    for message in chat_messages(ChatContext(ordered)):
        if message["role"] == "tool":
            sent.append(message["content"])
        elif message["role"] == "assistant" and message["content"]:
            sent.extend(message["content"].split("\n"))
    answers = [text for text in sent if text.startswith("out ")]  # unique per step call
    texts = [text for text in sent if text.startswith(("said ", "say "))]  # unique per op
    for answer in answers:
        for text in texts:
            if position[answer] < position[text]:
                assert sent.index(answer) < sent.index(text), (answer, text, sent)
