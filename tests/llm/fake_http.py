"""A tiny HTTP/1.1 server for the provider tests: one request per connection, JSON in,
JSON or server-sent events out. It runs in the test's own event loop (anyio TCP listener on
127.0.0.1), so it works on asyncio and trio alike.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import attrs
from anyio.abc import SocketAttribute
from anyio.streams.buffered import BufferedByteReceiveStream

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}


@attrs.frozen
class Reply:
    """What the server sends back: a JSON body, or a list of SSE events, or raw bytes.

    Args:
        status: HTTP status.
        body: A JSON value, sent as ``application/json``.
        events: ``(event name or None, data)`` pairs, sent as ``text/event-stream``; data that
            is not a str is JSON-encoded.
        raw: Bytes sent as the whole body, after the headers (to break the protocol).
        headers: More headers.
        stall: After the body sent so far, keep the connection open, sending nothing more (for
            timeout and cancellation tests).
    """

    status: int = 200
    body: Any = None
    events: list[tuple[str | None, Any]] | None = None
    raw: bytes | None = None
    headers: dict[str, str] = attrs.field(factory=dict)
    stall: bool = False


@attrs.define
class Received:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


Handler = Callable[[Received], Reply]


def _sse(events: list[tuple[str | None, Any]]) -> bytes:
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {name}\n" if name else ""
        out.append(f"{head}data: {text}\n\n")
    return "".join(out).encode()


async def _handle(stream: anyio.abc.ByteStream, handler: Handler) -> None:
    async with stream:
        buffered = BufferedByteReceiveStream(stream)
        head = (await buffered.receive_until(b"\r\n\r\n", 1 << 20)).decode("latin-1")
        request_line, *header_lines = head.split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        data = await buffered.receive_exactly(length) if length else b""
        body = json.loads(data) if data else None
        reply = handler(Received(method, path, headers, body))
        if reply.raw is not None:
            payload, content_type = reply.raw, "text/event-stream"
        elif reply.events is not None:
            payload, content_type = _sse(reply.events), "text/event-stream"
        else:
            payload, content_type = json.dumps(reply.body).encode(), "application/json"
        lines = [
            f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}",
            f"content-type: {content_type}",
            "connection: close",
            *(f"{k}: {v}" for k, v in reply.headers.items()),
        ]
        if reply.events is None and reply.raw is None:
            lines.append(f"content-length: {len(payload)}")
        await stream.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        if payload:
            await stream.send(payload)
        if reply.stall:
            await anyio.sleep_forever()


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """Serve ``handler`` on 127.0.0.1 until the block ends; yield the base URL."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        try:
            await _handle(stream, handler)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.IncompleteRead):
            pass  # the client went away (a cancelled generation, a timeout)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle, name="fake-http-server")
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            tg.cancel_scope.cancel("the test is over")
