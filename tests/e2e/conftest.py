"""The running bot every end-to-end test starts from: an operator and a viewer exist."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.domain.model import Role
from tests.e2e.harness import OPERATOR, VIEWER, Harness, running_bot


@pytest.fixture
def harness(migrated_url: str) -> Iterator[Harness]:
    with running_bot(migrated_url) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        h.grant(VIEWER, Role.VIEWER)
        yield h
