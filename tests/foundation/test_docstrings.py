"""Tool descriptions from any docstring style (DEC-1; issue #13 item 3): Google, NumPy,
Sphinx/reST and Epydoc parameter sections give parameter descriptions and never leak into the
tool's description."""

from __future__ import annotations

import pytest

from anyio_tools import function_tool
from anyio_tools._docstrings import parse_docstring

GOOGLE = """Book a flight.

    Picks the cheapest
    direct flight.

    Args:
        origin: Where from,
            as an IATA code.
        seats (int): How many seats.

    Returns:
        The booking.
    """

NUMPY = """Book a flight.

    Picks the cheapest
    direct flight.

    Parameters
    ----------
    origin : str
        Where from,
        as an IATA code.
    seats : int, optional
        How many seats.

    Returns
    -------
    str
        The booking.
    """

REST = """Book a flight.

    Picks the cheapest
    direct flight.

    :param origin: Where from,
        as an IATA code.
    :param int seats: How many seats.
    :returns: The booking.
    """

EPYDOC = """Book a flight.

    Picks the cheapest
    direct flight.

    @param origin: Where from,
        as an IATA code.
    @param seats: How many seats.
    @return: The booking.
    """


@pytest.mark.parametrize(
    "doc", [GOOGLE, NUMPY, REST, EPYDOC], ids=["google", "numpy", "rest", "epydoc"]
)
def test_every_style_gives_the_same_description_and_parameters(doc: str) -> None:
    """The four styles give one description (paragraphs kept, lines joined) and one text per
    parameter; no section syntax leaks."""
    parsed = parse_docstring(doc)
    assert parsed.description == "Book a flight.\n\nPicks the cheapest direct flight."
    assert parsed.params == {"origin": "Where from, as an IATA code.", "seats": "How many seats."}


@pytest.mark.parametrize("doc", [NUMPY, REST])
def test_tool_schema_from_other_styles(doc: str) -> None:
    """The tool's schema carries the parameter descriptions, and its description no ':param'
    or '----------'."""

    async def book(origin: str, seats: int = 1) -> str:
        return origin

    book.__doc__ = doc
    schema = function_tool(book).schema()
    assert schema["description"] == "Book a flight.\n\nPicks the cheapest direct flight."
    properties = schema["parameters"]["properties"]  # type: ignore[index]
    assert properties["origin"]["description"] == "Where from, as an IATA code."
    assert properties["seats"]["description"] == "How many seats."


def test_google_without_a_summary_line() -> None:
    """A docstring that starts with its Args section (docstring_parser reads it as plain text;
    our Google reader handles it)."""
    parsed = parse_docstring("Args:\n    city: The city.")
    assert parsed.params == {"city": "The city."}
    assert parsed.description is None


def test_star_parameters_numpy_pairs_and_attributes() -> None:
    """*args and **kwargs lose their stars; NumPy's "x, y : int" describes both; attributes are
    not parameters."""
    parsed = parse_docstring(
        """Sum.

        Args:
            *args: Numbers.
            **kwargs: Options.

        Attributes:
            total: Not a parameter.
        """
    )
    assert parsed.params == {"args": "Numbers.", "kwargs": "Options."}
    numpy = parse_docstring("Sum.\n\nParameters\n----------\nx, y : int\n    Numbers.\n")
    assert numpy.params == {"x": "Numbers.", "y": "Numbers."}


def test_plain_and_empty_docstrings() -> None:
    """No sections: all of it is the description; nothing: None."""
    assert parse_docstring("Just text.\n\n    More text.").description == "Just text.\n\nMore text."
    assert parse_docstring(None).description is None
    assert parse_docstring("").params == {}
