"""The Anthropic LLM: the Messages API, streamed (issue #13 item 1)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any, Final, final

import anthropic

from anyio_tools.runtime import LLM, LLMChunk, LLMRequest, TextDelta

from ._anthropic_convert import anthropic_request
from ._base import ClientOwner, checked_call, client_options, events, guarded
from ._errors import ProviderError
from ._translate import translate

__all__ = ["AnthropicLLM"]

_PROVIDER: Final = "anthropic"


def _translated(exc: Exception) -> Exception:
    error = translate(exc, anthropic, _PROVIDER)
    return exc if error is None else error


@final
class AnthropicLLM(ClientOwner):
    """An `LLM` backed by Anthropic's Messages API.

    ``stream()`` sends one streamed request per generation. Text is yielded as it arrives,
    each tool call when its block is complete. Cancelling closes the HTTP response.

    Args:
        model: The model name.
        max_tokens: The most tokens one generation may produce (the API requires it).
        client: A configured ``anthropic.AsyncAnthropic``; built from the other options when
            omitted (the client then reads ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL``).
        api_key: The API key.
        base_url: The server's base URL.
        timeout: Seconds before the client gives up on a request.
        max_retries: How often the client retries a failed request itself.
        strict: Mark tools strict (schema-guaranteed inputs, on the models that support it).
        extra_body: More fields for every request (``temperature``, ``thinking`` ...).

    Use it as an async context manager, or call `aclose()`, to close the client it built.

    Raises:
        ValueError: ``max_tokens`` is below 1, ``timeout`` not > 0 or ``max_retries`` negative.
    """

    def __init__(
        self,
        model: str,
        *,
        max_tokens: int = 4096,
        client: anthropic.AsyncAnthropic | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        strict: bool = False,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        self.model = model
        self.max_tokens = max_tokens
        self._owns_client = client is None
        if client is None:
            options = client_options(api_key, base_url, timeout, max_retries)
            client = anthropic.AsyncAnthropic(**options)
        self.client = client
        self._strict = strict
        self._extra = dict(extra_body or {})

    def request_body(self, request: LLMRequest) -> dict[str, Any]:
        """Return the JSON body ``stream()`` sends for ``request``."""
        body = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            **self._extra,
            **anthropic_request(request, strict=self._strict),
        }
        body["stream"] = True
        return body

    def stream(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        """Stream the continuation of ``request``.

        Raises:
            ProviderError: The request failed (see `anyio_tools.providers`).
        """
        body = self.request_body(request)
        return guarded(lambda: self.client.messages.create(**body), _read, _translated)


async def _read(stream: Any) -> AsyncGenerator[LLMChunk, None]:
    calls: dict[int, list[str]] = {}  # block index -> [id, name, partial json]
    async with events(stream) as iterator:
        async for event in iterator:
            kind = event.type
            if kind == "content_block_start":
                block = event.content_block
                if block.type == "tool_use":
                    calls[event.index] = [block.id, block.name, ""]
            elif kind == "content_block_delta":
                delta = event.delta
                if delta.type == "text_delta":
                    if delta.text:
                        yield TextDelta(delta.text)
                elif delta.type == "input_json_delta" and event.index in calls:
                    calls[event.index][2] += delta.partial_json
            elif kind == "content_block_stop" and event.index in calls:
                call_id, name, arguments = calls.pop(event.index)
                yield checked_call(_PROVIDER, call_id, name, arguments)
    if calls:
        raise ProviderError("the stream ended inside a tool call", provider=_PROVIDER)


if TYPE_CHECKING:  # mypy proves the adapter is an LLM

    def _is_llm(llm: AnthropicLLM) -> LLM:
        return llm
