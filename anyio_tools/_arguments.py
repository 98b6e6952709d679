"""From the LLM's argument text to a validated call (SPEC EXE-3, DEC-8, DUP-2, INV-6).

Parsing accepts what LLMs actually send: empty text, ``null``, a JSON string that holds JSON,
JSON cut short by a token limit, a code fence or chat-template tokens around the whole text,
trailing or missing commas, single quotes, unquoted keys and comments (see `_repair`).
Whatever was repaired is written back as valid JSON. Validation failures are turned into one
message that names the tool, each offending parameter and what it expects.

Every text gets an answer, and quickly (issue #12): `parse_arguments` raises nothing but
`InvalidArgumentsError`, whatever it is given, and runs on the event loop without blocking it
for long (under 50 ms for any text, measured by ``make soak``), because its work is bounded:

- `MAX_ARGUMENT_CHARS` (1 MiB, about twice a 128k-token LLM reply): longer texts
  are refused before any parsing.
- `MAX_DEPTH` (100): arrays and objects nested deeper are refused. Nesting is measured by a
  scan without recursion, before anything recursive (``json``, pydantic) sees the text.
- `MAX_TOKENS` (16,384): more strings, brackets and commas (outside strings) are refused; this
  bounds the scan and what ``json.loads`` builds. Text inside strings costs only C-speed work.
- `MAX_LENIENT_REPAIR_CHARS` (8 KiB): malformed text longer than this is repaired only if it
  is valid JSON cut short (the usual way a long argument breaks: closing it is linear and
  cheap); the token-by-token lenient repair, also linear but slower, sees shorter texts only.

Repair never rewrites the content of a string: fences and template tokens are stripped only
around the whole text, and a text cut short keeps every value that was complete before the
cut (issue #21).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, final

import attrs
import pydantic
import pydantic_core

from ._errors import InvalidArgumentsError
from ._repair import (
    Limit,
    Shape,
    TooDeepError,
    close_truncated,
    repair_lenient,
    scan,
    strip_wrapping,
)

__all__ = [
    "MAX_ARGUMENT_CHARS",
    "MAX_DEPTH",
    "MAX_LENIENT_REPAIR_CHARS",
    "MAX_TOKENS",
    "ParsedArguments",
    "argument_object",
    "canonical_json",
    "describe_validation_error",
    "encode_arguments",
    "parse_arguments",
]

MAX_ARGUMENT_CHARS: Final = 1024 * 1024
"""Longest argument text that is parsed at all (in characters)."""
MAX_DEPTH: Final = 100
"""Deepest nesting of arrays and objects accepted."""
MAX_TOKENS: Final = 16_384
"""Most strings, brackets and commas (outside strings) an argument text may hold."""
MAX_LENIENT_REPAIR_CHARS: Final = 8 * 1024
"""Longest malformed text given the lenient repair (longer ones are only closed if cut short)."""

# Unwrapping of JSON strings that hold JSON: '"{\"a\": 1}"' is one level.
_MAX_UNWRAP: Final = 3
_EXPECTED: Final = "expected a JSON object of named arguments"


@final
@attrs.frozen
class ParsedArguments:
    """Arguments parsed from the LLM's text.

    Args:
        value: The argument object.
        text: Valid JSON for ``value``: the received text when it was a JSON object already,
            else a fresh encoding (what the call item should record).
        repaired: Whether ``text`` differs from the received text.
    """

    value: dict[str, Any]
    text: str
    repaired: bool


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


_DECODER: Final = json.JSONDecoder()


def _loads(text: str) -> object:
    """``json.loads`` with a fast path for a document that fills the whole text."""
    try:
        value, end = _DECODER.raw_decode(text)
    except ValueError:
        if not text[0].isspace():
            raise  # not JSON: the usual error, without a second pass over a long text
        return json.loads(text)  # leading whitespace
    if end != len(text):
        return json.loads(text)  # trailing whitespace, or extra data (raises)
    return value


def _too_deep(tool_name: str) -> InvalidArgumentsError:
    return InvalidArgumentsError(
        tool_name,
        f"the arguments nest arrays and objects more than {MAX_DEPTH} levels deep; "
        f"{_EXPECTED} nested {MAX_DEPTH} levels at most",
    )


def _scan(tool_name: str, text: str) -> Shape:
    """Scan ``text`` (see `scan`), refusing it if it breaks `MAX_DEPTH` or `MAX_TOKENS`."""
    shape = scan(text, max_depth=MAX_DEPTH, max_tokens=MAX_TOKENS)
    if shape.broke is Limit.DEPTH:
        raise _too_deep(tool_name)
    if shape.broke is Limit.TOKENS:
        raise InvalidArgumentsError(
            tool_name,
            f"the arguments hold more than {MAX_TOKENS:,} strings, brackets and commas; "
            f"{_EXPECTED}, smaller",
        )
    return shape


def parse_arguments(tool_name: str, text: str | None) -> ParsedArguments:
    """Parse the argument text of a call to ``tool_name`` into an object.

    Does not block: its work is linear in the text and bounded (well under 50 ms for the
    longest text accepted). Texts over 1 MiB, nested more than 100 levels deep or holding
    more than 16,384 strings, brackets and commas are refused; malformed text over 8 KiB is
    repaired only if it is JSON cut short. Empty text and ``null`` give no arguments.

    Args:
        tool_name: The tool the arguments are for, named in error messages.
        text: The argument text the LLM sent.

    Returns:
        The object, and valid JSON text for it to record.

    Raises:
        InvalidArgumentsError: The text is not a JSON object and cannot be repaired into one,
            or breaks a limit. No other exception is raised, whatever the text.
    """
    if not text or text.isspace():  # None, empty or blank
        return ParsedArguments({}, "{}", text != "{}")
    if len(text) > MAX_ARGUMENT_CHARS:
        raise InvalidArgumentsError(
            tool_name,
            f"the arguments are {len(text):,} characters long, more than the limit of "
            f"{MAX_ARGUMENT_CHARS:,}; {_EXPECTED}, shorter",
        )
    received = text
    for _ in range(_MAX_UNWRAP + 1):
        parsed = _parse_one(tool_name, text)
        if not isinstance(parsed, str):
            if text is not received and not parsed.repaired:
                return ParsedArguments(parsed.value, text, True)
            return parsed
        # A JSON string that holds the JSON object (double-encoded by some providers).
        text = parsed
        if not text or text.isspace():
            return ParsedArguments({}, "{}", True)
    raise InvalidArgumentsError(
        tool_name, f"the arguments are a JSON string encoded more than {_MAX_UNWRAP} times"
    )


def argument_object(tool_name: str, value: object) -> dict[str, Any]:
    """Return a fresh dict of an argument object that was parsed already (an MCP server
    receives its arguments as one), for validation as it is.

    Raises:
        InvalidArgumentsError: ``value`` is not a mapping (with the words a JSON text that is
            not an object gets), or one whose keys are not all strings.
    """
    if type(value) is dict:
        arguments: dict[str, Any] = value.copy()  # the tool's preparation changes its own
    elif isinstance(value, Mapping):
        arguments = dict(value)
    else:
        raise InvalidArgumentsError(tool_name, f"{_EXPECTED}, got {_kind(value)}")
    for key in arguments:
        if type(key) is not str:
            raise InvalidArgumentsError(tool_name, f"{_EXPECTED}, got a key {key!r}")
    return arguments


def encode_arguments(value: dict[str, Any]) -> str:
    """Encode an argument object as compact JSON text (what a call item records).

    Raises:
        ValueError: A value JSON cannot hold.
    """
    try:
        return pydantic_core.to_json(value).decode()
    except pydantic_core.PydanticSerializationError as exc:
        raise ValueError(f"the arguments cannot be encoded as JSON: {exc}") from None


def _parse_one(tool_name: str, text: str) -> ParsedArguments | str:
    """Parse one level: an object, or the string a JSON string holds (to parse again)."""
    shape = None
    # A text no longer than MAX_TOKENS, with at most MAX_DEPTH opening brackets, is within
    # both limits whatever it holds: only longer texts pay for a scan (short ones not even
    # for counting brackets).
    if len(text) > MAX_DEPTH and (
        len(text) > MAX_TOKENS or text.count("[") + text.count("{") > MAX_DEPTH
    ):
        shape = _scan(tool_name, text)  # before json.loads: its work and depth are bounded now
        if shape.in_string or shape.open_at:  # cut short: no need to try json.loads
            return _repair(tool_name, text, shape, None)
    try:
        value = _loads(text)
    except ValueError as exc:
        return _repair(tool_name, text, shape, exc)
    if isinstance(value, dict):
        return ParsedArguments(value, text, False)
    if isinstance(value, str):
        return value
    if value is None:
        return ParsedArguments({}, "{}", True)
    raise InvalidArgumentsError(tool_name, f"{_EXPECTED}, got {_kind(value)}")


def _json_error(text: str, error: ValueError | None) -> str:
    """The message of json's error for ``text`` (parsing it again if it was not tried)."""
    if error is None:
        try:
            json.loads(text)
        except ValueError as exc:
            error = exc
    return str(error)


def _repair(
    tool_name: str, text: str, shape: Shape | None, error: ValueError | None
) -> ParsedArguments:
    cleaned = strip_wrapping(text)
    if not cleaned.startswith("{"):
        raise InvalidArgumentsError(
            tool_name,
            f"the arguments are not valid JSON ({_json_error(text, error)}); {_EXPECTED}",
        )
    if shape is None or cleaned != text:
        shape = _scan(tool_name, cleaned)
    value: object = None
    if cleaned != text:
        try:
            value = json.loads(cleaned)
        except ValueError:
            value = None
    if value is None:
        value = close_truncated(cleaned, shape)
    if value is None:
        if len(cleaned) > MAX_LENIENT_REPAIR_CHARS:
            raise InvalidArgumentsError(
                tool_name,
                f"the arguments are not valid JSON ({_json_error(text, error)}); at "
                f"{len(cleaned):,} characters "
                f"(more than {MAX_LENIENT_REPAIR_CHARS:,}) they are repaired only if they are "
                f"valid JSON cut short; {_EXPECTED}",
            )
        try:
            value = repair_lenient(cleaned, max_depth=MAX_DEPTH)
        except TooDeepError:
            raise _too_deep(tool_name) from None
    if not isinstance(value, dict):
        raise InvalidArgumentsError(
            tool_name, "the arguments are not valid JSON and could not be repaired into an object"
        )
    return ParsedArguments(value, _dumps(value), True)


def canonical_json(value: object) -> str:
    """Encode a value with object keys sorted at every depth and list order kept.

    Values JSON cannot hold are encoded as their ``str()``.
    """
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe_validation_error(error: pydantic.ValidationError, summary: str) -> str:
    """Describe a validation error parameter by parameter, ending with what was expected."""
    problems: list[str] = []
    for item in error.errors(include_url=False):
        where = _location(item["loc"])
        kind = item["type"]
        if kind == "missing":
            problems.append(f"missing required argument '{where}'")
        elif kind == "extra_forbidden":
            problems.append(f"unexpected argument '{where}'")
        else:
            problems.append(f"argument '{where}': {item['msg']} (got {item['input']!r})")
    return "; ".join(problems) + f". Expected: {summary}"
