"""The ECS error catalogue: every code the bot may meet, in words a person can act on.

Each sentence says what happened and what to do next (docs/PRODUCT.md §5, "Errors from the ECS
API are shown in words a person can act on"). The codes come from the
``RebootInstances`` page's table (docs/ECS-API.md), the dry-run and
throttling codes of docs/ECS-API.md, and the signature/credential/region codes
the gateway answers with before the action runs.

The catalogue also decides two things the client needs: whether an answer is a passed
dry run, and whether it is worth retrying.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

DRY_RUN_PASS_CODES = frozenset({"DRYRUN.SUCCESS", "DryRunOperation"})

# Codes that mean "try again later": the call was refused or failed before anything
# happened (throttling) or the service was briefly unavailable. Any ``Throttling*``
# code counts, see ``is_transient``.
_TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "LimitedOperation.ServiceUnavailable",
    }
)

# Codes the client itself gives to failures that carry no API code (no answer, or an
# answer that is not ECS JSON). Prefixed so they never collide with a real ECS code.
CLIENT_CONNECTION_FAILED = "Client.ConnectionFailed"
CLIENT_CONNECTION_LOST = "Client.ConnectionLost"
CLIENT_TIMEOUT = "Client.Timeout"
CLIENT_UNEXPECTED_RESPONSE = "Client.UnexpectedResponse"
CLIENT_NO_INSTANCE_RESULT = "Client.NoInstanceResult"

OUTCOME_UNKNOWN = (
    "The reboot call was sent but its answer was lost (timeout, dropped connection or "
    "server error); it is sent again only once the instances are seen not to have "
    "restarted (check their status in the ECS console before trying again by hand)."
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

_SENTENCES: dict[str, str] = {
    # --- the RebootInstances page's table ---------------------------------------------
    "InvalidParameter.KMSKeyId.CMKNotEnabled": (
        "An encrypted disk of the instance uses a KMS key (CMK) that is disabled or "
        "untagged; enable the key in the KMS console, then try again."
    ),
    "InvalidParameter.KMSKeyId.KMSUnauthorized": (
        "The ECS service account may not use the KMS key of the instance's encrypted "
        "disk; authorize ECS in the KMS/RAM console, then try again."
    ),
    "DRYRUN.SUCCESS": "The dry run passed: the instance can be rebooted; confirm to go ahead.",
    "InvalidInstanceId.NotFound": (
        "The instance does not exist in this region (or the bot cannot see it); "
        "check the instance id and the region."
    ),
    "InvalidParameter.TooManyInstanceIds": (
        "More than 100 instance ids were sent in one call; this is a bot bug, "
        "report it with the RequestId."
    ),
    "Abs.InvalidInstanceIds.MalFormed": (
        "At least one instance id is malformed; check the ids (i- followed by "
        "lowercase letters and digits) and try again."
    ),
    "InstanceLockedForSecurity": (
        "The instance is locked for security reasons and cannot be rebooted; "
        "check its OperationLocks in the ECS console and contact Alibaba Cloud support."
    ),
    "InstanceExpiredOrInArrears": (
        "The instance's subscription has expired or the account is in arrears; "
        "renew the instance or settle the bill, then try again."
    ),
    "IncorrectInstanceStatus": (
        "The instance is not in a state that can be rebooted (only Running instances "
        "can); wait until it is Running, then try again."
    ),
    "InvalidInstance.NotFoundSystemDisk": (
        "The instance has no system disk attached, so it cannot be rebooted; "
        "attach a system disk in the ECS console first."
    ),
    "InsufficientBalance": (
        "The Alibaba Cloud account does not have enough balance; add funds to the "
        "account, then try again."
    ),
    "InstanceNotReady": (
        "The instance is busy with another operation and not ready yet; "
        "wait a few minutes and try again."
    ),
    "InvalidInstanceIds.NotFound": (
        "None of the given instance ids exist in this region; check the ids and the region."
    ),
    "InvalidOperation.Conflict": (
        "Another operation on the instance is still in progress; wait for it to finish "
        "and try again."
    ),
    "InternalError": (
        "Alibaba Cloud had an internal error; try again in a minute, and if it keeps "
        "happening open a ticket with the RequestId."
    ),
    # --- service availability and throttling ------------------------------------------
    "LimitedOperation.ServiceUnavailable": (
        "The reboot operation is temporarily unavailable in this region; "
        "try again in a few minutes."
    ),
    "ServiceUnavailable": ("The ECS API is temporarily unavailable; try again in a few minutes."),
    "Throttling": _THROTTLING,
    "Throttling.User": _THROTTLING,
    "Throttling.Api": _THROTTLING,
    # --- the singular RebootInstance's dry-run answer ---------------------------------
    "DryRunOperation": "The dry run passed: the instance can be rebooted; confirm to go ahead.",
    # --- signature and credentials ----------------------------------------------------
    "SignatureDoesNotMatch": _SIGNATURE,
    "IncompleteSignature": _SIGNATURE,
    "InvalidAccessKeyId.NotFound": (
        "Alibaba Cloud does not know the bot's access key id; check "
        "ALIBABA_CLOUD_ACCESS_KEY_ID (or the ECS RAM role) and restart the bot."
    ),
    "InvalidAccessKeyId.Inactive": (
        "The bot's access key is disabled; enable it or create a new one in the RAM "
        "console and update ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET."
    ),
    "InvalidTimeStamp.Expired": (
        "The request's timestamp was more than 15 minutes off; fix the bot host's "
        "clock (NTP) and try again."
    ),
    "SignatureNonceUsed": (
        "The request was refused as a replay (its nonce was already used); "
        "try again, and report it if it repeats."
    ),
    "InvalidSecurityToken.Expired": (
        "The bot's STS security token has expired; refresh "
        "ALIBABA_CLOUD_SECURITY_TOKEN (or check the ECS RAM role) and try again."
    ),
    "InvalidSecurityToken.Malformed": (
        "The bot's STS security token is malformed; check "
        "ALIBABA_CLOUD_SECURITY_TOKEN (or the ECS RAM role) and try again."
    ),
    "Forbidden.RAM": _NO_PERMISSION,
    "NoPermission": _NO_PERMISSION,
    "Forbidden": _NO_PERMISSION,
    # --- region and endpoint ----------------------------------------------------------
    "InvalidRegionId.NotFound": (
        "The region does not exist or is not open to this account; check the region id "
        "(for example cn-hangzhou)."
    ),
    "InvalidOperation.NotSupportedEndpoint": (
        "The bot called the wrong ECS endpoint for this region; check "
        "ECSBOT_ECS_ENDPOINT (it should contain {region})."
    ),
    # --- the client's own codes -------------------------------------------------------
    CLIENT_CONNECTION_FAILED: (
        "The bot could not connect to the ECS API; check the host's network, DNS and "
        "ECSBOT_ECS_ENDPOINT, then try again."
    ),
    CLIENT_CONNECTION_LOST: (
        "The connection to the ECS API broke before an answer came; check the host's "
        "network or proxy, then try again."
    ),
    CLIENT_TIMEOUT: (
        "The ECS API did not answer in time; try again in a minute, and check the host's "
        "network if it keeps happening."
    ),
    CLIENT_UNEXPECTED_RESPONSE: (
        "The ECS endpoint answered with something that is not an ECS API answer; check "
        "ECSBOT_ECS_ENDPOINT and any proxy in between."
    ),
    CLIENT_NO_INSTANCE_RESULT: (
        "The ECS API accepted the call but reported nothing for this instance; check its "
        "status in the ECS console before trying again."
    ),
}

CATALOGUE: Mapping[str, str] = MappingProxyType(_SENTENCES)
"""Code → sentence; read-only so no caller edits the shared table."""


def _fallback(code: str, message: str) -> str:
    # An unknown code still gets a sentence that tells the person what to do; the
    # API's own message is the best description we have of what happened.
    detail = message.strip().rstrip(".") if message.strip() else code or "an unknown error"
    return (
        f"The ECS API refused the request ({detail}); check the instances in the ECS "
        "console and, if it is unclear, open a ticket with the code and RequestId."
    )


def explain(code: str, message: str = "") -> str:
    """The sentence a person can act on for an ECS error ``code``.

    Use it for every ECS error shown to people. Unknown ``Throttling*`` codes share the
    throttling sentence; any other unknown code gets a generic sentence that quotes
    ``message`` (never a secret: the API's messages do not carry any).
    """
    sentence = CATALOGUE.get(code)
    if sentence is not None:
        return sentence
    if code.startswith("Throttling"):
        return _THROTTLING
    return _fallback(code, message)


def is_dry_run_pass(code: str | None) -> bool:
    """True when a DryRun answer means "would succeed" (``DRYRUN.SUCCESS`` from
    RebootInstances, ``DryRunOperation`` from the singular RebootInstance)."""
    return code in DRY_RUN_PASS_CODES


# Refusals that are about one instance of a call (docs/ECS-API.md, error codes): with
# AllTogether they fail the whole call, so the preview halves the batch to find the
# instance. Any other refusal (the account, the region, the signature, the call's
# shape) is the same for every instance, and halving would only repeat it.
_PER_INSTANCE_CODES = frozenset(
    {
        "InvalidInstanceId.NotFound",
        "InvalidInstanceIds.NotFound",
        "InstanceLockedForSecurity",
        "InstanceExpiredOrInArrears",
        "IncorrectInstanceStatus",
        "InvalidInstance.NotFoundSystemDisk",
        "InstanceNotReady",
        "InvalidOperation.Conflict",
        "Forbidden.RAM",
        "Forbidden",
        "Forbidden.NoPermission",
        "NoPermission",
    }
)


def names_one_instance(code: str | None) -> bool:
    """True when a refusal of a whole ``AllTogether`` call can come from one of its
    instances alone (a lock, arrears, a RAM policy denying that instance)."""
    return code is not None and (
        code in _PER_INSTANCE_CODES or code.startswith("InvalidParameter.KMSKeyId")
    )


def is_throttling(code: str | None) -> bool:
    """True for ``Throttling`` and every ``Throttling.*`` variant: the call was refused
    before anything happened, so it is always safe to send again."""
    return code is not None and code.startswith("Throttling")


def is_transient(code: str | None, http_status: int | None) -> bool:
    """True when the same call may succeed later: throttling, ``ServiceUnavailable``,
    ``InternalError`` or any HTTP 5xx. Use it to decide on a retry (but note that a
    non-dry reboot is only re-sent after throttling)."""
    if is_throttling(code) or code in _TRANSIENT_CODES:
        return True
    return http_status is not None and http_status >= 500
