"""The archive tests use the reports' lab and rules."""

from tests.reports.conftest import _rules, lab  # noqa: F401 (fixtures)
