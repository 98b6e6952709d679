"""The provider tests run on both backends with real clocks.

They talk to a local HTTP server over real sockets: under a virtual clock (looptime, trio's
autojump MockClock) time jumps whenever every task waits, and a task waiting for a socket
counts as waiting, so the clients' timeouts would fire at once. This fixture overrides the
suite's ``anyio_backend`` for ``tests/llm`` only; every test still wraps its body in
``anyio.fail_after`` and takes well under a second.
"""

from __future__ import annotations

from typing import Any

import pytest

from anyio_tools.anthropic import AnthropicLLM
from anyio_tools.openai import OpenAIChatLLM, OpenAIResponsesLLM

from .fake_providers import Kind

KINDS: tuple[Kind, ...] = ("chat", "responses", "anthropic")

# The clients' AsyncStream reads the response through a chain of async generators, each
# iterating the next with a plain `async for` (openai/_streaming.py, anthropic/_streaming.py:
# __aiter__ -> __stream__ -> _iter_events -> SSEDecoder.aiter_bytes -> _aiter_chunks -> httpx2
# Response.aiter_bytes -> BoundAsyncStream.__aiter__ -> AsyncResponseStream.__aiter__ ->
# httpcore2 PoolByteStream.__aiter__). When reading stops before the
# end (openai's __stream__ leaves its loop with `break` at "data: [DONE]"; an interrupted
# generation stops reading), only the outermost generator can be closed from outside, and the
# inner ones are garbage collected unexhausted. Trio's asyncgen hook closes them itself
# (finalize_in_trio_context) and then warns. The adapter closes what it can reach (the
# outermost generator, with aclosing) and the HTTP response (AsyncStream.close(), shielded),
# so nothing leaks. Only these library generators are exempted, and only in these tests.
LIBRARY_GC_WARNING = (
    r"ignore:Async generator '(openai\._streaming|anthropic\._streaming|httpx2|httpcore2)\."
    r".*garbage collected:ResourceWarning"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Apply the library warning exemption above to the tests of this folder."""
    for item in items:
        if "tests/llm/" in item.nodeid:
            item.add_marker(pytest.mark.filterwarnings(LIBRARY_GC_WARNING))


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Both backends, real time (see the module docstring)."""
    if request.param == "trio":
        return ("trio", {})
    return ("asyncio", {"debug": True})


def make_llm(
    kind: Kind, url: str, **options: Any
) -> OpenAIChatLLM | OpenAIResponsesLLM | AnthropicLLM:
    """The adapter for ``kind`` pointed at a fake server, with the client's retries off."""
    options.setdefault("max_retries", 0)
    options.setdefault("timeout", 10.0)
    if kind == "chat":
        return OpenAIChatLLM("fake-model", api_key="test-key", base_url=url, **options)
    if kind == "responses":
        return OpenAIResponsesLLM("fake-model", api_key="test-key", base_url=url, **options)
    return AnthropicLLM("fake-model", api_key="test-key", base_url=url, **options)
