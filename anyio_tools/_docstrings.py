"""Read a tool's description and parameter descriptions from a Google-style docstring (DEC-1)."""

from __future__ import annotations

import inspect
import re
from typing import Final, final

import attrs

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


def parse_docstring(doc: str | None) -> ParsedDocstring:
    """Split a Google-style docstring into its description and its ``Args:`` entries."""
    if not doc:
        return ParsedDocstring(None, {})
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
