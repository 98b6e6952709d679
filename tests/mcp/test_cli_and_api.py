"""The ``schema`` command and the public surface of ``anyio_tools.mcp`` (issue #14)."""

from __future__ import annotations

import inspect
import json

import pytest

import anyio_tools.mcp
from anyio_tools.__main__ import main
from anyio_tools.testing import running_task_names


def test_the_mcp_surface_is_documented() -> None:
    """STYLE 2.2: every exported name exists, is documented and shows its public module."""
    names = anyio_tools.mcp.__all__
    assert names == sorted(names)
    for name in names:
        value = getattr(anyio_tools.mcp, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"
            assert value.__module__ == "anyio_tools.mcp"


@pytest.mark.parametrize(
    ("fmt", "keys"),
    [
        ("openai", {"type", "function"}),
        ("anthropic", {"name", "description", "input_schema"}),
        ("mcp", {"name", "description", "inputSchema"}),
    ],
)
def test_schema_command_prints_each_format(
    fmt: str, keys: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """#14 CLI: ``schema module:tools --format ...`` prints one JSON entry per tool."""
    assert main(["schema", "tests.mcp.served:tools", "--format", fmt]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 3
    assert set(listed[0]) == keys
    if fmt == "anthropic":
        assert listed[0]["input_schema"]["required"] == ["n"]


def test_schema_command_reports_a_bad_name(capsys: pytest.CaptureFixture[str]) -> None:
    """#14 CLI: a name that is not module:attribute is an error that says what is expected."""
    with pytest.raises(SystemExit):
        main(["schema", "tests.mcp.served"])
    assert "expected module:attribute" in capsys.readouterr().err


async def test_closing_leaves_no_mcp_task() -> None:
    """STYLE 2.6: the connection, server and executor tasks end with the toolset."""
    from anyio_tools.mcp import MCPToolset, build_mcp_server

    from .served import steps

    async with MCPToolset(id="remote", server=build_mcp_server([steps])):
        assert any(name.startswith("mcp-") for name in running_task_names())
    assert not [name for name in running_task_names() if name.startswith("mcp-")]
