"""The ECS error catalogue: every code the bot may meet, in one table.

For each code the table says, in one place, what the bot needs to know of it:
the sentence a person can act on (docs/PRODUCT.md §5, "Errors from the ECS API are shown
in words a person can act on"), whether a refusal of a whole ``AllTogether`` call can
come from one of its instances alone (``per_instance``: the DryRun then halves the
batch), whether the same call may succeed later (``transient``), and its kind
(``bot.domain.errors.ErrorKind``), which is all the use cases look at: they switch on
the kind, never on a code. The codes come from the ``RebootInstances`` page's table
(docs/ECS-API.md), the dry-run and throttling codes of docs/ECS-API.md, the permission,
signature, credential and region codes the gateway answers with before the action runs,
and the client's own codes for failures that carry none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bot.domain.errors import ErrorKind


@dataclass(frozen=True)
class Entry:
    """What one ECS error code means to the bot."""

    sentence: str
    kind: ErrorKind
    # A refusal of a whole AllTogether call that can come from one instance alone (a
    # lock, arrears, a RAM policy on that instance), so that a half of the batch may pass.
    per_instance: bool = False
    # The same call may succeed later: refused or failed before anything happened
    # (throttling), or the service briefly unavailable. Any HTTP 5xx counts too.
    transient: bool = False


# Codes the client itself gives to failures that carry no API code (no answer, or an
# answer that is not ECS JSON). Prefixed so they never collide with a real ECS code.
CLIENT_CONNECTION_FAILED = "Client.ConnectionFailed"
CLIENT_CONNECTION_LOST = "Client.ConnectionLost"
CLIENT_TIMEOUT = "Client.Timeout"
CLIENT_UNEXPECTED_RESPONSE = "Client.UnexpectedResponse"
CLIENT_NO_INSTANCE_RESULT = "Client.NoInstanceResult"

# A real reboot call's answer was lost. What the bot does next is decision 0003's (it
# looks at the instances first); this sentence only says what is known, so it stays
# true whatever that rule allows.
OUTCOME_UNKNOWN = (
    "The reboot call was sent but its answer was lost (timeout, dropped connection or "
    "server error), so whether ECS acted on it is not known yet; the bot looks at the "
    "instances before sending anything more."
)

_THROTTLING = (
    "Alibaba Cloud is throttling ECS API calls for this account and region; "
    "wait a minute and try again, or ask for a higher quota in the Quota Center."
)
_SIGNATURE = (
    "Alibaba Cloud rejected the request signature; check that the bot's access key "
    "secret (ALIBABA_CLOUD_ACCESS_KEY_SECRET) belongs to its access key id."
)
_NO_PERMISSION = (
    "The bot's RAM identity is not allowed to do this; grant it ecs:RebootInstances "
    "and ecs:DescribeInstances on these instances."
)

_TABLE: dict[str, Entry] = {
    # --- the RebootInstances page's table ---------------------------------------------
    "InvalidParameter.KMSKeyId.CMKNotEnabled": Entry(
        (
            "An encrypted disk of the instance uses a KMS key (CMK) that is disabled or "
            "untagged; enable the key in the KMS console, then try again."
        ),
        ErrorKind.ACCOUNT,
        per_instance=True,
    ),
    "InvalidParameter.KMSKeyId.KMSUnauthorized": Entry(
        (
            "The ECS service account may not use the KMS key of the instance's encrypted "
            "disk; authorize ECS in the KMS/RAM console, then try again."
        ),
        ErrorKind.ACCOUNT,
        per_instance=True,
    ),
    "DRYRUN.SUCCESS": Entry(
        "The dry run passed: the instance can be rebooted; confirm to go ahead.",
        ErrorKind.DRY_RUN_PASSED,
    ),
    "InvalidInstanceId.NotFound": Entry(
        (
            "The instance does not exist in this region (or the bot cannot see it); "
            "check the instance id and the region."
        ),
        ErrorKind.NOT_FOUND,
        per_instance=True,
    ),
    "InvalidParameter.TooManyInstanceIds": Entry(
        (
            "More than 100 instance ids were sent in one call; this is a bot bug, "
            "report it with the RequestId."
        ),
        ErrorKind.SETUP,
    ),
    "Abs.InvalidInstanceIds.MalFormed": Entry(
        (
            "At least one instance id is malformed; check the ids (i- followed by "
            "lowercase letters and digits) and try again."
        ),
        ErrorKind.SETUP,
    ),
    "InstanceLockedForSecurity": Entry(
        (
            "The instance is locked for security reasons and cannot be rebooted; "
            "check its OperationLocks in the ECS console and contact Alibaba Cloud support."
        ),
        ErrorKind.LOCKED,
        per_instance=True,
    ),
    "InstanceExpiredOrInArrears": Entry(
        (
            "The instance's subscription has expired or the account is in arrears; "
            "renew the instance or settle the bill, then try again."
        ),
        ErrorKind.LOCKED,
        per_instance=True,
    ),
    "IncorrectInstanceStatus": Entry(
        (
            "The instance is not in a state that can be rebooted (only Running instances "
            "can); wait until it is Running, then try again."
        ),
        ErrorKind.NOT_RUNNING,
        per_instance=True,
    ),
    "InvalidInstance.NotFoundSystemDisk": Entry(
        (
            "The instance has no system disk attached, so it cannot be rebooted; "
            "attach a system disk in the ECS console first."
        ),
        ErrorKind.ACCOUNT,
        per_instance=True,
    ),
    "InsufficientBalance": Entry(
        (
            "The Alibaba Cloud account does not have enough balance; add funds to the "
            "account, then try again."
        ),
        ErrorKind.ACCOUNT,
    ),
    "InstanceNotReady": Entry(
        (
            "The instance is busy with another operation and not ready yet; "
            "wait a few minutes and try again."
        ),
        ErrorKind.BUSY,
        per_instance=True,
    ),
    "InvalidInstanceIds.NotFound": Entry(
        ("None of the given instance ids exist in this region; check the ids and the region."),
        ErrorKind.NOT_FOUND,
        per_instance=True,
    ),
    "InvalidOperation.Conflict": Entry(
        (
            "Another operation on the instance is still in progress; wait for it to finish "
            "and try again."
        ),
        ErrorKind.BUSY,
        per_instance=True,
    ),
    "InternalError": Entry(
        (
            "Alibaba Cloud had an internal error; try again in a minute, and if it keeps "
            "happening open a ticket with the RequestId."
        ),
        ErrorKind.UNAVAILABLE,
        transient=True,
    ),
    # --- service availability and throttling ------------------------------------------
    "LimitedOperation.ServiceUnavailable": Entry(
        (
            "The reboot operation is temporarily unavailable in this region; "
            "try again in a few minutes."
        ),
        ErrorKind.UNAVAILABLE,
        transient=True,
    ),
    "ServiceUnavailable": Entry(
        ("The ECS API is temporarily unavailable; try again in a few minutes."),
        ErrorKind.UNAVAILABLE,
        transient=True,
    ),
    "Throttling": Entry(
        _THROTTLING,
        ErrorKind.THROTTLED,
        transient=True,
    ),
    "Throttling.User": Entry(
        _THROTTLING,
        ErrorKind.THROTTLED,
        transient=True,
    ),
    "Throttling.Api": Entry(
        _THROTTLING,
        ErrorKind.THROTTLED,
        transient=True,
    ),
    # --- the singular RebootInstance's dry-run answer ---------------------------------
    "DryRunOperation": Entry(
        "The dry run passed: the instance can be rebooted; confirm to go ahead.",
        ErrorKind.DRY_RUN_PASSED,
    ),
    # --- signature and credentials ----------------------------------------------------
    "SignatureDoesNotMatch": Entry(
        _SIGNATURE,
        ErrorKind.CREDENTIALS,
    ),
    "IncompleteSignature": Entry(
        _SIGNATURE,
        ErrorKind.CREDENTIALS,
    ),
    "InvalidAccessKeyId.NotFound": Entry(
        (
            "Alibaba Cloud does not know the bot's access key id; check "
            "ALIBABA_CLOUD_ACCESS_KEY_ID (or the ECS RAM role) and restart the bot."
        ),
        ErrorKind.CREDENTIALS,
    ),
    "InvalidAccessKeyId.Inactive": Entry(
        (
            "The bot's access key is disabled; enable it or create a new one in the RAM "
            "console and update ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET."
        ),
        ErrorKind.CREDENTIALS,
    ),
    "InvalidTimeStamp.Expired": Entry(
        (
            "The request's timestamp was more than 15 minutes off; fix the bot host's "
            "clock (NTP) and try again."
        ),
        ErrorKind.CREDENTIALS,
    ),
    "SignatureNonceUsed": Entry(
        (
            "The request was refused as a replay (its nonce was already used); "
            "try again, and report it if it repeats."
        ),
        ErrorKind.CREDENTIALS,
    ),
    "InvalidSecurityToken.Expired": Entry(
        (
            "The bot's STS security token has expired; refresh "
            "ALIBABA_CLOUD_SECURITY_TOKEN (or check the ECS RAM role) and try again."
        ),
        ErrorKind.CREDENTIALS,
    ),
    "InvalidSecurityToken.Malformed": Entry(
        (
            "The bot's STS security token is malformed; check "
            "ALIBABA_CLOUD_SECURITY_TOKEN (or the ECS RAM role) and try again."
        ),
        ErrorKind.CREDENTIALS,
    ),
    "Forbidden.RAM": Entry(
        _NO_PERMISSION,
        ErrorKind.DENIED,
        per_instance=True,
    ),
    "NoPermission": Entry(
        _NO_PERMISSION,
        ErrorKind.DENIED,
        per_instance=True,
    ),
    "Forbidden": Entry(
        _NO_PERMISSION,
        ErrorKind.DENIED,
        per_instance=True,
    ),
    "Forbidden.NoPermission": Entry(
        _NO_PERMISSION,
        ErrorKind.DENIED,
        per_instance=True,
    ),
    # --- region and endpoint ----------------------------------------------------------
    "InvalidRegionId.NotFound": Entry(
        (
            "The region does not exist or is not open to this account; check the region id "
            "(for example cn-hangzhou)."
        ),
        ErrorKind.SETUP,
    ),
    "InvalidOperation.NotSupportedEndpoint": Entry(
        (
            "The bot called the wrong ECS endpoint for this region; check "
            "ECSBOT_ECS_ENDPOINT (it should contain {region})."
        ),
        ErrorKind.SETUP,
    ),
    # --- the client's own codes -------------------------------------------------------
    CLIENT_CONNECTION_FAILED: Entry(
        (
            "The bot could not connect to the ECS API; check the host's network, DNS and "
            "ECSBOT_ECS_ENDPOINT, then try again."
        ),
        ErrorKind.CONNECTION,
    ),
    CLIENT_CONNECTION_LOST: Entry(
        (
            "The connection to the ECS API broke before an answer came; check the host's "
            "network or proxy, then try again."
        ),
        ErrorKind.CONNECTION,
    ),
    CLIENT_TIMEOUT: Entry(
        (
            "The ECS API did not answer in time; try again in a minute, and check the host's "
            "network if it keeps happening."
        ),
        ErrorKind.CONNECTION,
    ),
    CLIENT_UNEXPECTED_RESPONSE: Entry(
        (
            "The ECS endpoint answered with something that is not an ECS API answer; check "
            "ECSBOT_ECS_ENDPOINT and any proxy in between."
        ),
        ErrorKind.CONNECTION,
    ),
    CLIENT_NO_INSTANCE_RESULT: Entry(
        (
            "The ECS API accepted the call but reported nothing for this instance; check its "
            "status in the ECS console before trying again."
        ),
        ErrorKind.CONNECTION,
        per_instance=True,
    ),
}

TABLE: Mapping[str, Entry] = MappingProxyType(_TABLE)
"""Code → what it means; read-only so no caller edits the shared table."""

CATALOGUE: Mapping[str, str] = MappingProxyType(
    {code: entry.sentence for code, entry in _TABLE.items()}
)
"""Code → sentence."""

DRY_RUN_PASS_CODES = frozenset(
    code for code, entry in _TABLE.items() if entry.kind is ErrorKind.DRY_RUN_PASSED
)

# The code ECS refuses a reboot with, per OperationLocks reason (docs/ECS-API.md): a
# locked instance's verdict carries it, as if it had been dry-run alone.
LOCK_CODES: Mapping[str, str] = MappingProxyType(
    {
        "security": "InstanceLockedForSecurity",
        "financial": "InstanceExpiredOrInArrears",
        "dedicatedhostfinancial": "InstanceExpiredOrInArrears",
    }
)

# Families of codes beyond the table's own: every ``Throttling*`` variant throttles;
# every ``Forbidden*`` is a permission refusal (only the listed ones are known to be
# about one instance); every ``InvalidParameter.KMSKeyId*`` is about an instance's disk.
_THROTTLED = Entry(_THROTTLING, ErrorKind.THROTTLED, transient=True)


def entry(code: str | None, message: str = "") -> Entry:
    """What ``code`` means: its row of the table, its family's, or for a code the bot
    does not know a sentence that quotes ``message`` (never a secret: the API's messages
    do not carry any)."""
    code = code or ""
    known = _TABLE.get(code)
    if known is not None:
        return known
    if code.startswith("Throttling"):
        return _THROTTLED
    fallback = _fallback(code, message)
    if code.startswith("Forbidden"):
        return Entry(fallback, ErrorKind.DENIED)
    if code.startswith("InvalidParameter.KMSKeyId"):
        return Entry(fallback, ErrorKind.ACCOUNT, per_instance=True)
    return Entry(fallback, ErrorKind.UNKNOWN)


def _fallback(code: str, message: str) -> str:
    # An unknown code still gets a sentence that tells the person what to do; the
    # API's own message is the best description we have of what happened.
    detail = message.strip().rstrip(".") if message.strip() else code or "an unknown error"
    return (
        f"The ECS API refused the request ({detail}); check the instances in the ECS "
        "console and, if it is unclear, open a ticket with the code and RequestId."
    )


def explain(code: str, message: str = "") -> str:
    """The sentence a person can act on for an ECS error ``code``. Use it for every ECS
    error shown to people."""
    return entry(code, message).sentence


def kind_of(code: str | None) -> ErrorKind:
    """The kind of an ECS error ``code``: what the use cases switch on."""
    return entry(code).kind


def lock_code(reasons: Iterable[str]) -> str | None:
    """The code ECS would refuse an instance with for these OperationLocks reasons."""
    return next((LOCK_CODES[r] for r in reasons if r in LOCK_CODES), None)


def is_dry_run_pass(code: str | None) -> bool:
    """True when a DryRun answer means "would succeed" (``DRYRUN.SUCCESS`` from
    RebootInstances, ``DryRunOperation`` from the singular RebootInstance)."""
    return code in DRY_RUN_PASS_CODES


def names_one_instance(code: str | None) -> bool:
    """True when a refusal of a whole ``AllTogether`` call can come from one of its
    instances alone (a lock, arrears, a RAM policy denying that instance). Any other
    refusal (the account, the region, the signature, the call's shape) is the same for
    every instance, and halving would only repeat it."""
    return code is not None and entry(code).per_instance


def is_throttling(code: str | None) -> bool:
    """True for ``Throttling`` and every ``Throttling.*`` variant: the call was refused
    before anything happened, so it is always safe to send again."""
    return code is not None and entry(code).kind is ErrorKind.THROTTLED


def is_transient(code: str | None, http_status: int | None) -> bool:
    """True when the same call may succeed later: throttling, ``ServiceUnavailable``,
    ``InternalError`` or any HTTP 5xx. Use it to decide on a retry (but note that a
    non-dry reboot is only re-sent after throttling)."""
    if code is not None and entry(code).transient:
        return True
    return http_status is not None and http_status >= 500
