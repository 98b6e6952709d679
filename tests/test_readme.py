"""Every Python example of the README runs (and asserts what it shows), on both backends."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def _examples() -> list[str]:
    """Join the blocks that build on each other (the declaration ones) and keep the rest."""
    return ["\n".join(_BLOCKS[:2]), *_BLOCKS[2:]]


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
