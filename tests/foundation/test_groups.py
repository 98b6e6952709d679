"""The one helper that decides what leaves a task group the library owns (INV-23, INV-26)."""

from __future__ import annotations

import anyio
import pytest

from anyio_tools._groups import collapse, collapse_groups, is_cancellation, leaves


async def _raise_chained_in_group() -> None:
    with collapse_groups():
        async with anyio.create_task_group():
            try:
                raise KeyError("context")
            except KeyError:
                try:
                    raise OSError("cause")
                except OSError as cause:
                    raise ValueError("inner") from cause


async def _a_cancellation() -> BaseException:
    caught: BaseException | None = None
    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await anyio.lowlevel.checkpoint()
        except anyio.get_cancelled_exc_class() as exc:
            caught = exc
            raise
    assert caught is not None
    return caught


async def test_single_error_leaves_the_group_with_cause_and_context() -> None:
    """INV-26: a group of one comes out as that exception, its cause and context kept."""
    with pytest.raises(ValueError, match="inner") as info:
        await _raise_chained_in_group()
    assert isinstance(info.value.__cause__, OSError)
    assert isinstance(info.value.__context__, OSError)


async def test_error_raised_during_cancellation_wins_over_the_cancellation() -> None:
    """INV-23: a child that raises while being cancelled gives that error, on both backends."""

    async def child(started: anyio.Event) -> None:
        try:
            started.set()
            await anyio.sleep_forever()
        finally:
            raise ConnectionError("while cancelled")

    async def cancel_it() -> None:
        with collapse_groups():
            async with anyio.create_task_group() as tg:
                started = anyio.Event()
                tg.start_soon(child, started)
                await started.wait()
                tg.cancel_scope.cancel()
                await anyio.sleep_forever()

    with pytest.raises(ConnectionError, match="while cancelled"):
        await cancel_it()


async def test_collapse_order_of_preference() -> None:
    """Exit exceptions first, then the one real error, then a group of several, then cancel."""
    stop = KeyboardInterrupt()
    real = ValueError("real")
    cancel = await _a_cancellation()
    assert collapse(BaseExceptionGroup("g", [real, stop])) is stop
    assert collapse(BaseExceptionGroup("g", [cancel, BaseExceptionGroup("h", [real])])) is real
    several = collapse(BaseExceptionGroup("g", [ValueError("a"), cancel, KeyError("b")]))
    assert isinstance(several, BaseExceptionGroup)
    assert [type(e) for e in leaves(several)] == [ValueError, KeyError]
    assert collapse(BaseExceptionGroup("g", [cancel])) is cancel
    assert collapse(real) is real
    assert is_cancellation(BaseExceptionGroup("g", [cancel, await _a_cancellation()]))
    assert not is_cancellation(BaseExceptionGroup("g", [cancel, real]))
