"""The public surface: sorted, importable, documented; no asyncio/trio in library code."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import anyio_tools
import anyio_tools.anthropic
import anyio_tools.openai
import anyio_tools.providers
import anyio_tools.runtime
import anyio_tools.testing

PACKAGE = Path(anyio_tools.__file__).parent


@pytest.mark.parametrize(
    "module",
    [
        anyio_tools,
        anyio_tools.runtime,
        anyio_tools.testing,
        anyio_tools.openai,
        anyio_tools.anthropic,
        anyio_tools.providers,
    ],
)
def test_all_is_unique_importable_and_documented(module: object) -> None:
    """STYLE 2.2: every exported name is unique, exists and has a docstring (ruff RUF022 keeps
    `__all__` sorted)."""
    names = module.__all__  # type: ignore[attr-defined]
    assert len(names) == len(set(names))
    for name in names:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"


def test_library_imports_no_asyncio_or_trio() -> None:
    """Standards: library code imports anyio only."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert not roots & {"asyncio", "trio"}, f"{path.name} imports {roots}"


def test_async_run_context_alias_warns() -> None:
    """The deprecated alias still works and says what to use."""
    with pytest.warns(DeprecationWarning, match="use anyio_tools.RunContext"):
        alias = anyio_tools.runtime.AsyncRunContext
    assert alias is anyio_tools.RunContext


async def test_no_task_leaks_reports_a_leaked_task() -> None:
    """The leak-check helper fails when a task started in its block still runs."""
    import anyio

    from anyio_tools.testing import TaskLeakError, no_task_leaks

    async def leak(tg: anyio.abc.TaskGroup) -> None:
        with no_task_leaks():
            tg.start_soon(anyio.sleep_forever, name="sleeper")
            await anyio.wait_all_tasks_blocked()

    async with anyio.create_task_group() as tg:
        with pytest.raises(TaskLeakError, match="sleeper"):
            await leak(tg)
        tg.cancel_scope.cancel()
    with no_task_leaks():
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.sleep, 1)


def test_core_and_runtime_never_import_the_provider_adapters() -> None:
    """Issue #13: only anyio_tools.openai, .anthropic and .providers import the adapters (and
    the demo, inside the function that runs --llm openai), so the core needs no client."""
    allowed = {"openai.py", "anthropic.py", "providers.py", "_demo.py"}
    for path in PACKAGE.rglob("*.py"):
        if path.name in allowed or "_llmio" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        assert "_llmio" not in text, path
        assert "import openai" not in text, path
        assert "import anthropic" not in text, path
