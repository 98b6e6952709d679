"""Fuzzing `parse_arguments` (SPEC EXE-3, INV-6; issue #12 item 3, #21 item 4).

Any text either parses to an object written back as valid JSON, or is refused with
`InvalidArgumentsError`; nothing else escapes. A JSON object cut at any point comes back with
every member that was complete before the cut. The ``default`` profile keeps this to about a
second; ``HYPOTHESIS_PROFILE=soak`` (``make soak``) runs more examples.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, note
from hypothesis import strategies as st

from anyio_tools import InvalidArgumentsError, ParsedArguments, parse_arguments

# Characters that matter to JSON, to its repair, and to what LLMs wrap around it.
JSONISH = [*"{}[]\"':,`\\/ \n\t*abtrufnl0123456789.-e", "```", "<|im_end|>", "[ARGS]"]
WRAPPERS = [
    "",
    " ",
    "\n",
    "```",
    "```json\n",
    "\n```",
    "<|im_start|>",
    "<|im_end|>",
    "[TOOL_CALLS]",
]


def pieces(max_size: int, *, extra: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[str]:
    """Text made of JSON-ish pieces (and ``extra`` characters)."""
    piece = st.sampled_from(JSONISH) if extra is None else st.sampled_from(JSONISH) | extra
    return st.lists(piece, max_size=max_size).map("".join)


strings = pieces(8, extra=st.characters())
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | strings
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(strings, children, max_size=4)
    ),
    max_leaves=8,
)
objects = st.dictionaries(strings, values, max_size=5)
formats = st.sampled_from(
    [{"ensure_ascii": True}, {"ensure_ascii": False}, {"ensure_ascii": False, "indent": 2}]
)


@st.composite
def nested(draw: st.DrawFn) -> str:
    """Arrays and objects nested up to 1,200 deep (past json's recursion limit), closed or
    not, double or single quoted."""
    depth = draw(st.integers(0, 120) | st.integers(900, 1_200))
    opener, closer = draw(
        st.sampled_from([("[", "]"), ('{"a": ', "}"), ("{'a': ", "}"), ("{a: [", "]}")])
    )
    inner = draw(st.sampled_from(["1", '"x"', "'x'", "", "```json\n{}\n```", "{"]))
    prefix = draw(st.sampled_from(["{'k': ", "{'q': '\"', 'k': ", '{"q": "\'", "k": ']))
    text = prefix + opener * depth + inner
    if draw(st.booleans()):
        text += closer * depth + "}"
    return text


@st.composite
def truncated(draw: st.DrawFn) -> str:
    """Valid JSON for an object, maybe single-quoted, cut anywhere."""
    text = json.dumps(draw(objects), **draw(formats))
    if draw(st.booleans()):
        text = text.replace('"', "'")
    return text[: draw(st.integers(0, len(text)))]


texts = st.one_of(
    st.text(),
    pieces(40).map(lambda text: "{" + text),
    pieces(40),
    nested(),
    truncated(),
)
wrapped = st.builds(
    lambda before, text, after: before + text + after,
    st.sampled_from(WRAPPERS),
    texts,
    st.sampled_from(WRAPPERS),
)


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _outcome(text: str) -> ParsedArguments | InvalidArgumentsError:
    """What parse_arguments gives: its result or its refusal (any other exception escapes)."""
    try:
        return parse_arguments("fuzz", text)
    except InvalidArgumentsError as exc:
        note(f"refused: {exc.message}")
        return exc


@given(text=wrapped)
def test_any_text_is_an_object_or_invalid_arguments(text: str) -> None:
    """#12.3, EXE-3: parse_arguments returns an object whose text is valid JSON for it, or
    raises InvalidArgumentsError naming the tool; no other exception, for any text."""
    parsed = _outcome(text)
    if isinstance(parsed, InvalidArgumentsError):
        assert parsed.message.startswith("Invalid arguments for `fuzz`: ")
        return
    assert isinstance(parsed.value, dict)
    assert _same(json.loads(parsed.text), parsed.value)
    assert parsed.repaired is (parsed.text != text)


@given(text=nested())
def test_nesting_is_refused_beyond_the_limit_only(text: str) -> None:
    """#12.3: nesting is refused beyond 100 levels with a message saying so, never raised."""
    parsed = _outcome(text)
    if isinstance(parsed, InvalidArgumentsError) and "levels deep" in parsed.message:
        assert text.count("[") + text.count("{") > 100


@given(obj=objects, fmt=formats, cut=st.integers(0, 10**6))
def test_truncation_keeps_every_complete_member(
    obj: dict[str, Any], fmt: dict[str, Any], cut: int
) -> None:
    """#21.4, EXE-3: a serialised object cut anywhere parses, and every member complete before
    the cut comes back equal; no key appears that was not in the object. Uncut, it is taken as
    it is."""
    text = json.dumps(obj, **fmt)
    cut = cut % (len(text) + 1) or len(text)
    closing = len(json.dumps({"k": 0}, **fmt)) - len(json.dumps({"k": 0}, **fmt).rstrip("}\n"))
    items = list(obj.items())
    complete = [
        key
        for i, (key, _) in enumerate(items)
        if len(json.dumps(dict(items[: i + 1]), **fmt)) - closing <= cut
    ]
    note(f"cut text: {text[:cut]!r}")
    parsed = parse_arguments("fuzz", text[:cut])
    assert set(parsed.value) <= set(obj)
    for key in complete:
        assert _same(parsed.value[key], obj[key]), key
    if cut == len(text):
        assert (parsed.text, parsed.repaired) == (text, False)
