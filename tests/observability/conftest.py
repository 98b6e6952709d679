"""In-memory OpenTelemetry SDK set-up for the observability tests (issue #17)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from anyio_tools.otel import uninstrument
from tests.observability.telemetry import Telemetry


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    made = Telemetry()
    yield made
    uninstrument()
    made.shutdown()
