"""Shared pytest configuration. Fixtures live in topic modules loaded as plugins, so
each area of the bot adds its own module here instead of growing this file."""

import logging
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.fixtures_db"]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Tests that run the CLI configure logging onto their captured stderr; put the
    handlers back so later log lines do not go to a stream that is closed by then."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
