"""Properties of bot/ecs/signing.py that test_signing.py (vectors and the official SDK as
oracle) leaves open: encoding is lossless, the canonical query ignores order, and a V3
signature is accepted by the verifier (the simulator's) yet breaks when anything
signed changes. Each example is independent of the network and the clock.

These check the signing against itself: the simulator's verifier reuses
``bot.ecs.signing`` to recompute the signature, so a mistake shared by both would pass
here. The real check is test_signing.py's, where the official Alibaba Cloud SDK signs
the same requests and the published test vectors must come out."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ecs import signing
from bot.simulator.auth import Authenticator
from bot.simulator.errors import ApiError

_ENCODED = re.compile(r"(?:[A-Za-z0-9\-_.~]|%[0-9A-F]{2})*")
_TEXT = st.text(max_size=20)
_PARAMS = st.dictionaries(_TEXT, _TEXT, min_size=1, max_size=6)

NOW = datetime(2024, 5, 1, 8, 9, 10, tzinfo=UTC)
KEY_ID = "LTAI5tProperty"
# Names of signed headers whose change the verifier can only notice through the
# signature (the date is checked for freshness first, the body hash against the body).
_PLAIN_SIGNED_HEADERS = ("host", "x-acs-action", "x-acs-version", "x-acs-signature-nonce")


@given(_TEXT)
def test_percent_encode_round_trips_and_keeps_only_unreserved(value: str) -> None:
    encoded = signing.percent_encode(value)
    assert _ENCODED.fullmatch(encoded), encoded
    assert unquote(encoded, errors="strict") == value


@given(st.one_of(_TEXT, st.text(alphabet=st.characters(max_codepoint=127), max_size=40)))
def test_percent_encode_writes_what_urllib_quote_writes(value: str) -> None:
    # The table-driven encoder replaced quote(value, safe="-_.~") for speed only.
    assert signing.percent_encode(value) == quote(value, safe="-_.~")


@given(st.data(), _PARAMS)
def test_canonical_query_does_not_depend_on_order(
    data: st.DataObject, params: dict[str, str]
) -> None:
    shuffled = data.draw(st.permutations(list(params.items())))
    assert signing.canonical_query(dict(shuffled)) == signing.canonical_query(params)


def _headers(nonce: str) -> dict[str, str]:
    return {
        "host": "ecs.cn-hangzhou.aliyuncs.com",
        "x-acs-action": "RebootInstances",
        "x-acs-version": "2014-05-26",
        "x-acs-date": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": nonce,
        "x-acs-content-sha256": signing.EMPTY_BODY_SHA256,
    }


def _verify(secret: str, query: dict[str, str], headers: dict[str, str]) -> None:
    """The simulator's check, as every request to it gets; raises ApiError on refusal."""
    Authenticator({KEY_ID: secret}, clock=lambda: NOW).verify_v3("POST", "/", query, headers, b"")


def _signed(secret: str, query: dict[str, str], headers: dict[str, str]) -> dict[str, str]:
    authorization = signing.v3_authorization(KEY_ID, secret, "POST", "/", query, headers)
    return {**headers, "authorization": authorization}


_SECRET = st.text(min_size=1, max_size=30)
_NONCE = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)


@settings(max_examples=100, deadline=None)
@given(secret=_SECRET, query=_PARAMS, nonce=_NONCE)
def test_a_v3_signature_verifies(secret: str, query: dict[str, str], nonce: str) -> None:
    _verify(secret, query, _signed(secret, query, _headers(nonce)))


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    secret=_SECRET,
    query=_PARAMS,
    nonce=_NONCE,
    change=st.sampled_from(["param value", "param added", "param removed", "header", "secret"]),
)
def test_changing_anything_signed_changes_the_signature_and_fails_verification(
    data: st.DataObject, secret: str, query: dict[str, str], nonce: str, change: str
) -> None:
    headers = _headers(nonce)
    signed = _signed(secret, query, headers)
    sent_query, sent_headers, verifier_secret = dict(query), dict(headers), secret
    if change == "param value":
        name = data.draw(st.sampled_from(sorted(query)))
        sent_query[name] += data.draw(st.text(min_size=1, max_size=3))
    elif change == "param added":
        name = data.draw(_TEXT.filter(lambda n: n not in query))
        sent_query[name] = data.draw(_TEXT)
    elif change == "param removed":
        sent_query.pop(data.draw(st.sampled_from(sorted(query))))
    elif change == "header":
        name = data.draw(st.sampled_from(_PLAIN_SIGNED_HEADERS))
        sent_headers[name] += data.draw(st.text(alphabet="abc123", min_size=1, max_size=3))
    else:
        # Not NULs: HMAC pads its key with zero bytes, so "k" and "k\\x00" are one key.
        verifier_secret = secret + data.draw(st.text(alphabet="xyz9", min_size=1, max_size=3))

    # What the signer would have produced for the changed request differs...
    redone = _signed(verifier_secret, sent_query, sent_headers)["authorization"]
    assert redone != signed["authorization"]
    # ...and the original signature no longer passes.
    with pytest.raises(ApiError) as refused:
        _verify(
            verifier_secret, sent_query, {**sent_headers, "authorization": signed["authorization"]}
        )
    assert refused.value.code == "SignatureDoesNotMatch"
