"""From the LLM's argument text to a validated call (SPEC EXE-3, DEC-8, DUP-2).

Parsing accepts what LLMs actually send: empty text, ``null``, a JSON string that holds JSON,
and (through json-repair) trailing commas, single quotes, unquoted keys, code fences and
chat-template tokens. Whatever was repaired is written back as valid JSON. Validation failures
are turned into one message that names the tool, each offending parameter and what it expects.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, final

import attrs
import json_repair
import pydantic

from ._errors import InvalidArgumentsError

__all__ = [
    "ParsedArguments",
    "canonical_json",
    "describe_validation_error",
    "parse_arguments",
]

# Special tokens some chat templates leak around tool-call JSON.
_TEMPLATE_TOKENS: Final = re.compile(
    r"<\|[^|<>]{1,40}\|>|</?tool_call>|</?function_call>|\[/?TOOL_CALLS\]|\[/?ARGS\]"
)
_FENCE: Final = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```$", re.DOTALL)


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


def _clean(text: str) -> str:
    text = _TEMPLATE_TOKENS.sub("", text).strip()
    fence = _FENCE.match(text)
    if fence:
        text = fence.group(1).strip()
    return text


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


_DECODER: Final = json.JSONDecoder()


def _loads(text: str) -> object:
    """``json.loads`` with a fast path for a document that fills the whole text."""
    try:
        value, end = _DECODER.raw_decode(text)
    except ValueError:
        return json.loads(text)  # leading whitespace, or not JSON (raises the usual error)
    if end != len(text):
        return json.loads(text)  # trailing whitespace, or extra data (raises)
    return value


def parse_arguments(tool_name: str, text: str | None) -> ParsedArguments:
    """Parse the argument text of a call to ``tool_name`` into an object.

    Raises:
        InvalidArgumentsError: The text is not a JSON object and cannot be repaired into one.
    """
    if not text or text.isspace():  # None, empty or blank
        return ParsedArguments({}, "{}", text != "{}")
    try:
        value = _loads(text)
    except ValueError:
        return _repair(tool_name, text)
    if isinstance(value, dict):
        return ParsedArguments(value, text, False)
    if isinstance(value, str):
        # A JSON string that holds the JSON object (double-encoded by some providers).
        inner = parse_arguments(tool_name, value)
        return ParsedArguments(inner.value, inner.text if inner.repaired else value, True)
    if value is None:
        return ParsedArguments({}, "{}", True)
    raise InvalidArgumentsError(
        tool_name, f"expected a JSON object of named arguments, got {_kind(value)}"
    )


def _repair(tool_name: str, text: str) -> ParsedArguments:
    cleaned = _clean(text)
    if not cleaned.startswith("{"):
        try:
            json.loads(text)
        except ValueError as exc:
            message = str(exc)
        else:  # pragma: no cover - parse_arguments only repairs what failed to parse
            message = "unexpected text"
        raise InvalidArgumentsError(
            tool_name, f"the arguments are not valid JSON ({message}); expected a JSON object"
        )
    try:
        value = json.loads(cleaned)
    except ValueError:
        value = json_repair.repair_json(cleaned, return_objects=True)
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
