"""The Anthropic LLM and the pure conversions behind it (install ``anyio_tools[anthropic]``).

`AnthropicLLM` speaks the Messages API. The conversion functions build its request body from a
chat context and tools without any network access.
"""

from __future__ import annotations

from ._llmio._anthropic_convert import (
    CONTINUE_TEXT,
    OPENING_TEXT,
    anthropic_messages,
    anthropic_request,
    anthropic_system,
    anthropic_tools,
)
from ._llmio._anthropic_llm import AnthropicLLM
from .providers import (
    MalformedToolCallError,
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeoutError,
    RateLimitError,
)

__all__ = [
    "CONTINUE_TEXT",
    "OPENING_TEXT",
    "AnthropicLLM",
    "MalformedToolCallError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderStatusError",
    "ProviderTimeoutError",
    "RateLimitError",
    "anthropic_messages",
    "anthropic_request",
    "anthropic_system",
    "anthropic_tools",
]

AnthropicLLM.__module__ = __name__
