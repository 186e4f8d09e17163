"""The bot's one exception tree. Adapters turn their failures into these; the Slack
layer turns these into a reply that says what to do.

    BotError
    ├── EcsError                  the ECS API refused or failed a call (code, RequestId)
    │   ├── EcsTransientError     throttling, 5xx, connection faults that outlived retries
    │   │   └── StsUnavailable    STS throttled or failed assuming an account's role
    │   ├── EcsOutcomeUnknown     a real reboot call whose answer was lost (effect unknown)
    │   └── RoleNotAssumable      STS refused an account's role (its code); nothing sent
    ├── CredentialsError          no usable Alibaba Cloud credentials (STS's code, if any)
    └── StoreUnavailable          the database did not answer
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """What an ECS error means to the bot, whatever its code and words. The ECS adapter's
    catalogue gives every code one; the use cases switch on it, never on a code."""

    DRY_RUN_PASSED = "dry_run_passed"  # not an error: a DryRun that would succeed
    DENIED = "denied"  # the bot's RAM identity may not act (on this instance)
    NOT_RUNNING = "not_running"  # the instance is in a state that cannot be rebooted
    LOCKED = "locked"  # ECS holds a lock on the instance (security, arrears)
    NOT_FOUND = "not_found"  # no such instance (that the bot may see)
    BUSY = "busy"  # another operation on the instance is in progress
    ACCOUNT = "account"  # the account or the instance needs a person (balance, KMS, disk)
    THROTTLED = "throttled"  # refused before anything happened: safe to send again
    UNAVAILABLE = "unavailable"  # an internal error or a service briefly unavailable
    CREDENTIALS = "credentials"  # the bot's signature, key or token
    SETUP = "setup"  # the region, the endpoint or the call's shape (a bot bug)
    CONNECTION = "connection"  # no answer, or not an ECS answer
    UNKNOWN = "unknown"  # a code the catalogue does not know


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class EcsError(BotError):
    """An error answer (or failure) of the ECS OpenAPI.

    ``explanation`` is the catalogue's sentence a person can act on and ``kind`` what the
    code means to the bot (both given by the adapter); ``code`` and ``request_id`` are
    what Alibaba Cloud support asks for.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        explanation: str,
        request_id: str | None = None,
        http_status: int | None = None,
        kind: ErrorKind = ErrorKind.UNKNOWN,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.kind = kind
        self.message = message
        self.explanation = explanation
        self.request_id = request_id
        self.http_status = http_status

    def describe(self) -> str:
        """One line for people: the explanation, then the code and RequestId."""
        suffix = f" (code {self.code}"
        suffix += f", RequestId {self.request_id})" if self.request_id else ")"
        return self.explanation + suffix


class EcsTransientError(EcsError):
    """Throttling, ServiceUnavailable, InternalError, 5xx or a connection fault that was
    still failing after the bounded retries."""


class EcsOutcomeUnknown(EcsError):
    """A non-dry ``RebootInstances`` call timed out or got a 5xx: the reboot may or may
    not have happened. The client never repeats such a call by itself; the use case
    looks at the instances and decides (docs/decisions/0003)."""


class RoleNotAssumable(EcsError):
    """The role of ``account`` could not be assumed (§5.13): STS refused it
    (``EntityNotExist.Role``, ``NoPermission`` …, in ``code``) or the account is no
    longer configured (``AccountNotConfigured``). Nothing was sent to ECS, so the call's
    instances are ``denied`` in a preview and ``failed`` in a reboot, while other
    accounts go on."""

    def __init__(self, account: str, code: str, message: str, *, explanation: str) -> None:
        super().__init__(code, message, explanation=explanation, kind=ErrorKind.DENIED)
        self.account = account


class StsUnavailable(EcsTransientError):
    """STS throttled or failed assuming ``account``'s role beyond its retries: nothing
    was sent to ECS, and the same call may succeed later."""

    def __init__(self, account: str, code: str, message: str, *, explanation: str) -> None:
        super().__init__(code, message, explanation=explanation, kind=ErrorKind.UNAVAILABLE)
        self.account = account


class CredentialsError(BotError):
    """No Alibaba Cloud credentials could be found or refreshed.

    ``code`` is STS's error code when STS refused (``EntityNotExist.Role``,
    ``NoPermission``, ``Throttling.User`` …), or None; ``account`` the account whose
    role could not be assumed (§5.13), or None for the bot's own identity.
    """

    def __init__(self, message: str, *, code: str | None = None, account: str | None = None):
        super().__init__(message)
        self.code = code
        self.account = account


class StoreUnavailable(BotError):
    """The database did not answer."""
