"""Contracts use the reports' lab and rules."""

from tests.reports.conftest import lab  # noqa: F401 (fixtures)
