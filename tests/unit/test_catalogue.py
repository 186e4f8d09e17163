"""The error catalogue: one actionable sentence per code, and the retry decisions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.domain.errors import ErrorKind
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
    "Forbidden.NoPermission",
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


# The codes the client gives to failures that carry none, and the codes a lock means.
CLIENT_CODES = (
    catalogue.CLIENT_CONNECTION_FAILED,
    catalogue.CLIENT_CONNECTION_LOST,
    catalogue.CLIENT_TIMEOUT,
    catalogue.CLIENT_UNEXPECTED_RESPONSE,
    catalogue.CLIENT_NO_INSTANCE_RESULT,
)


@pytest.mark.parametrize(
    "code", PAGE_TABLE_CODES + OTHER_CODES + CLIENT_CODES + tuple(catalogue.LOCK_CODES.values())
)
def test_every_code_the_bot_can_meet_has_a_row_with_a_sentence_and_a_kind(code: str) -> None:
    row = catalogue.TABLE[code]
    assert row.sentence.endswith(".")
    assert any(word in row.sentence.lower() for word in _ACTION_WORDS), row.sentence
    assert row.kind is not ErrorKind.UNKNOWN


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("Forbidden.RAM", ErrorKind.DENIED),
        ("Forbidden.NoPermission", ErrorKind.DENIED),
        ("NoPermission", ErrorKind.DENIED),
        ("Forbidden.Whatever", ErrorKind.DENIED),
        ("IncorrectInstanceStatus", ErrorKind.NOT_RUNNING),
        ("InstanceLockedForSecurity", ErrorKind.LOCKED),
        ("InstanceExpiredOrInArrears", ErrorKind.LOCKED),
        ("Throttling.Concurrency", ErrorKind.THROTTLED),
        ("DRYRUN.SUCCESS", ErrorKind.DRY_RUN_PASSED),
        ("Some.NewCode", ErrorKind.UNKNOWN),
    ],
)
def test_the_kind_of_a_code(code: str, kind: ErrorKind) -> None:
    assert catalogue.kind_of(code) is kind


def test_per_instance_refusals_are_the_instance_kinds() -> None:
    # Halving a refused DryRun batch only helps when one instance alone can cause it.
    instance_kinds = {
        ErrorKind.DENIED,
        ErrorKind.NOT_RUNNING,
        ErrorKind.LOCKED,
        ErrorKind.NOT_FOUND,
        ErrorKind.BUSY,
        ErrorKind.ACCOUNT,
        ErrorKind.CONNECTION,
    }
    for code, row in catalogue.TABLE.items():
        if row.per_instance:
            assert row.kind in instance_kinds, code
    assert catalogue.names_one_instance("InvalidParameter.KMSKeyId.Other")
    assert not catalogue.names_one_instance("Forbidden.Whatever")


def test_a_lock_reason_names_the_code_ecs_would_refuse_with() -> None:
    assert catalogue.lock_code(["recycling", "security"]) == "InstanceLockedForSecurity"
    assert catalogue.lock_code(["financial"]) == "InstanceExpiredOrInArrears"
    assert catalogue.lock_code(["recycling"]) is None


def test_no_use_case_or_domain_rule_names_an_ecs_code() -> None:
    # They switch on the kind (ErrorKind); what a code means is the table's alone.
    root = Path(__file__).resolve().parents[2] / "bot"
    codes = set(catalogue.TABLE)
    for folder in ("services", "domain"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    assert node.value not in codes, f"{path.name} names {node.value}"
