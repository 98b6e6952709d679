"""``python -m anyio_tools demo --llm openai`` plays the demo against an OpenAI-compatible
server (issue #13 item 5): here the fake Chat Completions server, run in a thread through a
blocking portal while the demo runs its own event loop, on each backend, in real time."""

from __future__ import annotations

import pytest
from anyio.from_thread import start_blocking_portal

from anyio_tools.__main__ import main

from .fake_http import serve
from .fake_providers import FakeProvider
from .test_conversation import demo_script


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_demo_with_openai_compatible_server(
    backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's options reach the adapter; the story ends; every request was valid."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a local server needs no key
    provider = FakeProvider("chat", demo_script)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve(provider)) as url,
    ):
        status = main(
            ["demo", "--backend", backend, "--speed", "10", "--llm", "openai",
             "--model", "fake-model", "--base-url", url]
        )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    assert f"demo on {backend} (openai LLM)" in out
    assert "summary:" in out
    assert provider.violations == []
    assert {body["model"] for body in provider.received} == {"fake-model"}


def test_demo_with_openai_needs_a_key_or_a_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without OPENAI_API_KEY and without a base URL the CLI says what is missing."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--llm", "openai"])
    assert exited.value.code == 2
    assert "needs OPENAI_API_KEY" in capsys.readouterr().err
