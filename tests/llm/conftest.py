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

# openai's AsyncStream.__stream__ (openai/_streaming.py) leaves the loop over its inner
# generator `_iter_events()` with `break` when it reads "data: [DONE]", without closing it; the
# chain below it (SSEDecoder.aiter_bytes, httpx2 Response.aiter_bytes, httpcore2
# PoolByteStream.__aiter__) is then garbage collected unexhausted. Trio's asyncgen hook closes
# such generators itself (finalize_in_trio_context) and then warns; the HTTP response was
# already drained and is closed by the adapter, so nothing leaks. Only these library
# generators are exempted, only in these tests.
LIBRARY_GC_WARNING = (
    r"ignore:Async generator '(openai\._streaming|httpx2\._models|httpcore2\._async)\."
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
