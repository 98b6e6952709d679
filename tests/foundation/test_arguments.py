"""From the LLM's text to a validated call (SPEC EXE-3, DEC-8, DUP-2; issue #2 item 4)."""

from __future__ import annotations

import pytest

from anyio_tools import InvalidArgumentsError, ToolError, function_tool, parse_arguments
from anyio_tools._arguments import canonical_json


@function_tool(duplicate_scope="name_and_args", on_duplicate="reject")
async def book(
    origin: str, seats: int = 1, price: float = 0.0, tags: list[str] | None = None
) -> str:
    """Book."""
    return origin


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"origin": "CDG"}', {"origin": "CDG"}),
        ('{"origin": "CDG",}', {"origin": "CDG"}),
        ("{'origin': 'CDG'}", {"origin": "CDG"}),
        ('```json\n{"origin": "CDG"}\n```', {"origin": "CDG"}),
        ('<|im_start|>{"origin": "CDG"}<|im_end|>', {"origin": "CDG"}),
        ('"{\\"origin\\": \\"CDG\\"}"', {"origin": "CDG"}),
        ("", {}),
        ("null", {}),
    ],
)
def test_repair_yields_an_object_and_canonical_text(text: str, value: dict[str, str]) -> None:
    """EXE-3: malformed JSON is repaired; the text written back is valid JSON for the value."""
    parsed = parse_arguments("book", text)
    assert parsed.value == value
    import json

    assert json.loads(parsed.text) == value
    assert parsed.repaired is (text != parsed.text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("book it please", "not valid JSON"),
        ("[1, 2]", "expected a JSON object of named arguments, got an array"),
        ("42", "got a number"),
    ],
)
def test_unrepairable_text_is_a_tool_error(text: str, words: str) -> None:
    """EXE-3: the error names the tool and says what was expected."""
    with pytest.raises(InvalidArgumentsError, match=words) as caught:
        parse_arguments("book", text)
    assert isinstance(caught.value, ToolError)
    assert "Invalid arguments for `book`" in caught.value.message


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"origin": "CDG", "seat": "1A"}, "unexpected argument 'seat'"),
        ({}, "missing required argument 'origin'"),
        ({"origin": "CDG", "seats": "many"}, "argument 'seats'"),
    ],
)
def test_validation_errors_name_tool_parameter_and_expectation(
    arguments: dict[str, object], words: str
) -> None:
    """DEC-8: the message is what an LLM needs to correct itself."""
    prepared = book.prepare(dict(arguments))
    assert prepared.arguments is None
    assert prepared.error is not None
    message = prepared.error.message
    assert message.startswith("Invalid arguments for `book`")
    assert words in message
    assert "Expected: origin (string, required)" in message


def test_null_means_the_default() -> None:
    """DEC-8: null for a parameter with a default uses the default."""
    prepared = book.prepare({"origin": "CDG", "seats": None, "tags": None})
    assert prepared.arguments == {"origin": "CDG", "seats": 1, "price": 0.0, "tags": None}


def test_canonical_key_ignores_key_order_and_equivalent_values() -> None:
    """DUP-2: omitted equals default, 1 equals 1.0 for a float, lists keep their order."""
    a = book.prepare({"origin": "CDG", "price": 1})
    b = book.prepare({"price": 1.0, "origin": "CDG", "seats": 1})
    c = book.prepare({"origin": "CDG", "tags": ["x", "y"]})
    d = book.prepare({"origin": "CDG", "tags": ["y", "x"]})
    assert a.key == b.key
    assert a.key[0] == "book"
    assert c.key != d.key
    assert canonical_json({"b": {"d": 1, "c": [2, 1]}, "a": 0}) == canonical_json(
        {"a": 0, "b": {"c": [2, 1], "d": 1}}
    )


def test_invalid_arguments_fall_back_to_the_raw_key() -> None:
    """DUP-2: validation failure gives a key from the raw arguments, without raising."""
    first = book.prepare({"origin": 5, "zz": 1})
    second = book.prepare({"zz": 1, "origin": 5})
    assert first.error is not None
    assert first.key == second.key
    assert first.key[1] is not None
