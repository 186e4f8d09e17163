"""The error catalogue: one actionable sentence per code, and the retry decisions."""

from __future__ import annotations

import pytest

from bot.ecs import catalogue

# Every code of the RebootInstances page's error table (docs/ECS-API.md).
PAGE_TABLE_CODES = (
    "InvalidParameter.KMSKeyId.CMKNotEnabled",
    "InvalidParameter.KMSKeyId.KMSUnauthorized",
    "DRYRUN.SUCCESS",
    "InvalidInstanceId.NotFound",
    "InvalidParameter.TooManyInstanceIds",
    "Abs.InvalidInstanceIds.MalFormed",
    "InstanceLockedForSecurity",
    "InstanceExpiredOrInArrears",
    "IncorrectInstanceStatus",
    "InvalidInstance.NotFoundSystemDisk",
    "InsufficientBalance",
    "InstanceNotReady",
    "InvalidInstanceIds.NotFound",
    "InvalidOperation.Conflict",
    "InternalError",
)

OTHER_CODES = (
    "LimitedOperation.ServiceUnavailable",
    "ServiceUnavailable",
    "Throttling",
    "Throttling.User",
    "Throttling.Api",
    "DryRunOperation",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId.NotFound",
    "InvalidAccessKeyId.Inactive",
    "IncompleteSignature",
    "InvalidTimeStamp.Expired",
    "SignatureNonceUsed",
    "InvalidSecurityToken.Expired",
    "InvalidSecurityToken.Malformed",
    "Forbidden.RAM",
    "NoPermission",
    "Forbidden",
    "InvalidRegionId.NotFound",
    "InvalidOperation.NotSupportedEndpoint",
)

# A sentence people can act on tells them what to do, with one of these words.
_ACTION_WORDS = (
    "try",
    "check",
    "wait",
    "renew",
    "add",
    "enable",
    "attach",
    "fix",
    "grant",
    "report",
    "confirm",
    "authorize",
    "refresh",
    "contact",
    "open",
    "set",
    "update",
)


@pytest.mark.parametrize("code", PAGE_TABLE_CODES + OTHER_CODES)
def test_every_code_has_its_own_entry_with_an_actionable_sentence(code: str) -> None:
    sentence = catalogue.explain(code, "message text")
    assert code in catalogue.CATALOGUE
    assert sentence == catalogue.CATALOGUE[code]
    assert sentence.endswith(".")
    assert len(sentence) > 40
    assert any(word in sentence.lower() for word in _ACTION_WORDS), sentence


def test_the_page_table_sentences_are_distinct() -> None:
    sentences = [catalogue.explain(code) for code in PAGE_TABLE_CODES]
    assert len(set(sentences)) == len(PAGE_TABLE_CODES)


def test_unknown_code_gets_a_fallback_quoting_the_api_message() -> None:
    sentence = catalogue.explain("Some.NewCode", "The widget is sideways.")
    assert "The widget is sideways" in sentence
    assert "RequestId" in sentence
    assert catalogue.explain("Some.NewCode", "") != ""


def test_unknown_throttling_variant_shares_the_throttling_sentence() -> None:
    assert catalogue.explain("Throttling.Concurrency") == catalogue.explain("Throttling")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("DRYRUN.SUCCESS", True),
        ("DryRunOperation", True),
        ("IncorrectInstanceStatus", False),
        (None, False),
    ],
)
def test_is_dry_run_pass(code: str | None, expected: bool) -> None:
    assert catalogue.is_dry_run_pass(code) is expected


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("Throttling", 400, True),
        ("Throttling.User", 400, True),
        ("Throttling.Api", 400, True),
        ("Throttling.Whatever", 429, True),
        ("ServiceUnavailable", 503, True),
        ("LimitedOperation.ServiceUnavailable", 503, True),
        ("InternalError", 500, True),
        ("Client.UnexpectedResponse", 502, True),  # any 5xx
        ("IncorrectInstanceStatus", 403, False),
        ("SignatureDoesNotMatch", 400, False),
        ("DRYRUN.SUCCESS", 400, False),
        ("InvalidInstanceId.NotFound", None, False),
    ],
)
def test_is_transient(code: str, status: int | None, expected: bool) -> None:
    assert catalogue.is_transient(code, status) is expected
