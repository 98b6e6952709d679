"""Every Python example of the README runs (and asserts what it shows), on both backends."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import start_blocking_portal

from tests.llm.conftest import LIBRARY_GC_WARNING
from tests.llm.fake_http import serve
from tests.llm.fake_providers import FakeProvider, Kind, Turn, View

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


_PROVIDER_BLOCKS = [b for b in _BLOCKS if "anyio_tools.openai" in b or "anyio_tools.anthropic" in b]


def _examples() -> list[str]:
    """Join the blocks that build on each other (the declaration ones) and keep the rest."""
    rest = [block for block in _BLOCKS[2:] if block not in _PROVIDER_BLOCKS]
    return ["\n".join(_BLOCKS[:2]), *rest]


@pytest.mark.parametrize("source", _examples(), ids=lambda s: s.splitlines()[0][:40])
async def test_readme_example_runs(source: str) -> None:
    """The example runs; `anyio.run(main)` is replaced by awaiting main on the test's loop."""
    source = source.replace("anyio.run(main)", "")
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(source, str(README), "exec"), namespace)  # noqa: S102 - the point of the test
    main = namespace.get("main")
    if main is not None:
        await main()
    assert len(_BLOCKS) >= 4


def test_readme_examples_type_check(tmp_path: Path) -> None:
    """Issue #21: every README example passes ``mypy --strict`` (no cast needed to speak from
    a tool inside ``foreground()``)."""
    from mypy import api

    files = []
    for index, source in enumerate(_examples()):
        path = tmp_path / f"readme_example_{index}.py"
        path.write_text(source, encoding="utf-8")
        files.append(str(path))
    out, err, status = api.run(["--strict", "--no-error-summary", *files])
    assert status == 0, out + err


def _weather_model(view: View) -> Turn | str:
    if view.last_role == "tool":
        return f"It is {view.outputs[-1][1]}."
    return Turn("", calls=(("weather", {"city": "Paris"}),))


@pytest.mark.filterwarnings(LIBRARY_GC_WARNING)
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize(
    "source",
    _PROVIDER_BLOCKS,
    ids=lambda s: "anthropic" if "anyio_tools.anthropic" in s else "openai",
)
def test_readme_real_model_example_runs(
    source: str, backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue #13: each "Using a real model" example runs unchanged against the fake server of
    its provider (found through the usual environment variables), on each backend, in real
    time (a thread serves while the example runs its own loop); every request was valid."""
    kind: Kind = "anthropic" if "anyio_tools.anthropic" in source else "chat"
    provider = FakeProvider(kind, _weather_model)
    prefix = "ANTHROPIC" if kind == "anthropic" else "OPENAI"
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(source.replace("anyio.run(main)", ""), str(README), "exec"), namespace)  # noqa: S102
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve(provider)) as url,
    ):
        monkeypatch.setenv(f"{prefix}_BASE_URL", url)
        monkeypatch.setenv(f"{prefix}_API_KEY", "test-key")
        anyio.run(namespace["main"], backend=backend)
    assert capsys.readouterr().out == "It is sunny in Paris.\n"
    assert provider.violations == []
    assert len(provider.received) == 2
