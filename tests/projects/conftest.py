"""The sampling chain's fixtures serve the project tests too."""

from tests.sampling.conftest import chain  # noqa: F401
