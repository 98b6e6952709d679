"""The errors every provider adapter raises (``anyio_tools.openai``, ``anyio_tools.anthropic``).

Hierarchy::

    Exception
    └── ProviderError               the provider could not give a usable generation
        ├── ProviderStatusError     it answered with an HTTP error
        │   └── RateLimitError      ... 429: retry later
        ├── ProviderTimeoutError    it did not answer in time
        ├── ProviderConnectionError it could not be reached
        └── MalformedToolCallError  it streamed tool-call arguments that are not a JSON object

This module needs no client library.
"""

from __future__ import annotations

from ._llmio._errors import (
    MalformedToolCallError,
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeoutError,
    RateLimitError,
)

__all__ = [
    "MalformedToolCallError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderStatusError",
    "ProviderTimeoutError",
    "RateLimitError",
]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
