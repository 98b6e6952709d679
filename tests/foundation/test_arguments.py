"""From the LLM's text to a validated call (SPEC EXE-3, DEC-8, DUP-2; issue #2 item 4)."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field

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


# -- the fast paths of 2026-11-25 behave like the general ones ---------------------------


class Leg(BaseModel):
    origin: str
    stops: int = 0


async def _plan(
    schema: str,
    count: int = 2,
    legs: list[Leg] | None = None,
    budget: Annotated[int, Field(gt=0, description="Budget.")] = 100,
) -> str:
    """Plan."""
    return schema


plan_unkeyed = function_tool(name="plan")(_plan)
plan_keyed = function_tool(name="plan", on_duplicate="reject", duplicate_scope="name_and_args")(
    _plan
)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"schema": "a"}, {"schema": "a", "count": 2, "legs": None, "budget": 100}),
        ({"schema": "a", "count": "3"}, {"schema": "a", "count": 3, "legs": None, "budget": 100}),
        ({"schema": "a", "count": None}, {"schema": "a", "count": 2, "legs": None, "budget": 100}),
        (
            {"schema": "a", "legs": [{"origin": "CDG", "stops": None}]},
            {"schema": "a", "count": 2, "legs": [Leg(origin="CDG")], "budget": 100},
        ),
        ({"schema": "a", "budget": "7"}, {"schema": "a", "count": 2, "legs": None, "budget": 7}),
        ({"schema": "a", "budget": 0}, None),
        ({"p0_schema": "a"}, None),
        ({"schema": 5}, None),
        ({"schema": "a", "count": "many"}, None),
        ({"schema": "a", "extra": 1}, None),
        ({}, None),
    ],
)
def test_unkeyed_validation_matches_the_model(
    arguments: dict[str, object], expected: dict[str, object] | None
) -> None:
    """DEC-8: a tool without a duplicate key validates into the same values and errors as one
    with a key (which builds the pydantic model); a renamed parameter keeps its name."""
    fast = plan_unkeyed.prepare(dict(arguments))
    model = plan_keyed.prepare(dict(arguments))
    assert fast.arguments == model.arguments == expected
    if expected is None:
        assert fast.error is not None
        assert model.error is not None
        assert fast.error.message == model.error.message
    else:
        assert fast.error is None


def test_unkeyed_tools_take_the_fields_validator() -> None:
    """The fast path is in use for a plain signature (a pydantic upgrade could change that),
    and it gives the field values as a plain dict, keyed by field name, with no model built."""
    from anyio_tools._schema import fields_validator

    validate = fields_validator(plan_unkeyed._model.model)
    assert validate is not None
    fields = validate({"schema": "a", "count": "3"})
    assert type(fields) is dict
    assert fields == {"p0_schema": "a", "count": 3, "legs": None, "budget": 100}
    assert fields_validator(BaseModel) is not None  # no fields: validates only {}


@pytest.mark.parametrize(
    "text",
    ['{"a": 1}', ' {"a": 1}', '{"a": 1}\n', '\t{"a": [1, {"b": null}]}  ', '{"a": "x y"}'],
)
def test_json_that_fills_the_text_parses_unrepaired(text: str) -> None:
    """EXE-3: valid JSON, with or without surrounding whitespace, is taken as it is."""
    import json

    parsed = parse_arguments("t", text)
    assert parsed.value == json.loads(text)
    assert parsed.text == text
    assert parsed.repaired is False


def test_json_with_extra_data_goes_to_repair() -> None:
    """EXE-3: text after the object makes the input malformed: repaired when one object can be
    recovered, refused with a typed error otherwise."""
    parsed = parse_arguments("t", '{"a": 1} x')
    assert (parsed.value, parsed.text, parsed.repaired) == ({"a": 1}, '{"a": 1}', True)
    with pytest.raises(InvalidArgumentsError, match="could not be repaired into an object"):
        parse_arguments("t", '{"a": 1}{"b": 2}')


# -- limits and repairs of issue #12 (the scenarios are in test_argument_limits.py) ------


@pytest.mark.parametrize("cut", [False, True])
def test_depth_limit_is_100_levels(cut: bool) -> None:
    """#12.3: 100 levels parse, valid or cut short; 101 are refused with the limit named."""
    from anyio_tools._arguments import MAX_DEPTH

    def nested(levels: int) -> str:
        text = '{"a": ' + "[" * (levels - 1) + "1" + "]" * (levels - 1) + "}"
        return text[:-3] if cut else text

    assert MAX_DEPTH == 100
    assert parse_arguments("t", nested(100)).value["a"] is not None
    with pytest.raises(InvalidArgumentsError, match="more than 100 levels deep; expected"):
        parse_arguments("t", nested(101))


def test_size_limits_are_exact() -> None:
    """#12.4: MAX_ARGUMENT_CHARS characters are parsed, one more is refused; a text of
    MAX_TOKENS characters is never refused for its tokens."""
    from anyio_tools._arguments import MAX_ARGUMENT_CHARS, MAX_TOKENS

    filler = MAX_ARGUMENT_CHARS - len('{"a": ""}')
    assert parse_arguments("t", '{"a": "' + "x" * filler + '"}').repaired is False
    with pytest.raises(InvalidArgumentsError, match="characters long, more than the limit"):
        parse_arguments("t", '{"a": "' + "x" * (filler + 1) + '"}')
    commas = '{"a": [' + "0," * ((MAX_TOKENS - 10) // 2) + "0]}"
    assert len(commas) <= MAX_TOKENS
    assert parse_arguments("t", commas).repaired is False


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("{origin: CDG, seats: 2}", {"origin": "CDG", "seats": 2}),
        ("{'a': True, 'b': None, 'c': False}", {"a": True, "b": None, "c": False}),
        ('{"a": 1 "b": [1 2]}', {"a": 1, "b": [1, 2]}),
        ('{"a": 1, // the first\n "b": /* two */ 2}', {"a": 1, "b": 2}),
        ("{'say': 'it\\'s \"fine\"'}", {"say": 'it\'s "fine"'}),
        ('{"a": "line one\nline two"}', {"a": "line one\nline two"}),
        ("{'a': [1, {'b': 'c'", {"a": [1, {"b": "c"}]}),
        ('{"a": 1, "b": }', {"a": 1}),
        ('"\\"{\\\\\\"a\\\\\\": 1}\\""', {"a": 1}),
    ],
)
def test_lenient_repair_fixes_what_llms_get_wrong(text: str, value: dict[str, object]) -> None:
    """EXE-3: unquoted keys, Python literals, missing commas, comments, single quotes holding
    quotes, raw newlines in strings, cut-short single quotes, dangling keys, double encoding."""
    parsed = parse_arguments("t", text)
    assert parsed.value == value
    import json

    assert json.loads(parsed.text) == value


def test_encoding_more_than_three_times_is_refused() -> None:
    """EXE-3: a JSON string holding a JSON string is unwrapped three times at most."""
    import json

    text = json.dumps({"a": 1})
    for _ in range(4):
        text = json.dumps(text)
    with pytest.raises(InvalidArgumentsError, match="encoded more than 3 times"):
        parse_arguments("t", text)
