"""The demonstration run by ``make demo``: declare tools, show their schemas, check arguments.

It uses public names only, so it doubles as an example of the API.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Literal, TextIO

import anyio
from pydantic import Field

from ._arguments import parse_arguments
from ._chat import FunctionCall
from ._context import RunContext
from ._errors import ToolError
from ._info import ToolFlag
from ._tools import function_tool

__all__ = ["run_demo"]


class Cabin(StrEnum):
    """Seat classes a flight can be booked in."""

    ECONOMY = "economy"
    BUSINESS = "business"


@function_tool(on_duplicate="confirm", flags=ToolFlag.CANCELLABLE)
async def book_flight(
    ctx: RunContext[None],
    origin: str,
    destination: str,
    cabin: Cabin = Cabin.ECONOMY,
    passengers: Annotated[int, Field(ge=1, le=9, description="How many people fly.")] = 1,
) -> str:
    """Book a flight.

    Args:
        origin: IATA code of the departure airport.
        destination: IATA code of the arrival airport.
        cabin: The seat class.
    """
    await ctx.update(f"searching flights {origin} to {destination}")
    return f"booked {passengers} {cabin.value} seat(s) {origin}-{destination}"


@function_tool
async def weather(city: str, unit: Literal["C", "F"] = "C") -> str:
    """Tell the weather in a city.

    Args:
        city: The city's name.
        unit: Degrees Celsius or Fahrenheit.
    """
    return f"sunny, 21 degrees {unit} in {city}"


_PAYLOADS = (
    ("well-formed", '{"origin": "CDG", "destination": "JFK", "passengers": 2}'),
    ("repaired", "```json\n{'origin': 'CDG', 'destination': 'JFK',}\n```"),
    ("null means default", '{"origin": "CDG", "destination": "JFK", "cabin": null}'),
    ("wrong type", '{"origin": "CDG", "destination": "JFK", "passengers": "many"}'),
    ("unknown argument", '{"origin": "CDG", "destination": "JFK", "seat": "12A"}'),
    ("missing argument", '{"origin": "CDG"}'),
    ("not JSON at all", "book it please"),
)


async def _main(out: TextIO) -> None:
    print("== schemas (strict variant) ==", file=out)
    for tool in (book_flight, weather):
        print(json.dumps(tool.schema(strict=True), indent=2), file=out)
    print("\n== arguments from an LLM ==", file=out)
    for label, payload in _PAYLOADS:
        try:
            parsed = parse_arguments(book_flight.name, payload)
        except ToolError as exc:
            print(f"- {label}: error -> {exc.message}", file=out)
            continue
        prepared = book_flight.prepare(dict(parsed.value))
        if prepared.error is not None:
            print(f"- {label}: error -> {prepared.error.message}", file=out)
        else:
            print(f"- {label}: ok -> {parsed.text}", file=out)
    print("\n== a standalone run ==", file=out)
    arguments = '{"origin": "CDG", "destination": "JFK"}'
    call = FunctionCall(call_id="call_1", name="book_flight", arguments=arguments)
    ctx: RunContext[None] = RunContext(function_call=call)
    result = await book_flight(ctx, origin="CDG", destination="JFK")
    for _item, output in ctx.updates:
        print(f"- update {output.call_id}: {output.output.splitlines()[0]}", file=out)
    print(f"- result: {result}", file=out)


def run_demo(*, backend: str, out: TextIO) -> int:
    """Run the demonstration on ``backend`` ("asyncio" or "trio"), writing to ``out``."""
    print(f"anyio_tools demo on {backend}\n", file=out)
    anyio.run(_main, out, backend=backend)
    return 0
