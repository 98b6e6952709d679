"""OpenAI LLMs: Chat Completions and the Responses API, streamed (issue #13 item 1).

Both speak to any server that implements the same HTTP API (``base_url``). Text deltas are
yielded as they arrive; tool calls when their arguments are complete, checked to be JSON
objects (`MalformedToolCallError` otherwise). Client errors become `ProviderError`s.

The official client does its I/O through httpx2 on anyio, so one client works on asyncio and
on trio (sniffio picks the backend per call); no custom ``http_client`` is needed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any, Final, final

import openai

from anyio_tools.runtime import LLM, LLMChunk, LLMRequest, TextDelta

from ._base import ClientOwner, checked_call, client_options, events, guarded
from ._errors import ProviderError
from ._openai_convert import chat_request, responses_request
from ._translate import translate

__all__ = ["OpenAIChatLLM", "OpenAIResponsesLLM"]

_PROVIDER: Final = "openai"


def _client(
    client: openai.AsyncOpenAI | None,
    api_key: str | None,
    base_url: str | None,
    timeout: float | None,
    max_retries: int | None,
) -> openai.AsyncOpenAI:
    if client is not None:
        return client
    return openai.AsyncOpenAI(**client_options(api_key, base_url, timeout, max_retries))


def _translated(exc: Exception) -> Exception:
    error = translate(exc, openai, _PROVIDER)
    return exc if error is None else error


class _OpenAILLM(ClientOwner):
    """What both OpenAI adapters share: the model, the client, strictness, extra fields."""

    def __init__(
        self,
        model: str,
        *,
        client: openai.AsyncOpenAI | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        strict: bool = True,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = model
        self._owns_client = client is None
        self.client = _client(client, api_key, base_url, timeout, max_retries)
        self._strict = strict
        self._extra = dict(extra_body or {})


@final
class OpenAIChatLLM(_OpenAILLM):
    """An `LLM` backed by OpenAI's Chat Completions API, or any server that speaks it.

    ``stream()`` sends one streamed request per generation. Text is yielded as it arrives,
    tool calls once the stream ended. Cancelling the generation closes the HTTP response.

    Args:
        model: The model name.
        client: A configured ``openai.AsyncOpenAI``; built from the other options when omitted
            (the client then reads ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` as usual).
        api_key: The API key.
        base_url: The server's base URL, for instance ``http://localhost:8000/v1``.
        timeout: Seconds before the client gives up on a request.
        max_retries: How often the client retries a failed request itself.
        strict: Ask for strict tool arguments where the tool's schema allows it.
        extra_body: More fields for every request (``temperature``, ``max_tokens`` ...).

    Use it as an async context manager, or call `aclose()`, to close the client it built.

    Raises:
        ValueError: ``timeout`` is not > 0 or ``max_retries`` is negative.
        openai.OpenAIError: No API key was given or found in the environment.
    """

    def request_body(self, request: LLMRequest) -> dict[str, Any]:
        """Return the JSON body ``stream()`` sends for ``request``."""
        body = {"model": self.model, **self._extra, **chat_request(request, strict=self._strict)}
        body["stream"] = True
        return body

    def stream(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        """Stream the continuation of ``request``.

        Raises:
            ProviderError: The request failed (see `anyio_tools.providers`).
        """
        body = self.request_body(request)
        return guarded(lambda: self.client.chat.completions.create(**body), _read_chat, _translated)


async def _read_chat(stream: Any) -> AsyncGenerator[LLMChunk, None]:
    calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
    async with events(stream) as iterator:
        async for chunk in iterator:
            for choice in chunk.choices or ():
                delta = choice.delta
                if delta is None:
                    continue
                if delta.content:
                    yield TextDelta(delta.content)
                for part in delta.tool_calls or ():
                    index = part.index if part.index is not None else len(calls)
                    entry = calls.setdefault(index, ["", "", ""])
                    if part.id:
                        entry[0] = part.id
                    function = part.function
                    if function is not None:
                        if function.name:
                            entry[1] += function.name
                        if function.arguments:
                            entry[2] += function.arguments
    for index in sorted(calls):
        call_id, name, arguments = calls[index]
        if not call_id or not name:
            raise ProviderError(
                f"the stream gave tool call #{index} no id or no name", provider=_PROVIDER
            )
        yield checked_call(_PROVIDER, call_id, name, arguments)


@final
class OpenAIResponsesLLM(_OpenAILLM):
    """An `LLM` backed by OpenAI's Responses API, or any server that speaks it.

    ``stream()`` sends one streamed request per generation, with the whole conversation as
    ``input`` (no state is kept on the server between generations). Text is yielded as it
    arrives, each tool call when its item is done. Cancelling closes the HTTP response.

    Args:
        model: The model name.
        client: A configured ``openai.AsyncOpenAI``; built from the other options when omitted.
        api_key: The API key.
        base_url: The server's base URL.
        timeout: Seconds before the client gives up on a request.
        max_retries: How often the client retries a failed request itself.
        strict: Ask for strict tool arguments where the tool's schema allows it.
        extra_body: More fields for every request (``reasoning``, ``max_output_tokens`` ...).

    Use it as an async context manager, or call `aclose()`, to close the client it built.

    Raises:
        ValueError: ``timeout`` is not > 0 or ``max_retries`` is negative.
        openai.OpenAIError: No API key was given or found in the environment.
    """

    def request_body(self, request: LLMRequest) -> dict[str, Any]:
        """Return the JSON body ``stream()`` sends for ``request``."""
        body = {
            "model": self.model,
            "store": False,
            **self._extra,
            **responses_request(request, strict=self._strict),
        }
        body["stream"] = True
        return body

    def stream(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        """Stream the continuation of ``request``.

        Raises:
            ProviderError: The request failed (see `anyio_tools.providers`).
        """
        body = self.request_body(request)
        return guarded(lambda: self.client.responses.create(**body), _read_responses, _translated)


async def _read_responses(stream: Any) -> AsyncGenerator[LLMChunk, None]:
    async with events(stream) as iterator:
        async for event in iterator:
            kind = event.type
            if kind == "response.output_text.delta":
                if event.delta:
                    yield TextDelta(event.delta)
            elif kind == "response.output_item.done":
                item = event.item
                if item.type == "function_call":
                    yield checked_call(_PROVIDER, item.call_id, item.name, item.arguments or "")
            elif kind == "response.failed":
                error = getattr(event.response, "error", None)
                message = getattr(error, "message", None) or "the response failed"
                raise ProviderError(message, provider=_PROVIDER, retryable=True)
            elif kind == "error":
                raise ProviderError(event.message or "error event", provider=_PROVIDER)


if TYPE_CHECKING:  # mypy proves both adapters are LLMs

    def _is_llm(chat: OpenAIChatLLM, responses: OpenAIResponsesLLM) -> tuple[LLM, LLM]:
        return chat, responses
