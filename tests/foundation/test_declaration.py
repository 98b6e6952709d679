"""Declaring tools (SPEC DEC-1..10; issue #2 items 2 and 3)."""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

import attrs
import pydantic
import pytest
from pydantic import Field

from anyio_tools import (
    CONFIRM_PARAM,
    DuplicateMode,
    DuplicateScope,
    FunctionCall,
    FunctionTool,
    RawFunctionTool,
    RunContext,
    ToolFlag,
    Toolset,
    function_tool,
)


class Cabin(enum.StrEnum):
    ECONOMY = "economy"
    BUSINESS = "business"


class Address(pydantic.BaseModel):
    street: str
    zip_code: str | None = None


@function_tool
async def plain(
    context: RunContext[None],
    city: str,
    days: int = 3,
    unit: Literal["C", "F"] = "C",
    cabin: Cabin = Cabin.ECONOMY,
    note: str | None = None,
    address: Address | None = None,
    size: Annotated[int, Field(ge=1, description="How many people.")] = 1,
) -> str:
    """Plan a trip.

    Args:
        city: The destination.
        days: How long to stay.
    """
    return city


def props(schema: dict[str, Any]) -> dict[str, Any]:
    return schema["parameters"]["properties"]  # type: ignore[no-any-return]


def test_plain_schema() -> None:
    """DEC-2, DEC-3: name, description, types, defaults, descriptions; no context parameter."""
    schema = plain.schema()
    assert schema["name"] == "plain"
    assert schema["description"] == "Plan a trip."
    p = props(schema)
    assert list(p) == ["city", "days", "unit", "cabin", "note", "address", "size"]
    assert "context" not in p
    assert p["city"]["type"] == "string"
    assert p["city"]["description"] == "The destination."
    assert p["days"]["default"] == 3
    assert p["days"]["description"] == "How long to stay."
    assert p["unit"]["enum"] == ["C", "F"]
    assert p["size"]["description"] == "How many people."
    assert p["size"]["minimum"] == 1
    assert schema["parameters"]["required"] == ["city"]
    assert "Cabin" in str(schema["parameters"]["$defs"])
    assert "street" in str(schema["parameters"]["$defs"]["Address"])


def test_strict_schema() -> None:
    """DEC-4: every property required, no additional properties, optional ones nullable."""
    schema = plain.schema(strict=True)
    parameters = schema["parameters"]
    assert schema["strict"] is True
    assert parameters["additionalProperties"] is False
    assert parameters["required"] == list(parameters["properties"])
    days = props(schema)["days"]
    assert "default" not in days
    assert "null" in str(days)
    address = props(schema)["address"]
    assert {"type": "null"} in address["anyOf"]
    nested = parameters["$defs"]["Address"]
    assert nested["additionalProperties"] is False
    assert nested["required"] == ["street", "zip_code"]


def test_schema_is_a_fresh_copy() -> None:
    """Changing a returned schema changes nothing in the tool."""
    schema = plain.schema()
    props(schema).clear()
    assert props(plain.schema())


@function_tool(on_duplicate="confirm")
async def confirmed(order_id: str) -> str:
    """Cancel an order."""
    return order_id


def test_confirm_parameter_in_both_variants() -> None:
    """DEC-7, scenario 17: optional boolean (default false) plain; required nullable strict."""
    plain_param = props(confirmed.schema())[CONFIRM_PARAM]
    assert plain_param["type"] == "boolean"
    assert plain_param["default"] is False
    assert CONFIRM_PARAM not in confirmed.schema()["parameters"].get("required", [])
    strict = confirmed.schema(strict=True)
    assert CONFIRM_PARAM in strict["parameters"]["required"]
    assert "null" in str(props(strict)[CONFIRM_PARAM])


async def test_confirm_parameter_never_reaches_the_function() -> None:
    """DEC-7: validation strips it, and a direct call passing it drops it too."""
    prepared = confirmed.prepare({"order_id": "5", CONFIRM_PARAM: True})
    assert prepared.confirm is True
    assert prepared.arguments == {"order_id": "5"}
    assert await confirmed(order_id="5", **{CONFIRM_PARAM: True}) == "5"  # type: ignore[call-arg]


def test_raw_tool_gains_the_confirm_parameter_without_mutating_input() -> None:
    """DEC-6, DEC-7: a raw schema is copied; confirm mode adds the parameter to the copy."""
    parameters: dict[str, Any] = {"type": "object", "properties": {"q": {"type": "string"}}}
    raw = {"name": "search", "description": "Search.", "parameters": parameters}

    @function_tool(raw_schema=raw, on_duplicate="confirm")
    async def search(raw_arguments: dict[str, Any]) -> str:
        return str(raw_arguments)

    assert isinstance(search, RawFunctionTool)
    assert CONFIRM_PARAM in props(search.schema())
    assert CONFIRM_PARAM in props(search.schema(strict=True))
    assert list(parameters["properties"]) == ["q"]
    prepared = search.prepare({"q": "x", CONFIRM_PARAM: True})
    assert prepared.confirm is True
    assert prepared.arguments == {"q": "x"}


def test_options_and_frozen_info() -> None:
    """DEC-1, DEC-5: options land in a frozen `info`."""

    @function_tool(
        name="lookup",
        description="Look things up.",
        flags=ToolFlag.CANCELLABLE,
        on_duplicate="replace",
        duplicate_scope="name_and_args",
    )
    async def anything(q: str) -> str:
        return q

    info = anything.info
    assert isinstance(anything, FunctionTool)
    assert (info.name, info.description) == ("lookup", "Look things up.")
    assert info.cancellable
    assert info.on_duplicate is DuplicateMode.REPLACE
    assert info.duplicate_scope is DuplicateScope.NAME_AND_ARGS
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        info.name = "other"  # type: ignore[misc]


class Booking:
    """Tools on a class bind to the instance."""

    def __init__(self, airline: str) -> None:
        self.airline = airline

    @function_tool
    async def book(self, ctx: RunContext[None], seat: str) -> str:
        """Book a seat.

        Args:
            seat: The seat.
        """
        return f"{self.airline} {seat}"


async def test_methods_bind_to_the_instance() -> None:
    """DEC-9: `self` is not in the schema; each instance gets its own bound tool."""
    first, second = Booking("AF"), Booking("BA")
    assert list(props(first.book.schema())) == ["seat"]
    assert first.book is first.book
    assert first.book is not second.book
    call = FunctionCall(call_id="c", name="book")
    ctx: RunContext[None] = RunContext(function_call=call)
    assert await first.book.invoke(ctx, {"seat": "1A"}) == "AF 1A"
    assert await second.book.invoke(ctx, {"seat": "2B"}) == "BA 2B"
    assert Toolset(id="t", tools=[first.book]).tools == [first.book]


def sync_tool(x: int) -> int:
    return x


async def star_args(*values: int) -> int:
    return 0


async def star_kwargs(**values: int) -> int:
    return 0


async def positional(x: int, /) -> int:
    return x


async def reserved(order_id: str, anyio_tools_confirm_duplicate: bool) -> str:
    return order_id


async def two_contexts(a: RunContext[None], b: RunContext[None]) -> None:
    return None


async def unannotated(x) -> None:  # type: ignore[no-untyped-def]
    return None


@pytest.mark.parametrize(
    ("fn", "options", "error", "words"),
    [
        (sync_tool, {}, TypeError, "define it with `async def`"),
        (star_args, {}, TypeError, r"takes \*values; give it named parameters"),
        (star_kwargs, {}, TypeError, r"takes \*\*values"),
        (positional, {}, TypeError, "positional-only; remove the '/'"),
        (reserved, {"on_duplicate": "confirm"}, TypeError, "reserved for confirming"),
        (two_contexts, {}, TypeError, "two RunContext parameters"),
        (unannotated, {}, TypeError, "'x'"),
        (positional, {"on_duplicate": "sometimes"}, ValueError, "on_duplicate must be one of"),
        (positional, {"duplicate_scope": "all"}, ValueError, "duplicate_scope must be one of"),
        (positional, {"name": "has space"}, ValueError, "is not usable"),
        (positional, {"flags": "cancellable"}, TypeError, "flags must be a ToolFlag"),
    ],
)
def test_bad_declarations_are_rejected_at_decoration(
    fn: Any, options: dict[str, Any], error: type[Exception], words: str
) -> None:
    """DEC-1: a bad declaration fails when decorated, saying what to change."""
    with pytest.raises(error, match=words):
        function_tool(**options)(fn)


def test_tool_in_a_class_body_without_self_is_refused() -> None:
    """Issue #11 item 11 / DEC-4: a tool defined in a class body whose first parameter is not
    ``self`` raises at decoration, instead of silently losing that parameter."""
    with pytest.raises(TypeError, match=r"tool 'lookup' is defined in a class body but its "):

        class Tools:
            @function_tool
            async def lookup(query: str) -> str:  # forgot self
                """Look something up."""
                return query

    with pytest.raises(TypeError, match=r"it has no parameters"):

        class Bare:
            @function_tool
            async def ping() -> str:  # type: ignore[misc]
                """Ping."""
                return "pong"

    class Fine:
        @function_tool
        async def lookup(self, query: str) -> str:
            """Look something up."""
            return query

    parameters = Fine().lookup.schema()["parameters"]
    assert isinstance(parameters, dict)
    assert list(parameters["properties"]) == ["query"]  # type: ignore[call-overload]
