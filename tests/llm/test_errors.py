"""Provider failures become typed errors, and the session survives them (issue #13 item 4).

HTTP errors, rate limits, timeouts, refused connections, error events inside a stream and
malformed tool-call arguments, through the real client libraries and the fake servers, on
asyncio and trio, in real time (see conftest). A session reports the error as a
`SessionError("llm", error)` event; the turn ends without a reply and the next turn works.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import anyio
import pytest

from anyio_tools import function_tool
from anyio_tools._chat import ChatContext
from anyio_tools.providers import (
    MalformedToolCallError,
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeoutError,
    RateLimitError,
)
from anyio_tools.runtime import (
    Agent,
    AgentSession,
    LLMRequest,
    SessionError,
    TextDelta,
    TextOutput,
)

from .conftest import KINDS, make_llm
from .fake_http import Reply, serve
from .fake_providers import FakeProvider, Kind, Turn, View, error_reply, turn_events


@function_tool
async def weather(city: str) -> str:
    """Tell the weather.

    Args:
        city: The city.
    """
    return "sunny"


def _request() -> LLMRequest:
    ctx = ChatContext()
    ctx.add_message("user", "weather?")
    return LLMRequest(chat_ctx=ctx, tools=[weather], tool_choice="auto", instructions="Hi.")


async def _fail(kind: Kind, reply: Reply | Turn, **options: Any) -> ProviderError:
    provider = FakeProvider(kind, lambda view: reply)
    with anyio.fail_after(10):
        async with serve(provider) as url, make_llm(kind, url, **options) as llm:
            with pytest.raises(ProviderError) as caught:
                async for _ in llm.stream(_request()):
                    pass
    assert provider.violations == []
    return caught.value


@pytest.mark.parametrize("kind", KINDS)
async def test_http_400_is_a_status_error(kind: Kind) -> None:
    """A refused request: status code kept, not retryable, the provider's message shown."""
    error = await _fail(kind, error_reply(kind, 400, "messages: bad order"))
    assert type(error) is ProviderStatusError
    assert error.status_code == 400
    assert not error.retryable
    assert "messages: bad order" in str(error)
    assert error.__cause__ is not None


@pytest.mark.parametrize("kind", KINDS)
async def test_http_500_is_retryable(kind: Kind) -> None:
    """A server failure is a retryable status error."""
    error = await _fail(kind, error_reply(kind, 500, "boom"))
    assert isinstance(error, ProviderStatusError)
    assert error.status_code == 500
    assert error.retryable


@pytest.mark.parametrize("kind", KINDS)
async def test_rate_limit_keeps_retry_after(kind: Kind) -> None:
    """HTTP 429 becomes RateLimitError with the server's retry-after."""
    error = await _fail(kind, error_reply(kind, 429, "slow down", **{"retry-after": "7"}))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 7.0
    assert error.retryable


@pytest.mark.parametrize("kind", KINDS)
async def test_timeout(kind: Kind) -> None:
    """A server that never sends its body: the client's timeout gives ProviderTimeoutError."""
    error = await _fail(kind, Reply(events=[], stall=True), timeout=0.3)
    assert isinstance(error, ProviderTimeoutError)
    assert error.retryable


@pytest.mark.parametrize("kind", KINDS)
async def test_connection_refused(kind: Kind) -> None:
    """Nobody listens: ProviderConnectionError."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # the port is now closed
    with anyio.fail_after(10):
        async with make_llm(kind, f"http://127.0.0.1:{port}") as llm:
            with pytest.raises(ProviderConnectionError):
                async for _ in llm.stream(_request()):
                    pass


@pytest.mark.parametrize("kind", KINDS)
async def test_malformed_tool_call_arguments(kind: Kind) -> None:
    """Streamed arguments that are not a JSON object: MalformedToolCallError naming the call."""
    error = await _fail(kind, Turn("Let me see.", calls=(("weather", '{"city": "Par'),)))
    assert isinstance(error, MalformedToolCallError)
    assert error.__cause__ is None
    assert error.name == "weather"
    assert error.arguments == '{"city": "Par'
    assert error.retryable


_STREAM_ERRORS: dict[Kind, Reply] = {
    "chat": Reply(events=[(None, {"error": {"message": "overloaded", "type": "server_error"}})]),
    "responses": Reply(
        events=[
            (
                "response.failed",
                {
                    "type": "response.failed",
                    "sequence_number": 0,
                    "response": {
                        "id": "resp_1",
                        "object": "response",
                        "created_at": 0,
                        "model": "fake",
                        "status": "failed",
                        "output": [],
                        "tool_choice": "auto",
                        "tools": [],
                        "parallel_tool_calls": True,
                        "error": {"code": "server_error", "message": "overloaded"},
                    },
                },
            )
        ]
    ),
    "anthropic": Reply(
        events=[
            (
                "error",
                {"type": "error", "error": {"type": "overloaded_error", "message": "overloaded"}},
            )
        ]
    ),
}


@pytest.mark.parametrize("kind", KINDS)
async def test_error_event_inside_the_stream(kind: Kind) -> None:
    """An error sent after HTTP 200, inside the event stream, is a ProviderError too."""
    error = await _fail(kind, _STREAM_ERRORS[kind])
    assert "overloaded" in str(error)


def _caused_by(exc: BaseException | None, kind: type[BaseException]) -> bool:
    while exc is not None:
        if isinstance(exc, kind):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@pytest.mark.parametrize("kind", KINDS)
async def test_session_reports_the_error_and_the_next_turn_works(kind: Kind) -> None:
    """The failed turn emits SessionError("llm", ProviderError) (or, with a runtime whose
    run() raises the LLM's failure, raises an error caused by it) and ends without a hang; the
    next user turn is answered; the failed turn's user message stays in the history."""
    failures = [error_reply(kind, 429, "slow down")]

    def script(view: View) -> Reply | str:
        return failures.pop() if failures else f"answer to {view.last_user_text}"

    provider = FakeProvider(kind, script)
    errors: list[SessionError] = []
    with anyio.fail_after(10):
        async with serve(provider) as url, make_llm(kind, url) as llm:
            session: AgentSession[None] = AgentSession(
                llm=llm, output=TextOutput(chars_per_second=10_000)
            )
            session.on(SessionError, errors.append)
            async with session:
                await session.start(Agent(instructions="Be brief.", tools=[weather]))
                try:
                    await session.run(user_input="first")
                except Exception as exc:  # a runtime whose run() raises the LLM's failure
                    assert _caused_by(exc, RateLimitError), exc  # noqa: PT017
                else:
                    assert [type(e.error) for e in errors] == [RateLimitError]
                    assert errors[0].source == "llm"
                await session.run(user_input="second")
                said = [
                    item.content
                    for item in session.history.items
                    if getattr(item, "role", None) in ("user", "assistant")
                ]
    assert said == ["first", "second", "answer to second"]
    assert provider.violations == []


@pytest.mark.parametrize("kind", KINDS)
async def test_cancelled_generation_closes_the_response(kind: Kind) -> None:
    """A consumer that stops reading mid-stream (an interruption) closes the HTTP response
    at once, even while the server keeps the stream open; nothing is left to the GC."""
    events = turn_events(kind, Turn("hello there, how are you"))
    reply = Reply(events=events[:4], stall=True)  # the first words, then nothing, never closed
    provider = FakeProvider(kind, lambda view: reply)
    with anyio.fail_after(10):
        async with (
            serve(provider) as url,
            make_llm(kind, url) as llm,
            aclosing(llm.stream(_request())) as stream,
        ):
            async for chunk in stream:
                assert isinstance(chunk, TextDelta)
                break
    assert provider.violations == []
