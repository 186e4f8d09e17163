"""``stdlib_http.parse_headers`` reads a header block as ``http.client.parse_headers``
does (docs/decisions/0021): the same headers in the same order, the same lines
consumed, the same limits; and the pool's responses use it."""

from __future__ import annotations

import http.client
import io

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.ecs import stdlib_http
from bot.ecs.stdlib_http import MAX_HEADERS, Response, parse_headers


def _both(block: bytes) -> tuple[tuple[list[tuple[str, str]], bytes], ...]:
    """(headers, what is left unread) by ours and by http.client's."""
    results = []
    for parse in (parse_headers, http.client.parse_headers):
        fp = io.BufferedReader(io.BytesIO(block))
        message = parse(fp)
        results.append((list(message.items()), fp.read()))
    return tuple(results)


_NAME = st.text(alphabet="abcXYZ-_~!{:; \t\x7f", min_size=0, max_size=8)
_VALUE = st.text(alphabet='ab 1\t:;\r\x7fé=,"', max_size=12)
_END = st.sampled_from(["\r\n", "\n", "\r", ""])
_LINE = st.builds(lambda n, v, e: f"{n}:{v}{e}", _NAME, _VALUE, _END) | st.builds(
    lambda v, e: f"{v}{e}", _VALUE, _END
)


@given(st.lists(_LINE, max_size=8), st.sampled_from(["\r\n", "\n", ""]), st.binary(max_size=8))
@example(["Content-Length: 3\r\n", "X-Acs-Request-Id: ABC\r\n"], "\r\n", b"abc")
@example(["Folded: a\r\n", " b\r\n"], "\r\n", b"")
@example(["From x\r\n", "A: b\r\n"], "\r\n", b"")
@example(["Name : spaced\r\n"], "\r\n", b"body")
@example(["A: 1\r\n", "a: 2\r\n"], "\n", b"")
@example(["Latin: caf\xe9\r\n"], "\r\n", b"")
@example(["A: b  \r\n", "B:\t c\t\r\n", "C:\r\n"], "\r\n", b"")  # kept: trailing blanks
def test_a_header_block_reads_as_http_client_reads_it(
    lines: list[str], end: str, body: bytes
) -> None:
    block = "".join(lines).encode("iso-8859-1") + end.encode() + body
    ours, theirs = _both(block)
    assert ours == theirs


def test_the_limits_are_http_clients() -> None:
    too_many = b"A: b\r\n" * MAX_HEADERS + b"\r\n"
    too_long = b"A: " + b"b" * 70_000 + b"\r\n\r\n"
    for block, error in (
        (too_many, http.client.HTTPException),
        (too_long, http.client.LineTooLong),
    ):
        for parse in (parse_headers, http.client.parse_headers):
            with pytest.raises(error):
                parse(io.BufferedReader(io.BytesIO(block)))
    just_enough = b"A: b\r\n" * (MAX_HEADERS - 1) + b"\r\n"
    assert len(parse_headers(io.BufferedReader(io.BytesIO(just_enough)))) == MAX_HEADERS - 1


def test_the_pools_connections_answer_with_it() -> None:
    pool = stdlib_http.OriginPool("http", "127.0.0.1", 1, timeout={"connect": 1.0})
    assert pool.new_connection().response_class is Response
    assert Response.begin.__globals__["parse_headers"] is parse_headers
    assert Response.begin.__code__ is http.client.HTTPResponse.begin.__code__
