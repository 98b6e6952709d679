"""What comes out of a task group the library owns (SPEC INV-23, INV-26; STYLE 2.6).

anyio's task groups raise exception groups, and on trio a group may mix the cancellation of a
scope with a real error raised during that cancellation. Our own tasks never raise, so what a
group we own carries is the user's exception (or a cancellation). `collapse` picks the one
exception to raise in its place, the same on asyncio and trio; `collapse_groups` applies it
around a block; `reraise` raises it keeping its ``__cause__`` and ``__context__``.

The order of preference: ``KeyboardInterrupt`` and ``SystemExit`` (they must propagate), then
the one real error, then a group of the real errors if there are several, then a cancellation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from anyio import get_cancelled_exc_class

__all__ = ["collapse", "collapse_groups", "is_cancellation", "leaves", "reraise"]

_EXIT_EXCEPTIONS = (KeyboardInterrupt, SystemExit)


def leaves(exc: BaseException) -> list[BaseException]:
    """Return the exceptions inside ``exc`` with every (nested) group flattened away."""
    if not isinstance(exc, BaseExceptionGroup):
        return [exc]
    found: list[BaseException] = []
    for inner in exc.exceptions:
        found.extend(leaves(inner))
    return found


def is_cancellation(exc: BaseException) -> bool:
    """Return whether ``exc`` is a cancellation, or a group holding nothing but cancellations.

    Must be called with an event loop running (the cancellation class depends on it).
    """
    cancelled = get_cancelled_exc_class()
    return all(isinstance(leaf, cancelled) for leaf in leaves(exc))


def collapse(exc: BaseException) -> BaseException:
    """Return the exception to raise in place of what a task group raised.

    A plain exception is returned as it is. From a group: the first ``KeyboardInterrupt`` or
    ``SystemExit``; else the only exception that is not a cancellation; else a group of the
    exceptions that are not cancellations (when there are several); else the first
    cancellation. Must be called with an event loop running.
    """
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    found = leaves(exc)
    for leaf in found:
        if isinstance(leaf, _EXIT_EXCEPTIONS):
            return leaf
    cancelled = get_cancelled_exc_class()
    real = [leaf for leaf in found if not isinstance(leaf, cancelled)]
    if len(real) == 1:
        return real[0]
    if not real:
        return found[0]
    _, rest = exc.split(cancelled)
    assert rest is not None  # there are real errors
    return rest


def reraise(exc: BaseException) -> NoReturn:
    """Raise ``exc`` from inside an ``except`` block, keeping its own ``__context__``.

    Raising in a handler sets ``__context__`` to the exception being handled (the group);
    this restores what the exception carried before.
    """
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        del exc, context


@contextmanager
def collapse_groups() -> Iterator[None]:
    """Raise the `collapse`-d exception instead of an exception group leaving the block."""
    try:
        yield
    except BaseExceptionGroup as group:
        found = collapse(group)
        if found is group:
            raise
        reraise(found)
