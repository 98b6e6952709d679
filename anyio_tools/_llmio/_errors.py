"""The errors a provider adapter raises from ``LLM.stream`` (issue #13 item 4).

Hierarchy::

    Exception
    └── ProviderError               the provider could not give a usable generation
        ├── ProviderStatusError     it answered with an HTTP error (or an error event mid-stream)
        │   └── RateLimitError      ... 429: too many requests or tokens; retry later
        ├── ProviderTimeoutError    it did not answer in time
        ├── ProviderConnectionError it could not be reached
        └── MalformedToolCallError  it streamed a tool call whose arguments are not a JSON object

Every error carries the provider's name, the HTTP status code when there was one, and whether
trying the same request again may succeed (``retryable``). The client library's exception is
kept as ``__cause__``.
"""

from __future__ import annotations

from typing import Final, final

__all__ = [
    "MalformedToolCallError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderStatusError",
    "ProviderTimeoutError",
    "RateLimitError",
    "is_retryable_status",
]

_RETRYABLE_STATUS: Final = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def is_retryable_status(status_code: int) -> bool:
    """Whether an HTTP status says the same request may succeed later."""
    return status_code in _RETRYABLE_STATUS or status_code >= 500


class ProviderError(Exception):
    """The provider could not give a usable generation; the turn produced nothing.

    Args:
        message: What went wrong, in the provider's words when it gave some.
        provider: The provider's name ("openai", "anthropic").
        status_code: The HTTP status code, if the provider answered with one.
        retryable: Whether sending the same request again may succeed.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.retryable = retryable

    def __str__(self) -> str:
        status = f" (HTTP {self.status_code})" if self.status_code is not None else ""
        return f"{self.provider}{status}: {self.message}"


class ProviderStatusError(ProviderError):
    """The provider answered with an HTTP error, or sent an error event in the stream.

    Unlike `ProviderConnectionError`, the provider was reached and refused or failed the
    request; a 4xx other than 408, 409 and 429 means the request itself is wrong.
    """

    def __init__(self, message: str, *, provider: str, status_code: int) -> None:
        super().__init__(
            message,
            provider=provider,
            status_code=status_code,
            retryable=is_retryable_status(status_code),
        )


@final
class RateLimitError(ProviderStatusError):
    """The provider refused the request for now (HTTP 429); retry after ``retry_after``.

    Args:
        message: The provider's words.
        provider: The provider's name.
        retry_after: Seconds the provider asked to wait, when it said.
    """

    def __init__(self, message: str, *, provider: str, retry_after: float | None = None) -> None:
        super().__init__(message, provider=provider, status_code=429)
        self.retry_after = retry_after


@final
class ProviderTimeoutError(ProviderError):
    """The provider did not answer (or stopped streaming) within the client's timeout."""

    def __init__(self, message: str, *, provider: str) -> None:
        super().__init__(message, provider=provider, retryable=True)


@final
class ProviderConnectionError(ProviderError):
    """The provider could not be reached, or the connection broke before an answer."""

    def __init__(self, message: str, *, provider: str) -> None:
        super().__init__(message, provider=provider, retryable=True)


@final
class MalformedToolCallError(ProviderError):
    """The provider streamed a tool call whose arguments are not the text of a JSON object.

    Unlike the executor's argument errors (which the LLM sees as the call's answer), this one
    is raised before any call is made: the generation is unusable as a whole. Generating again
    usually succeeds, so it is retryable.

    Args:
        provider: The provider's name.
        name: The tool the call named.
        call_id: The call's id.
        arguments: The text received.
    """

    def __init__(self, *, provider: str, name: str, call_id: str, arguments: str) -> None:
        shown = arguments if len(arguments) <= 200 else arguments[:200] + "..."
        super().__init__(
            f"tool call {call_id!r} to {name!r} has arguments that are not a JSON object: "
            f"{shown!r}",
            provider=provider,
            retryable=True,
        )
        self.name = name
        self.call_id = call_id
        self.arguments = arguments
