"""Credentials per account and per person (DESIGN §5.13).

With ``ECSBOT_ACCOUNTS`` the bot acts in each account through a RAM role there, assumed
with STS ``AssumeRole`` from its own identity (the credentials chain). The session name
says on whose behalf a call goes out, and ActionTrail records it with every call:
``slack-<user id>`` for the DryRun (the requester) and the reboot (the confirmer),
``ecs-reboot-bot`` for reads. Each (account, session name) has its own
``RamRoleArnCredentialsProvider``: assumed at its first use (never at start-up, so one
broken role does not stop the bot), cached, refreshed ``REFRESH_MARGIN`` before expiry,
and never handed out expired (credentials.py).

The account ``default`` is the bot's own identity, as with a single account, unless
``ECSBOT_ACCOUNTS`` gives ``default`` a role of its own; so requests made before
``ECSBOT_ACCOUNTS`` was set finish as they began. Any other name that is not configured
(an account removed while a request of it was in flight) raises ``CredentialsError``
with code ``AccountNotConfigured``: nothing is signed for an account the operator took
away (docs/decisions/0008).
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from bot.domain.accounts import DEFAULT_ACCOUNT
from bot.domain.errors import CredentialsError, RoleNotAssumable, StsUnavailable
from bot.ecs import catalogue
from bot.ecs.credentials import (
    DEFAULT_SESSION_NAME,
    Credentials,
    CredentialsProvider,
    RamRoleArnCredentialsProvider,
    StsTarget,
)

__all__ = ["DEFAULT_ACCOUNT", "AccountCredentials", "credentials_for_call", "session_name_for"]

READ_SESSION = DEFAULT_SESSION_NAME  # "ecs-reboot-bot"
ACCOUNT_NOT_CONFIGURED = "AccountNotConfigured"
# STS allows 2..64 characters of these in RoleSessionName.
_SESSION_CHARS = re.compile(r"[^A-Za-z0-9.@_-]")
_MAX_SESSION = 64


def session_name_for(user_id: str | None) -> str:
    """``slack-<user id>`` for a call made on a person's behalf, ``ecs-reboot-bot`` for
    the bot's own reads. Characters STS does not allow become ``-``."""
    if not user_id:
        return READ_SESSION
    return _SESSION_CHARS.sub("-", f"slack-{user_id}")[:_MAX_SESSION]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AccountCredentials:
    """Hands out the credentials to sign one call in one account for one session.

    ``roles``: account name → role ARN (``ECSBOT_ACCOUNTS``; empty for one account).
    ``target``: the STS endpoint, lifetime, timeout and retries shared by every role.
    Thread-safe; at most one STS call per (account, session) at a time.
    """

    def __init__(
        self,
        base: CredentialsProvider,
        roles: Mapping[str, str] | None = None,
        *,
        target: StsTarget | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._base = base
        self._roles = dict(roles or {})
        self._target = target or StsTarget()
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, str], RamRoleArnCredentialsProvider] = {}

    @property
    def accounts(self) -> tuple[str, ...]:
        """The account names configured (``("default",)`` for one account)."""
        return tuple(self._roles) or (DEFAULT_ACCOUNT,)

    def get(self, account: str = DEFAULT_ACCOUNT, session_name: str = READ_SESSION) -> Credentials:
        """Credentials for a call in ``account`` signed as ``session_name``. Raises
        ``CredentialsError`` (with STS's code and the account) when the role cannot be
        assumed, after STS throttling or outages were tried again."""
        role_arn = self._roles.get(account)
        if role_arn is None:
            if account == DEFAULT_ACCOUNT:
                return self._base.get()
            known = ", ".join(self.accounts)
            raise CredentialsError(
                f"Account {account!r} is not in ECSBOT_ACCOUNTS (known: {known}); nothing "
                "was sent to it.",
                code=ACCOUNT_NOT_CONFIGURED,
                account=account,
            )
        provider = self._provider(account, role_arn, session_name)
        try:
            return provider.get()
        except CredentialsError as error:
            raise CredentialsError(
                f"The role of account {account!r} could not be assumed: {error}",
                code=error.code,
                account=account,
            ) from None

    def _provider(
        self, account: str, role_arn: str, session_name: str
    ) -> RamRoleArnCredentialsProvider:
        key = (account, session_name)
        with self._lock:
            provider = self._sessions.get(key)
            if provider is None:
                provider = RamRoleArnCredentialsProvider(
                    self._base,
                    role_arn,
                    target=dataclasses.replace(self._target, session_name=session_name),
                    clock=self._clock,
                )
                self._sessions[key] = provider
            return provider

    def expires_at(self, account: str, session_name: str = READ_SESSION) -> datetime | None:
        """When the cached credentials of (account, session) expire; None before the
        first use (or for the bot's own identity)."""
        with self._lock:
            provider = self._sessions.get((account, session_name))
        return provider.expires_at if provider is not None else None


def credentials_for_call(
    credentials: AccountCredentials, account: str, session_name: str
) -> Credentials:
    """The credentials to sign one ``EcsClient`` call in ``account`` as ``session_name``;
    an account's role that cannot be assumed becomes an ``EcsError`` for that call
    (nothing was sent), so a preview shows its instances denied with STS's code and a
    reboot fails them, as for any refusal."""
    try:
        return credentials.get(account, session_name)
    except CredentialsError as error:
        if error.account is None:
            raise  # the bot's own identity: no account-scoped verdict to give
        code = error.code or catalogue.CLIENT_UNEXPECTED_RESPONSE
        explanation = f"The bot could not act in account {error.account}: {error} Nothing was sent."
        if catalogue.is_transient(code, None) or code == catalogue.CLIENT_CONNECTION_FAILED:
            raise StsUnavailable(error.account, code, str(error), explanation=explanation) from None
        raise RoleNotAssumable(error.account, code, str(error), explanation=explanation) from None
