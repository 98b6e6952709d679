"""Repair of JSON text from LLMs in linear time, without recursion (SPEC EXE-3; #12, #21).

Three steps, each bounded by the length of the text: `scan` measures nesting and size and
notes where a text cut short stands; `close_truncated` closes such a text (its open string,
arrays and objects), keeping every value that was complete before the cut; `repair_lenient`
rewrites the usual mistakes (single quotes, unquoted keys, trailing or missing commas,
comments, Python's ``True``/``False``/``None``) token by token. Neither touches the content of
a string: code fences and template tokens are removed by `strip_wrapping` only around the
whole text.
"""

from __future__ import annotations

import enum
import json
import re
from typing import Final

import attrs

__all__ = [
    "Limit",
    "Shape",
    "TooDeepError",
    "close_truncated",
    "repair_lenient",
    "scan",
    "strip_wrapping",
]

# Special tokens some chat templates leak around tool-call JSON.
_TEMPLATE: Final = r"<\|[^|<>]{1,40}\|>|</?tool_call>|</?function_call>|\[/?TOOL_CALLS\]|\[/?ARGS\]"
_LEADING_TOKENS: Final = re.compile(rf"(?:\s*(?:{_TEMPLATE})){{1,4}}\s*")
_TRAILING_TOKEN: Final = re.compile(rf"(?:{_TEMPLATE})\s*\Z")
_MAX_TRAILING_TOKENS: Final = 4  # each removal copies the text: keep the loop short
_FENCE_INFO: Final = re.compile(r"```[a-zA-Z0-9_-]*[ \t]*\n?")

# Strings (escapes blanked first), brackets and commas. One character class first, so that
# the regex engine skips other text fast (an alternation here made the scan four times slower).
_TOKEN: Final = re.compile(r'["\[\]{},](?:(?<=")[^"]*"?)?')
_PARTIAL_ESCAPE: Final = re.compile(r"\\u[0-9a-fA-F]{0,3}\Z")
# What may follow the last comma of an array or object cut short (escapes blanked): the start
# of a member whose end is missing. Anything else is malformed, not just truncated.
_SCALAR_START: Final = r"-?[0-9.eE+-]*|t(?:r(?:ue?)?)?|f(?:a(?:l(?:se?)?)?)?|n(?:u(?:ll?)?)?"
_ARRAY_TAIL: Final = re.compile(rf"\s*(?:{_SCALAR_START})\s*")
_OBJECT_TAIL: Final = re.compile(rf'\s*(?:"[^"]*(?:"\s*(?::\s*(?:{_SCALAR_START}))?)?)?\s*')

# Lenient tokens: blanks and comments, double- and single-quoted strings (maybe unterminated),
# punctuation, and words (numbers, literals, unquoted keys and values).
_LENIENT_TOKEN: Final = re.compile(
    r"""(?P<blank>\s+|//[^\n]*|/\*(?:[^*]|\*(?!/))*(?:\*/|\Z))
    |(?P<string>"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|'[^'\\]*(?:\\.[^'\\]*)*(?:'|\\?\Z))
    |(?P<punct>[{}\[\]:,])
    |(?P<word>[^\s{}\[\]:,"'/]+|/)""",
    re.VERBOSE | re.DOTALL,
)
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WORDS: Final = {
    "true": "true",
    "false": "false",
    "null": "null",
    "True": "true",
    "False": "false",
    "None": "null",
}
_SINGLE_QUOTED_ESCAPE: Final = re.compile(r'\\(.)|"', re.DOTALL)


class Limit(enum.Enum):
    """Which limit a scan stopped at."""

    DEPTH = "depth"
    TOKENS = "tokens"


class TooDeepError(ValueError):
    """The lenient repair found deeper nesting than allowed (the scan can miss brackets that
    only single quotes make structural, such as those after ``'"'``)."""


@attrs.define(eq=False)
class Shape:
    """Where a scan of the text stands at its end, for closing what was cut short."""

    open_at: list[int] = attrs.Factory(list)  # positions of the brackets still open
    last_comma: list[int] = attrs.Factory(list)  # per open bracket: its last comma, or -1
    in_string: bool = False  # the text ends inside a string
    closed_at: int = -1  # where the first top-level array or object closed, if it did
    broke: Limit | None = None  # the limit the text broke (the scan stopped there)


def _blank_escapes(text: str) -> str:
    """Blank escaped backslashes and quotes, keeping every position (two spaces each)."""
    if "\\" not in text:
        return text
    return text.replace("\\\\", "  ").replace('\\"', "  ")


def scan(text: str, *, max_depth: int, max_tokens: int) -> Shape:
    """Measure nesting and size without recursion, in time linear in ``len(text)``.

    Escaped backslashes and quotes are blanked first (``str.replace``), so each string is one
    match of a compiled pattern and the Python loop turns once per string, bracket or comma
    outside strings, at most ``max_tokens`` times. Quotes are double quotes: brackets inside
    single-quoted strings count, which only overstates the depth.
    """
    text = _blank_escapes(text)
    shape = Shape()
    open_at = shape.open_at
    last_comma = shape.last_comma
    for tokens, match in enumerate(_TOKEN.finditer(text), start=1):
        if tokens > max_tokens:
            shape.broke = Limit.TOKENS
            break
        at = match.start()
        char = text[at]
        if char == '"':
            if match.end() - at == 1 or text[match.end() - 1] != '"':
                shape.in_string = True  # only the last match can be an open string
        elif char == "[" or char == "{":
            if len(open_at) >= max_depth:
                shape.broke = Limit.DEPTH
                break
            open_at.append(at)
            last_comma.append(-1)
        elif char == ",":
            if last_comma:
                last_comma[-1] = at
        elif open_at:  # a closing bracket
            open_at.pop()
            last_comma.pop()
            if not open_at and shape.closed_at < 0:
                shape.closed_at = at
    return shape


def strip_wrapping(text: str) -> str:
    """Remove template tokens and a code fence around the whole text, never inside it."""
    text = text.strip()
    if (leading := _LEADING_TOKENS.match(text)) is not None:
        text = text[leading.end() :]
    for _ in range(_MAX_TRAILING_TOKENS):
        trailing = _TRAILING_TOKEN.search(text, max(0, len(text) - 64))
        if trailing is None:
            break
        text = text[: trailing.start()].rstrip()
    if text.startswith("```"):
        info = _FENCE_INFO.match(text)
        text = text[info.end() if info else 3 :]
        # A closing fence counts only on a line of its own or right after the object: inside a
        # JSON string a fence follows an escaped "\n", never a raw newline.
        body = text[:-3].rstrip(" \t")
        if text.endswith("```") and body.endswith(("\n", "}")):
            text = body
        text = text.strip()
    return text


def _odd_backslashes(text: str) -> bool:
    """Whether ``text`` ends with an odd run of backslashes (an escape left open)."""
    return (len(text) - len(text.rstrip("\\"))) % 2 == 1


def _close_string(head: str, quote: str = '"') -> str:
    """Close a string cut short, dropping an escape that was cut in the middle."""
    if _odd_backslashes(head):
        head = head[:-1]
    elif (partial := _PARTIAL_ESCAPE.search(head, max(0, len(head) - 6))) is not None and (
        not _odd_backslashes(head[: partial.start()])  # a "\\u" is no escape
    ):
        head = head[: partial.start()]
    return head + quote


def close_truncated(text: str, shape: Shape) -> object:
    """Close a JSON text cut short: its open string, then its open arrays and objects.

    If the text does not parse once closed (it was cut inside a key, a number, ``true``, or
    after a colon), the unfinished member of the innermost array or object is dropped instead.
    Values complete before the cut are never changed. Returns None when this is no repair
    for the text (it was not cut short, or is malformed before the cut).
    """
    open_at = shape.open_at
    if shape.closed_at >= 0 or not open_at or shape.broke is not None:
        return None
    closers = "".join("]" if text[at] == "[" else "}" for at in reversed(open_at))
    head = _close_string(text) if shape.in_string else text
    try:
        return json.loads(head + closers)
    except ValueError:
        pass
    # Cut inside a member: drop it if what follows the last comma (or the bracket) is the
    # start of a valid member, so that malformed text goes to the lenient repair instead.
    innermost = open_at[-1]
    cut = max(shape.last_comma[-1], innermost + 1)
    tail = _blank_escapes(text[cut:]).lstrip(",")
    unfinished = _OBJECT_TAIL if text[innermost] == "{" else _ARRAY_TAIL
    if unfinished.fullmatch(tail) is None:
        return None
    try:
        return json.loads(text[:cut] + closers)
    except ValueError:
        return None


def _word(word: str) -> str:
    if word in _WORDS:
        return _WORDS[word]
    if _NUMBER.fullmatch(word):
        return word
    return json.dumps(word, ensure_ascii=False)  # an unquoted key or value


def _string(token: str) -> str:
    """A string token as JSON: closed if cut short, single quotes turned into double."""
    quote = token[0]
    if len(token) == 1 or token[-1] != quote or _odd_backslashes(token[:-1]):
        token = _close_string(token, quote)
    if quote == '"':
        return token

    def escape(match: re.Match[str]) -> str:
        escaped = match.group(1)
        if escaped is None:
            return '\\"'  # a double quote inside single quotes
        return "'" if escaped == "'" else "\\" + escaped

    return '"' + _SINGLE_QUOTED_ESCAPE.sub(escape, token[1:-1]) + '"'


# States of an open array or object in the lenient repair.
_KEY, _COLON, _VALUE, _NEXT = range(4)


def repair_lenient(text: str, *, max_depth: int) -> object:
    """Rewrite a malformed JSON text token by token, then parse it; None if that fails.

    Linear in the length of the text (one regex match and a few list operations per token)
    and without recursion: nesting is a list of open brackets, at most ``max_depth`` long
    (else `TooDeepError`). What follows the first
    complete value is dropped, unless it opens another array or object (then the text holds
    several values, not one).
    """
    out: list[str] = []
    stack: list[list[int]] = []  # per open bracket: [is_object, state, where its member began]
    done = False
    for match in _LENIENT_TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "blank":
            continue
        token = match.group()
        if done:
            if token == "{" or token == "[":
                return None  # a second object or array: several values, not one
            continue  # stray text after the value is dropped
        if kind == "punct" and token in ":,]}":
            if not stack:
                return None
            frame = stack[-1]
            if token == ":":
                if frame[0] and frame[1] == _COLON:
                    out.append(":")
                    frame[1] = _VALUE
            elif token == ",":
                if frame[1] == _NEXT:
                    out.append(",")
                    frame[1] = _KEY if frame[0] else _VALUE
            else:
                _end_container(out, stack)
                done = not stack
            continue
        # A value (or, in an object expecting a key, a key).
        if stack:
            frame = stack[-1]
            if frame[1] == _NEXT:  # a missing comma
                out.append(",")
                frame[1] = _KEY if frame[0] else _VALUE
            if frame[1] == _KEY:
                if kind == "punct":
                    return None  # an array or object as a key
                frame[2] = len(out)
                out.append(_string(token) if kind == "string" else json.dumps(token))
                frame[1] = _COLON
                continue
            if frame[1] == _COLON:
                out.append(":")  # a missing colon
            frame[1] = _NEXT
        if kind == "punct":  # [ or {
            if len(stack) >= max_depth:
                raise TooDeepError(max_depth)
            out.append(token)
            stack.append([token == "{", _KEY if token == "{" else _VALUE, len(out)])
        else:
            out.append(_string(token) if kind == "string" else _word(token))
            done = not stack
    while stack:  # cut short: close what is open
        _end_container(out, stack)
    try:
        return json.loads("".join(out), strict=False)  # strict=False: raw newlines in strings
    except ValueError:
        return None


def _end_container(out: list[str], stack: list[list[int]]) -> None:
    """Close the innermost array or object, dropping an unfinished member or trailing comma."""
    is_object, state, member = stack.pop()
    if is_object and state in (_COLON, _VALUE):
        del out[member:]  # a key without its value
    if out[-1] == ",":
        out.pop()
    out.append("}" if is_object else "]")
    if stack:
        stack[-1][1] = _NEXT
