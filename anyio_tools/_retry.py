"""Retry policies of idempotent tools (issue #16; SPEC-style rules RTY-1..5 in the README).

A `RetryPolicy` is a frozen value a tool declares with ``function_tool(retry=...)``; it says
how many attempts a call may make, how long to wait between them, and which failures are
worth another attempt. The loop that applies it runs inside the call's own task
(`anyio_tools._deadlines.CallGuard`), so a deadline covers every attempt and its back-off.

- RTY-1: only tools flagged `ToolFlag.IDEMPOTENT` may declare a policy (checked at decoration).
- RTY-2: an exception is retried only when the policy names it (``retry_on`` types or the
  ``retry_if`` predicate); the default retries nothing; cancellation is never retried.
- RTY-3: the wait before attempt ``n + 1`` is ``min(max_delay, initial_delay * multiplier **
  (n - 1))``, reduced at random by up to ``jitter`` of itself, slept with ``anyio.sleep``.
- RTY-4: every failed attempt that is retried emits one `CallRetried`; the handle counts
  attempts (``CallHandle.attempts``); updates made by a failed attempt stay in the chat.
- RTY-5: when the attempts run out, the last exception is the call's outcome.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, final

import attrs

from ._groups import collapse

__all__ = ["RetryPolicy"]


def _exception_types(value: object) -> tuple[type[BaseException], ...]:
    if isinstance(value, type):
        value = (value,)
    if not isinstance(value, tuple) or not all(
        isinstance(t, type) and issubclass(t, Exception) for t in value
    ):
        raise TypeError(f"retry_on must be an Exception subclass or a tuple of them, got {value!r}")
    return value


def _at_least(minimum: float, *, strict: bool = False) -> Callable[[Any, Any, Any], None]:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{attribute.name} must be a number, got {type(value).__name__}")
        if not (value > minimum if strict else value >= minimum):
            sign = ">" if strict else ">="
            raise ValueError(f"{attribute.name} must be {sign} {minimum}, got {value!r}")

    return check


def _fraction(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _at_least(0)(instance, attribute, value)
    if value > 1:
        raise ValueError(f"{attribute.name} must be <= 1, got {value!r}")


def _predicate(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"retry_if must be a callable or None, got {type(value).__name__}")


@final
@attrs.frozen
class RetryPolicy:
    """How a call of an idempotent tool retries transient failures.

    Only exceptions the policy names are retried (none by default); cancellation never is.
    Between attempts the call sleeps ``min(max_delay, initial_delay * multiplier ** (n -
    1))`` seconds after its ``n``-th failure, less a random share of up to *jitter* of that
    delay. A tool's deadlines cover every attempt and every wait.

    Args:
        attempts: How many attempts in all (1 means no retry).
        initial_delay: Seconds before the second attempt (before jitter).
        multiplier: How much each later wait grows.
        max_delay: The longest wait between two attempts.
        jitter: The largest share of a wait removed at random (0 to 1).
        retry_on: The exception types worth another attempt.
        retry_if: A predicate on the exception, for what types cannot say; an exception is
            retried when it matches *retry_on* or *retry_if* returns true.

    Raises:
        ValueError: *attempts* below 1, a negative delay, a *multiplier* below 1, or a
            *jitter* outside 0 to 1.
        TypeError: *retry_on* that is not an exception type or a tuple of them, or a
            *retry_if* that is not callable.
    """

    attempts: int = attrs.field(default=3, validator=_at_least(1))
    initial_delay: float = attrs.field(default=0.5, validator=_at_least(0))
    multiplier: float = attrs.field(default=2.0, validator=_at_least(1))
    max_delay: float = attrs.field(default=30.0, validator=_at_least(0))
    jitter: float = attrs.field(default=0.1, validator=_fraction)
    retry_on: tuple[type[BaseException], ...] = attrs.field(default=(), converter=_exception_types)
    retry_if: Callable[[BaseException], bool] | None = attrs.field(
        default=None, validator=_predicate
    )

    def __attrs_post_init__(self) -> None:
        if isinstance(self.attempts, float):
            raise TypeError(f"attempts must be an int, got {self.attempts!r}")

    def retryable(self, error: BaseException) -> bool:
        """Return whether *error* (or the one error an exception group holds) is retried."""
        found = collapse(error)
        if self.retry_on and isinstance(found, self.retry_on):
            return True
        predicate = self.retry_if
        return predicate is not None and bool(predicate(found))

    def delay(self, failures: int, *, rand: Callable[[], float] = random.random) -> float:
        """Return the seconds to wait after the *failures*-th failed attempt (RTY-3)."""
        base = min(self.max_delay, self.initial_delay * self.multiplier ** (failures - 1))
        return base * (1.0 - self.jitter * rand())
