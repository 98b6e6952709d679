"""OpenAI LLMs and the pure conversions behind them (install ``anyio_tools[openai]``).

`OpenAIChatLLM` speaks Chat Completions, `OpenAIResponsesLLM` the Responses API; both work with
any server that implements the same API (``base_url``). The conversion functions build the
request bodies from a chat context and tools without any network access.
"""

from __future__ import annotations

from ._llmio._openai_convert import (
    chat_messages,
    chat_request,
    chat_tools,
    responses_input,
    responses_request,
    responses_tools,
)
from ._llmio._openai_llm import OpenAIChatLLM, OpenAIResponsesLLM
from .providers import (
    MalformedToolCallError,
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeoutError,
    RateLimitError,
)

__all__ = [
    "MalformedToolCallError",
    "OpenAIChatLLM",
    "OpenAIResponsesLLM",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderStatusError",
    "ProviderTimeoutError",
    "RateLimitError",
    "chat_messages",
    "chat_request",
    "chat_tools",
    "responses_input",
    "responses_request",
    "responses_tools",
]

for _name in ("OpenAIChatLLM", "OpenAIResponsesLLM"):
    globals()[_name].__module__ = __name__
del _name
