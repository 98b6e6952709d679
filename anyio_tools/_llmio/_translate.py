"""Turn a client library's exception into our `ProviderError` family (issue #13 item 4).

The official OpenAI and Anthropic clients share one exception design (``APIStatusError`` with
``status_code``, ``RateLimitError``, ``APITimeoutError`` < ``APIConnectionError``, ``APIError``
for error events in a stream), and both read the stream through ``httpx2``, whose transport
errors reach the caller unwrapped while a stream is being read.
"""

from __future__ import annotations

from types import ModuleType

import httpx2

from ._errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeoutError,
    RateLimitError,
)

__all__ = ["translate"]


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return str(getattr(exc, "message", None) or exc)


def translate(exc: Exception, client: ModuleType, provider: str) -> ProviderError | None:
    """Return the `ProviderError` for a client's exception, or None if it is not one of its.

    Args:
        exc: What the client raised.
        client: The client library's module (``openai`` or ``anthropic``).
        provider: The provider's name for the message.
    """
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, client.APITimeoutError | httpx2.TimeoutException):
        return ProviderTimeoutError(f"no answer in time: {exc}", provider=provider)
    if isinstance(exc, client.APIConnectionError | httpx2.TransportError):
        return ProviderConnectionError(f"connection failed: {exc}", provider=provider)
    if isinstance(exc, client.RateLimitError):
        return RateLimitError(_message(exc), provider=provider, retry_after=_retry_after(exc))
    if isinstance(exc, client.APIStatusError):
        if exc.status_code < 400:  # an error event inside a stream that had started well
            return ProviderError(_message(exc), provider=provider, retryable=True)
        return ProviderStatusError(_message(exc), provider=provider, status_code=exc.status_code)
    if isinstance(exc, client.APIError):
        return ProviderError(_message(exc), provider=provider)
    return None
