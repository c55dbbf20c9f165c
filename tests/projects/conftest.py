"""The sampling chain's fixtures serve the project tests too."""

from tests.sampling.conftest import _rules, chain  # noqa: F401
