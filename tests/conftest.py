"""Shared pytest configuration. Fixtures live in topic modules loaded as plugins, so
each area of the bot adds its own module here instead of growing this file."""

import logging
import os
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


# Settings the bot (or the Alibaba Cloud SDK oracle) reads from the environment; a
# developer's shell must not change what a test sees. The PostgreSQL URL is the tests'
# own switch, not a bot setting.
_BOT_PREFIXES = ("ECSBOT_", "SLACK_", "ALIBABA_CLOUD_")
_KEEP = {"ECSBOT_TEST_POSTGRES_URL"}


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with no bot setting in ``os.environ`` (httpx's ``clean_environ``)."""
    for name in list(os.environ):
        if name.startswith(_BOT_PREFIXES) and name not in _KEEP:
            monkeypatch.delenv(name)
