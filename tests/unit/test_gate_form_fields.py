"""``gate.form_fields`` reads a form body exactly as ``urllib.parse.parse_qsl`` does
(docs/decisions/0020): the bodies Slack sends, and any text at all."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from hypothesis import example, given
from hypothesis import strategies as st

from bot.slack.gate import form_fields


def _urllib(text: str) -> dict[str, str]:
    return dict(parse_qsl(text, keep_blank_values=True))


# The characters where quoted-printable and urllib could part ways, and a few others.
_TRICKY = st.text(alphabet="%=&+ _;.aAfFgz09\n\r\t\x00é€", max_size=40)


@given(st.dictionaries(st.text(max_size=12), st.text(max_size=60), max_size=6))
def test_an_encoded_form_reads_as_urllib_reads_it(fields: dict[str, str]) -> None:
    body = urlencode(fields)
    assert form_fields(body) == _urllib(body) == fields


@given(_TRICKY)
@example("a=b=3D")  # a raw "=" before hex digits: not an escape
@example("a=%3D%25%2B+%")  # escapes of "=", "%", "+"; a lone "%" at the end
@example("a=%zz&b=%4")
@example("a=%0A%0d&%c3%a9=%ff")  # line breaks and bytes that are not UTF-8
@example("&&x&=y&a=1&a=2")
def test_any_text_reads_as_urllib_reads_it(text: str) -> None:
    assert form_fields(text) == _urllib(text)


def test_a_slack_payload_is_decoded() -> None:
    payload = '{"type":"block_actions","message":{"text":"50 % done & more = ok"}}'
    body = urlencode({"payload": payload})
    assert "%" in body
    assert form_fields(body) == {"payload": payload}
