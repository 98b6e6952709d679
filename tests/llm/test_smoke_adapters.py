"""Each adapter streams text and tool calls from its fake server, on both backends."""

from __future__ import annotations

import anyio
import pytest

from anyio_tools import function_tool
from anyio_tools._chat import ChatContext
from anyio_tools.runtime import LLMRequest, TextDelta, ToolCallRequest

from .conftest import KINDS, make_llm
from .fake_http import serve
from .fake_providers import FakeProvider, Kind, Turn, View


@function_tool
async def weather(city: str) -> str:
    """Tell the weather.

    Args:
        city: The city.
    """
    return "sunny"


@pytest.mark.parametrize("kind", KINDS)
async def test_text_and_calls_stream(kind: Kind) -> None:
    """Text arrives word by word; calls arrive whole, with their arguments joined."""

    def script(view: View) -> Turn:
        return Turn("It is", calls=(("weather", {"city": "Paris"}),))

    provider = FakeProvider(kind, script)
    ctx = ChatContext()
    ctx.add_message("user", "weather?")
    request = LLMRequest(chat_ctx=ctx, tools=[weather], tool_choice="auto", instructions="Be nice.")
    with anyio.fail_after(10):
        async with serve(provider) as url, make_llm(kind, url) as llm:
            chunks = [chunk async for chunk in llm.stream(request)]
    assert provider.violations == []
    assert [c.text for c in chunks if isinstance(c, TextDelta)] == ["It", " is"]
    calls = [c for c in chunks if isinstance(c, ToolCallRequest)]
    assert [(c.name, c.arguments) for c in calls] == [("weather", '{"city": "Paris"}')]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("timeout", 0, "timeout must be > 0"), ("max_retries", -1, "max_retries must be >= 0")],
)
def test_bad_options_are_refused_at_construction(
    kind: Kind, option: str, value: float, message: str
) -> None:
    """Options are checked when the LLM is built, not at the first request."""
    with pytest.raises(ValueError, match=message):
        make_llm(kind, "http://127.0.0.1:9", **{option: value})
