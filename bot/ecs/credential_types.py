"""The credentials every source hands out, the provider protocol, and the refresh rule the
temporary ones share: cached, refreshed ahead of ``Expiration``, one refresh at a time,
and never a call signed with an expired token. The sources are in ``sts.py`` and
``credential_sources.py``; the chain that picks one is ``credentials.py``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.domain.errors import CredentialsError

log = logging.getLogger(__name__)

DEFAULT_METADATA_URL = "http://100.100.100.200"
# The official library refreshes this long before ``Expiration``; a call signed just
# before expiry could otherwise arrive with a dead token.
REFRESH_MARGIN = timedelta(minutes=15)
# A failed refresh may keep serving the cached credentials only while this much of
# their life is left: enough for a signed call (and its retries) to reach ECS in time.
STALE_GRACE = timedelta(seconds=60)
DEFAULT_STS_ENDPOINT = "https://sts.aliyuncs.com"
STS_VERSION = "2015-04-01"
DEFAULT_SESSION_NAME = "ecs-reboot-bot"
DEFAULT_DURATION_SECONDS = 3600

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Credentials:
    """One access key (and STS token, if any). The repr hides the secret and token so a
    stray log line or traceback never leaks them."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        token = ", security_token=<hidden>" if self.security_token else ""
        return (
            f"Credentials(access_key_id={self.access_key_id!r}, access_key_secret=<hidden>{token})"
        )

    __str__ = __repr__


class CredentialsProvider(Protocol):
    """Anything that hands out current credentials; called before every signed call."""

    def get(self) -> Credentials:
        """Credentials valid for the next request (refreshing them if needed)."""
        ...


class StaticCredentialsProvider:
    """Fixed credentials, e.g. from ``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET`` (read by
    bootstrap and passed in as values)."""

    def __init__(
        self, access_key_id: str, access_key_secret: str, security_token: str | None = None
    ) -> None:
        if not access_key_id or not access_key_secret:
            raise CredentialsError(
                "Both ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET must "
                "be set (and non-empty)."
            )
        self._credentials = Credentials(access_key_id, access_key_secret, security_token or None)

    def get(self) -> Credentials:
        """The fixed credentials."""
        return self._credentials

    def __repr__(self) -> str:
        return f"StaticCredentialsProvider({self._credentials!r})"


class RefreshingProvider:
    """Caches temporary credentials and fetches new ones before they run out.

    ``_fetch`` (the subclass) returns the credentials and their expiry. Refreshed when
    less than ``REFRESH_MARGIN`` (or a quarter of a shorter lifetime) is left. Thread
    safe: one refresh at a time, other callers wait for it rather than all asking STS.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: Credentials | None = None
        self._expires_at: datetime | None = None
        self._refresh_at: datetime | None = None

    def get(self) -> Credentials:
        """Cached credentials, fetched again when they are close to expiring. Raises
        ``CredentialsError`` when none can be had that are still valid."""
        with self._lock:
            now = self._clock()
            if self._cached is not None and self._refresh_at is not None and now < self._refresh_at:
                return self._cached
            try:
                credentials, expires_at = self._fetch()
            except CredentialsError:
                cached, expires = self._cached, self._expires_at
                if cached is not None and expires is not None and now < expires - STALE_GRACE:
                    # Still valid for a while: the next call tries the refresh again.
                    log.warning(
                        "refreshing the %s credentials failed; the current ones are valid until %s",
                        self.source,
                        expires.isoformat(),
                        exc_info=True,
                    )
                    return cached
                raise
            lifetime = max(expires_at - now, timedelta(0))
            self._cached, self._expires_at = credentials, expires_at
            self._refresh_at = expires_at - min(REFRESH_MARGIN, lifetime / 4)
            return credentials

    @property
    def expires_at(self) -> datetime | None:
        """When the cached credentials expire (None before the first fetch)."""
        return self._expires_at

    source = "temporary"

    def _fetch(self) -> tuple[Credentials, datetime]:
        raise NotImplementedError


def parse_role_credentials(payload: object, role: str) -> tuple[Credentials, datetime]:
    if not isinstance(payload, dict):
        raise CredentialsError(f"The metadata answer for RAM role {role!r} is not a JSON object.")
    if payload.get("Code", "Success") != "Success":
        raise CredentialsError(
            f"The metadata service refused the credentials of RAM role {role!r} "
            f"(Code {payload.get('Code')!s}); check the role attached to this instance."
        )
    try:
        key_id = str(payload["AccessKeyId"])
        secret = str(payload["AccessKeySecret"])
        token = str(payload["SecurityToken"])
        expiration = parse_expiration(str(payload["Expiration"]))
    except (KeyError, ValueError) as exc:
        raise CredentialsError(
            f"The metadata answer for RAM role {role!r} lacks a valid {exc.args[0]!s}; "
            "check the role attached to this instance."
        ) from None
    return Credentials(key_id, secret, token), expiration


def parse_expiration(text: str) -> datetime:
    # The metadata service writes e.g. 2024-01-01T12:00:00Z.
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment
