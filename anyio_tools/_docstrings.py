"""Read a tool's description and parameter descriptions from its docstring (DEC-1; #13 item 3).

Google, NumPy, Sphinx/reST and Epydoc styles are read by ``docstring_parser``. Our own
Google-style reader stays for the one case that parser gets wrong: a docstring that starts
directly with its ``Args:`` section (no summary line), which it takes for plain text. Texts are
normalised the same way for every style: lines of a paragraph joined by spaces, paragraphs
separated by a blank line.
"""

from __future__ import annotations

import inspect
import re
from typing import Final, final

import attrs
import docstring_parser

__all__ = ["ParsedDocstring", "parse_docstring"]

_SECTION: Final = re.compile(r"^([A-Z][A-Za-z ]*):\s*$")
_PARAM_SECTIONS: Final = frozenset({"Args", "Arguments", "Parameters", "Params"})
_PARAM_LINE: Final = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@final
@attrs.frozen
class ParsedDocstring:
    """The parts of a docstring a tool schema uses.

    Args:
        description: The prose before the first section, or None.
        params: Parameter name to description, from the ``Args:`` section.
    """

    description: str | None
    params: dict[str, str]


def _join(lines: list[str]) -> str:
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


_PARAM_KINDS: Final = frozenset(
    {"param", "parameter", "arg", "argument", "key", "keyword", "other_param"}
)


def parse_docstring(doc: str | None) -> ParsedDocstring:
    """Split a docstring (Google, NumPy, reST or Epydoc style) into its description and its
    parameter descriptions."""
    if not doc:
        return ParsedDocstring(None, {})
    google = _parse_google(doc)
    try:
        parsed = docstring_parser.parse(doc)
    except docstring_parser.ParseError:
        return google
    params: dict[str, str] = {}
    for param in parsed.params:
        if not param.args or param.args[0] not in _PARAM_KINDS:
            continue  # attributes, not parameters
        text = _join((param.description or "").splitlines())
        if not text:
            continue
        for name in param.arg_name.split(","):  # NumPy allows "x, y : int"
            params[name.strip().lstrip("*")] = text
    if google.params and not params:
        return google
    parts = [parsed.short_description or "", parsed.long_description or ""]
    separator = "\n\n" if parsed.blank_after_short_description else "\n"
    description = _join(separator.join(part for part in parts if part).splitlines()) or None
    return ParsedDocstring(description, params)


def _parse_google(doc: str) -> ParsedDocstring:
    """Split a Google-style docstring into its description and its ``Args:`` entries."""
    lines = inspect.cleandoc(doc).splitlines()
    prose: list[str] = []
    params: dict[str, list[str]] = {}
    section: str | None = None
    base_indent: int | None = None
    current: str | None = None
    for line in lines:
        header = _SECTION.match(line)
        if header and not line.startswith(" "):
            section = header.group(1)
            base_indent = None
            current = None
            continue
        if section is None:
            prose.append(line)
            continue
        if section not in _PARAM_SECTIONS or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if base_indent is None:
            base_indent = indent
        if indent <= base_indent:
            match = _PARAM_LINE.match(line.strip())
            if match:
                current = match.group(1)
                params[current] = [match.group(2)]
                continue
        if current is not None:
            params[current].append(line)
    description = _join(prose) or None
    return ParsedDocstring(
        description, {name: _join(text) for name, text in params.items() if _join(text)}
    )
