"""Tools that fail in hostile ways: errors raised during cancellation, stray cancellation
exceptions, results that cannot become text, BaseException subclasses (issues #11 and #12;
SPEC INV-1, INV-23, INV-26, CAN-9, EVT-4, EXE-7)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import anyio
import attrs
import pydantic
import pytest

from anyio_tools import (
    CallEnded,
    CallStatus,
    FunctionCall,
    RunContext,
    ToolError,
    ToolExecutor,
    ToolFlag,
    function_tool,
)
from anyio_tools.testing import FakeHost, tool_task_names

from .helpers import make_ctx


def ends(host: FakeHost) -> list[tuple[str, CallStatus, str | None]]:
    return [(e.id, e.status, e.message) for e in host.events if isinstance(e, CallEnded)]


@function_tool(flags=ToolFlag.CANCELLABLE)
async def fragile(ctx: RunContext[None]) -> str:
    """Run a child task that raises while it is being cancelled."""

    async def child() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            raise ConnectionError("connection lost while closing")

    async with anyio.create_task_group() as tg:
        tg.start_soon(child)
        await ctx.update("working")
        await anyio.sleep_forever()
    return "unreachable"


@pytest.mark.parametrize("how", ["drain", "cancel", "handle"])
async def test_error_raised_during_cancellation_does_not_escape(how: str) -> None:
    """Issue #11 item 1 / INV-23: a tool's child raising while the call is cancelled (a group
    mixing cancellation and the error on trio) ends the call `cancelled` on both backends."""
    host = FakeHost()
    with anyio.fail_after(5):
        async with ToolExecutor(host) as executor:
            if how == "handle":
                handle = await executor.start(fragile, make_ctx("c1", "fragile"))
                await handle.answer()
                handle.cancel("stop")
                result = await handle.result()
                assert (result.status, result.reason) == (CallStatus.CANCELLED, "stop")
            else:
                await executor.execute(fragile, make_ctx("c1", "fragile"))
                if how == "drain":
                    await executor.drain()
                else:
                    assert await executor.cancel("c1")
    assert ends(host) == [("c1_final", CallStatus.CANCELLED, None)]
    assert tool_task_names() == []


async def test_stray_cancellation_from_a_tool_is_an_error_not_a_teardown(
    anyio_backend_name: str,
) -> None:
    """Issue #12 item 1: a CancelledError nobody asked for (asyncio: awaiting a future someone
    else cancelled) ends that call with an error; the executor keeps serving calls."""
    if anyio_backend_name != "asyncio":
        pytest.skip("trio cannot raise a cancellation its scopes did not ask for")
    import asyncio

    @function_tool
    async def shared_future(ctx: RunContext[None]) -> str:
        """Await a future another task cancelled."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        future.cancel()
        return await future

    @function_tool
    async def fine(ctx: RunContext[None]) -> str:
        """Work."""
        return "fine"

    host = FakeHost()
    async with ToolExecutor(host) as executor:
        first = await executor.execute(shared_future, make_ctx("c1", "shared_future"))
        second = await executor.execute(fine, make_ctx("c2", "fine"))
    assert first.output.is_error
    assert second.output.output == "fine"
    assert [(c, s) for c, s, _ in ends(host)] == [
        ("c1", CallStatus.ERROR),
        ("c2", CallStatus.DONE),
    ]


def test_stray_cancellation_on_uvloop() -> None:
    """Issue #12 item 1 on uvloop: the same stray cancellation is an error of that call."""
    pytest.importorskip("uvloop")
    import asyncio

    @function_tool
    async def shared_future(ctx: RunContext[None]) -> str:
        """Await a future another task cancelled."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        future.cancel()
        return await future

    async def main() -> list[tuple[str, CallStatus, str | None]]:
        host = FakeHost()
        async with ToolExecutor(host) as executor:
            await executor.execute(shared_future, make_ctx("c1", "shared_future"))
            await executor.execute(shared_future, make_ctx("c2", "shared_future"))
        return ends(host)

    found = anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
    assert [(c, s) for c, s, _ in found] == [("c1", CallStatus.ERROR), ("c2", CallStatus.ERROR)]


class BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str() is broken")


class SilentToolError(ToolError):
    def __init__(self) -> None:  # forgot super().__init__(message)
        self.code = 42


def _cyclic() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["self"] = value
    return value


def _deep() -> list[Any]:
    value: list[Any] = []
    for _ in range(5000):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("cyclic", "the tool returned an unusable value"),
        ("deep", "the tool returned an unusable value"),
        ("object", "the tool returned an unusable value"),
        ("broken_str", "An internal error occurred while running the tool."),
        ("silent_tool_error", "SilentToolError"),
    ],
)
@pytest.mark.parametrize("after_update", [False, True])
async def test_results_that_cannot_become_text_end_the_call_with_an_error(
    kind: str, text: str, after_update: bool
) -> None:
    """Issue #12 item 2: a cyclic or 5,000-deep value, an exception whose str() fails, a
    ToolError without a message: the call ends `error` (INV-1), nothing escapes."""

    @function_tool
    async def hostile(ctx: RunContext[None], kind: str, after_update: bool) -> object:
        """Return or raise something hostile."""
        if after_update:
            await ctx.update("working")
        if kind == "cyclic":
            return _cyclic()
        if kind == "deep":
            return _deep()
        if kind == "object":
            return object()
        if kind == "broken_str":
            raise BrokenStr
        raise SilentToolError

    host = FakeHost()
    arguments = f'{{"kind": "{kind}", "after_update": {str(after_update).lower()}}}'
    async with ToolExecutor(host) as executor:
        handle = await executor.start(hostile, make_ctx("c1", "hostile", arguments))
        result = await handle.result()
        assert executor.running() == []
    assert result.status is CallStatus.ERROR
    assert result.output == text
    [(call_id, status, message)] = ends(host)
    assert (call_id, status) == ("c1_final" if after_update else "c1", CallStatus.ERROR)
    assert message is not None
    if after_update:
        finals = [i for i in host.history if getattr(i, "call_id", "") == "c1_final"]
        assert [getattr(i, "output", None) for i in finals][-1] == text


async def test_unserialisable_result_is_logged_with_tool_and_type(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue #11 "tool results as JSON": an unusable value is an error with a log line naming
    the tool and the type, never `done` with a placeholder."""

    class Opaque:
        pass

    @function_tool
    async def opaque(ctx: RunContext[None]) -> object:
        """Return an object nobody can serialise."""
        return Opaque()

    with caplog.at_level(logging.ERROR, logger="anyio_tools.executor"):
        async with ToolExecutor() as executor:
            result = await (await executor.start(opaque, make_ctx("c1", "opaque"))).result()
    assert result.status is CallStatus.ERROR
    assert any("opaque" in r.getMessage() and "Opaque" in r.getMessage() for r in caplog.records)


@dataclasses.dataclass
class Seat:
    row: int
    letter: str


@attrs.define
class Booking:
    ref: str
    seats: list[Seat]


class Fare(pydantic.BaseModel):
    amount: float
    currency: str


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("dict", '{"a":[1,2],"b":null}'),
        ("list", '[1,"two",3.5]'),
        ("tuple", "[1,2]"),
        ("dataclass", '{"row":1,"letter":"A"}'),
        ("attrs", '{"ref":"X1","seats":[{"row":2,"letter":"B"}]}'),
        ("model", '{"amount":9.5,"currency":"EUR"}'),
        ("bool", "True"),
    ],
)
async def test_structured_results_reach_the_llm_as_json(kind: str, text: str) -> None:
    """Issue #11: dicts, lists, dataclasses, attrs instances and pydantic models are JSON."""
    values: dict[str, object] = {
        "dict": {"a": [1, 2], "b": None},
        "list": [1, "two", 3.5],
        "tuple": (1, 2),
        "dataclass": Seat(1, "A"),
        "attrs": Booking("X1", [Seat(2, "B")]),
        "model": Fare(amount=9.5, currency="EUR"),
        "bool": True,
    }

    @function_tool
    async def structured(ctx: RunContext[None], kind: str) -> object:
        """Return a structured value."""
        return values[kind]

    host = FakeHost()
    async with ToolExecutor(host) as executor:
        answer = await executor.execute(
            structured, make_ctx("c1", "structured", f'{{"kind": "{kind}"}}')
        )
    assert (answer.output.output, answer.output.is_error) == (text, False)
    assert ends(host) == [("c1", CallStatus.DONE, text)]


@pytest.mark.parametrize("how", ["outer_scope", "close"])
async def test_swallowed_teardown_cancellation_is_reported_cancelled(how: str) -> None:
    """Issue #12 item 7 / CAN-9: a call cancelled through an enclosing scope (or by closing)
    that swallows its cancellation ends `cancelled` on both backends, with no final entry."""
    started = anyio.Event()

    @function_tool
    async def swallower(ctx: RunContext[None]) -> str:
        """Swallow the cancellation and return a value anyway."""
        await ctx.update("working")
        started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            pass
        return "pretended to finish"

    host = FakeHost()
    with anyio.fail_after(5):
        with anyio.CancelScope() as outer:
            async with ToolExecutor(host, close_timeout=1) as executor:
                await executor.execute(swallower, make_ctx("c1", "swallower"))
                await started.wait()
                if how == "outer_scope":
                    outer.cancel()
                    await anyio.sleep_forever()
    assert ends(host) == [("c1_final", CallStatus.CANCELLED, None)]
    assert not any(getattr(i, "call_id", "") == "c1_final" for i in host.history)


class LibraryAbort(BaseException):
    """A library's own BaseException."""


@pytest.mark.parametrize("kind", ["generator_exit", "library"])
async def test_base_exception_subclasses_end_only_their_call(kind: str) -> None:
    """Issue #12 item 8: GeneratorExit or a library's BaseException from a tool is an error of
    that call; the executor (and the session around it) keeps serving."""

    @function_tool
    async def aborts(ctx: RunContext[None], kind: str) -> str:
        """Raise a BaseException that is not an Exception."""
        if kind == "generator_exit":
            raise GeneratorExit
        raise LibraryAbort("aborted")

    host = FakeHost()
    async with ToolExecutor(host) as executor:
        answer = await executor.execute(aborts, make_ctx("c1", "aborts", f'{{"kind": "{kind}"}}'))
        again = await executor.execute(aborts, make_ctx("c2", "aborts", f'{{"kind": "{kind}"}}'))
    assert answer.output.is_error
    assert again.output.is_error
    name = "GeneratorExit" if kind == "generator_exit" else "LibraryAbort: aborted"
    assert ends(host) == [("c1", CallStatus.ERROR, name), ("c2", CallStatus.ERROR, name)]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_keyboard_interrupt_is_reported_as_itself_then_propagates(backend: str) -> None:
    """Issue #12 item 8: KeyboardInterrupt from a tool is reported `error` (not `cancelled`)
    and then leaves the event loop as itself, not as a group. (A sync test: asyncio lets a
    task's KeyboardInterrupt out of the loop itself, past any handler inside it.)"""

    @function_tool
    async def interrupted(ctx: RunContext[None]) -> str:
        """Raise KeyboardInterrupt."""
        raise KeyboardInterrupt

    host = FakeHost()

    async def run() -> None:
        async with ToolExecutor(host) as executor:
            await executor.start(interrupted, FunctionCall(call_id="c1", name="interrupted"))
            await anyio.sleep_forever()

    with pytest.raises(KeyboardInterrupt):
        anyio.run(run, backend=backend)
    assert ends(host) == [("c1", CallStatus.ERROR, "KeyboardInterrupt")]
