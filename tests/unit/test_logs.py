"""Structured logs: request ids on every line written for a request, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import configure_logging, request_context


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield buffer
    root.handlers[:], level = saved
    root.setLevel(level)


def test_json_lines_carry_the_request_id_inside_its_context(stream: io.StringIO) -> None:
    configure_logging("json", stream=stream)
    log = logging.getLogger("bot.test")
    with request_context("abc123def456"):
        log.info("rebooting %d instances", 3)
    log.info("between requests")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["request_id"] == "abc123def456"
    assert first["message"] == "rebooting 3 instances"
    assert (first["level"], first["logger"]) == ("info", "bot.test")
    assert "request_id" not in second


def test_text_lines_name_the_request_and_tokens_are_redacted(stream: io.StringIO) -> None:
    configure_logging("text", stream=stream)
    with request_context("r1"):
        logging.getLogger("bot.test").warning("token xoxb-123-secret leaked?")
    line = stream.getvalue().strip()
    assert line.endswith("[request r1]")
    assert "xoxb-123-secret" not in line
    assert "[redacted]" in line
