"""Reports how many generated steps ran per backend (issue #5: soak figures)."""

from __future__ import annotations

import pytest

from .test_executor_program import STEPS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if STEPS:
        figures = ", ".join(f"{backend}: {steps} steps" for backend, steps in sorted(STEPS.items()))
        terminalreporter.write_line(f"property programs: {figures}")
