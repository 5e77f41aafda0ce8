"""The fault-injection suite prints its totals (kills, inputs, corruptions) as one line at the end
of the run, so CI output shows how much was tried, and the seed that reproduces the choices."""

from __future__ import annotations

import pytest

from tests.fault.harness import COUNTS, summary_line


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if any(COUNTS.values()):
        terminalreporter.write_line(summary_line())
