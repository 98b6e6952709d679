"""The public surface: sorted, importable, documented; no asyncio/trio in library code."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

import anyio_tools
import anyio_tools.anthropic
import anyio_tools.openai
import anyio_tools.otel
import anyio_tools.providers
import anyio_tools.runtime
import anyio_tools.testing

PACKAGE = Path(anyio_tools.__file__).parent


README = PACKAGE.parent / "README.md"

# The public surface, spelled out: adding, removing or renaming a public name must change this
# list too (and the README and CHANGELOG with it), so that drift is a failing test (STYLE 2.2).
EXPECTED: dict[str, list[str]] = {
    "anyio_tools": [
        "CANCELLED_TEXT",
        "CANCEL_TOOL_NAME",
        "CLOSING_TEXT",
        "CONFIRM_PARAM",
        "GENERIC_ERROR_TEXT",
        "LIST_TOOL_NAME",
        "ActivityClosedError",
        "AgentHandoff",
        "AsyncToolOptions",
        "CallEnded",
        "CallHandle",
        "CallRefusedError",
        "CallRegistry",
        "CallResult",
        "CallRetried",
        "CallStarted",
        "CallStatus",
        "CallUpdated",
        "CancelAnswer",
        "CancelReason",
        "ChatContext",
        "ChatItem",
        "ChatMessage",
        "ChatRole",
        "Conversation",
        "Deadline",
        "Delivery",
        "DeliveryOutcome",
        "DeliverySettled",
        "DispatchResult",
        "DropReason",
        "DuplicateMode",
        "DuplicatePromptArgs",
        "DuplicateScope",
        "ExecutorClosedError",
        "ExecutorScope",
        "ExecutorState",
        "FunctionCall",
        "FunctionCallOutput",
        "FunctionTool",
        "HandoffAgent",
        "Instrumentation",
        "InvalidArgumentsError",
        "JSONValue",
        "JoinPromptArgs",
        "ParsedArguments",
        "PreparedArguments",
        "RawFunctionTool",
        "ReplyDropped",
        "ReplyHandle",
        "ReplyPromptArgs",
        "ReplyStatus",
        "ReplyTarget",
        "ReplyUpdated",
        "RetryPolicy",
        "RunContext",
        "RunningCall",
        "RunningCallTools",
        "SessionClosedError",
        "SessionHandle",
        "StopResponse",
        "SubAgentTask",
        "TimeoutPromptArgs",
        "Tool",
        "ToolError",
        "ToolEvent",
        "ToolExecutor",
        "ToolFlag",
        "ToolHandlingOptions",
        "ToolHost",
        "ToolInfo",
        "ToolOptions",
        "Toolset",
        "ToolsetItem",
        "TurnHandle",
        "UnknownToolError",
        "UpdatePair",
        "UpdatePromptArgs",
        "function_tool",
        "parse_arguments",
        "run_tool",
    ],
    "anyio_tools.otel": ["OpenTelemetry", "instrument", "uninstrument"],
    "anyio_tools.runtime": [
        "LLM",
        "ActivityState",
        "Agent",
        "AgentPaused",
        "AgentResumed",
        "AgentSession",
        "AgentStartError",
        "AgentState",
        "AgentStateChanged",
        "AgentTask",
        "AgentTaskError",
        "AsyncToolset",
        "ConversationItemAdded",
        "LLMChunk",
        "LLMError",
        "LLMRequest",
        "RunResult",
        "ScriptedCall",
        "ScriptedLLM",
        "ScriptedResponse",
        "SessionError",
        "SessionEvent",
        "SpeechHandle",
        "SpeechOutput",
        "TextDelta",
        "TextOutput",
        "ToolCallRequest",
        "ToolChoice",
        "UserState",
        "UserStateChanged",
    ],
    "anyio_tools.testing": [
        "FakeAgent",
        "FakeHost",
        "FakeReply",
        "TaskLeakError",
        "no_task_leaks",
        "running_task_names",
        "tool_task_names",
    ],
}
MODULES = {
    m.__name__: m for m in (anyio_tools, anyio_tools.otel, anyio_tools.runtime, anyio_tools.testing)
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_all_equals_the_expected_public_names(name: str) -> None:
    """STYLE 2.2, issue #11 item 8b: each public module's `__all__` is exactly the expected
    list, sorted as ruff's RUF022 sorts it, and every name shows the public module as its
    home."""
    module = MODULES[name]
    names = list(module.__all__)  # type: ignore[attr-defined]
    assert sorted(names) == sorted(EXPECTED[name])
    assert names == EXPECTED[name], "__all__ is not in the expected order"
    for public in names:
        value = getattr(module, public)
        if inspect.isclass(value) and value.__module__.startswith("anyio_tools"):
            assert value.__module__ == name, f"{public}.__module__ is {value.__module__}"


def readme_names() -> set[tuple[str, str]]:
    """The names the README uses: `anyio_tools[.runtime|.testing].Name` references and the
    names its code imports from those modules."""
    text = README.read_text(encoding="utf-8")
    found: set[tuple[str, str]] = set()
    for module, attr in re.findall(
        r"\b(anyio_tools(?:\.runtime|\.testing)?)\.(\w+)(?![.\w])", text
    ):
        if importlib.util.find_spec(f"{module}.{attr}") is None:  # a name, not a module
            found.add((module, attr))
    imports = re.findall(
        r"from (anyio_tools(?:\.runtime|\.testing)?) import (\([^)]*\)|[^\n]*)", text
    )
    for module, names in imports:
        for attr in re.findall(r"\w+", names):
            found.add((module, attr))
    return found


def test_every_name_the_readme_uses_is_exported() -> None:
    """Issue #11 items 8b and 11: a name the README tells users to import (such as
    `anyio_tools.Conversation`) is in that module's `__all__`."""
    names = readme_names()
    assert ("anyio_tools", "Conversation") in names  # the scan sees dotted references
    assert ("anyio_tools.testing", "FakeHost") in names  # ... and imports
    missing = sorted(
        f"{module}.{attr}"
        for module, attr in names
        if attr not in MODULES[module].__all__  # type: ignore[attr-defined]
    )
    assert missing == []


@pytest.mark.parametrize(
    "module",
    [
        anyio_tools,
        anyio_tools.runtime,
        anyio_tools.testing,
        anyio_tools.openai,
        anyio_tools.otel,
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


def test_only_the_otel_module_imports_opentelemetry() -> None:
    """Issue #17: OpenTelemetry is optional; only `anyio_tools.otel` imports it, so the core
    runs without ``anyio_tools[otel]``."""
    for path in PACKAGE.rglob("*.py"):
        if path.name == "otel.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert "import opentelemetry" not in text, path
        assert "from opentelemetry" not in text, path
