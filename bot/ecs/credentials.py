"""Where the ECS client gets its access key: explicit values, or the ECS RAM role.

Two providers, both with ``get() -> Credentials``:

* :class:`StaticCredentialsProvider`: values handed in by bootstrap (which reads the
  standard ``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET``/``_SECURITY_TOKEN`` settings).
* :class:`EcsRamRoleCredentialsProvider`: the STS credentials of the host's ECS RAM
  role, from the instance metadata service (IMDSv2-style token first), refreshed 15
  minutes before they expire, as the official credentials library does.

:func:`credentials_chain` picks one the way the official chain does for the two
sources this bot supports (reference/ecs-notes.md, "Credentials").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx

from bot.domain.errors import CredentialsError

DEFAULT_METADATA_URL = "http://100.100.100.200"
_TOKEN_PATH = "/latest/api/token"  # noqa: S105 (a URL path, not a password)
_ROLE_PATH = "/latest/meta-data/ram/security-credentials/"
_TOKEN_TTL_SECONDS = 21600
# The official library refreshes this long before ``Expiration``; a call signed just
# before expiry could otherwise arrive with a dead token.
REFRESH_MARGIN = timedelta(minutes=15)

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
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


class EcsRamRoleCredentialsProvider:
    """STS credentials of the ECS RAM role attached to the host instance.

    Flow (reference/ecs-notes.md): PUT ``/latest/api/token`` for a metadata token, then
    with it GET ``/latest/meta-data/ram/security-credentials/`` for the role name (unless
    ``role_name`` is given) and ``…/<role>`` for the credentials. Cached until
    ``REFRESH_MARGIN`` before ``Expiration``. Thread-safe: one refresh at a time, other
    threads wait for it rather than all hitting the metadata service.
    """

    def __init__(
        self,
        *,
        role_name: str | None = None,
        metadata_url: str = DEFAULT_METADATA_URL,
        clock: Clock = _utc_now,
        timeout: float = 2.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._role_name = role_name or None
        self._metadata_url = metadata_url.rstrip("/")
        self._clock = clock
        self._timeout = httpx.Timeout(timeout)
        self._transport = transport
        self._lock = threading.Lock()
        self._cached: Credentials | None = None
        self._expires_at: datetime | None = None

    def get(self) -> Credentials:
        """Cached role credentials, fetched again when they are within 15 minutes of
        expiring. Raises ``CredentialsError`` when the metadata service cannot give any."""
        with self._lock:
            if self._cached is None or self._needs_refresh():
                self._cached, self._expires_at = self._fetch()
            return self._cached

    def _needs_refresh(self) -> bool:
        if self._expires_at is None:
            return True
        return self._clock() >= self._expires_at - REFRESH_MARGIN

    def _fetch(self) -> tuple[Credentials, datetime]:
        try:
            with httpx.Client(
                base_url=self._metadata_url, timeout=self._timeout, transport=self._transport
            ) as http:
                token_response = http.put(
                    _TOKEN_PATH,
                    headers={"X-aliyun-ecs-metadata-token-ttl-seconds": str(_TOKEN_TTL_SECONDS)},
                )
                token_response.raise_for_status()
                auth = {"X-aliyun-ecs-metadata-token": token_response.text.strip()}
                role = self._role_name
                if role is None:
                    role_response = http.get(_ROLE_PATH, headers=auth)
                    role_response.raise_for_status()
                    # The listing holds one role per line; an instance has at most one.
                    names = role_response.text.split()
                    role = names[0] if names else ""
                    if not role:
                        raise CredentialsError(
                            "This ECS instance has no RAM role attached; attach one or set "
                            "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET."
                        )
                creds_response = http.get(_ROLE_PATH + role, headers=auth)
                creds_response.raise_for_status()
                payload = creds_response.json()
        except httpx.HTTPError as exc:
            # The exception names the URL and status only; the body (which could hold
            # credentials) is never included.
            raise CredentialsError(
                f"Could not read the ECS RAM role credentials from the instance metadata "
                f"service at {self._metadata_url} ({type(exc).__name__}); set "
                "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or attach "
                "a RAM role to this instance."
            ) from None
        except ValueError:
            raise CredentialsError(
                "The instance metadata service answered the RAM role credentials with "
                "something that is not JSON; set ALIBABA_CLOUD_ACCESS_KEY_ID and "
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET instead."
            ) from None
        return _parse_role_credentials(payload, role)


def _parse_role_credentials(payload: object, role: str) -> tuple[Credentials, datetime]:
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
        expiration = _parse_expiration(str(payload["Expiration"]))
    except (KeyError, ValueError) as exc:
        raise CredentialsError(
            f"The metadata answer for RAM role {role!r} lacks a valid {exc.args[0]!s}; "
            "check the role attached to this instance."
        ) from None
    return Credentials(key_id, secret, token), expiration


def _parse_expiration(text: str) -> datetime:
    # The metadata service writes e.g. 2024-01-01T12:00:00Z.
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def credentials_chain(
    *,
    access_key_id: str | None = None,
    access_key_secret: str | None = None,
    security_token: str | None = None,
    metadata_role: str | None = None,
    metadata_disabled: bool = False,
    metadata_url: str = DEFAULT_METADATA_URL,
    clock: Clock = _utc_now,
) -> CredentialsProvider:
    """Pick the credentials source, as the official chain does for the two sources this
    bot supports: explicit values (the ``ALIBABA_CLOUD_ACCESS_KEY_*`` settings) if given,
    else the ECS RAM role from instance metadata unless disabled.

    Raises ``CredentialsError`` naming what to set when only half a key pair is given or
    when no source is left. The RAM role itself is first fetched at the first call.
    """
    if access_key_id or access_key_secret:
        if not (access_key_id and access_key_secret):
            missing = (
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
                if access_key_id
                else "ALIBABA_CLOUD_ACCESS_KEY_ID"
            )
            raise CredentialsError(
                f"{missing} is not set, but its pair is; set both "
                "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET."
            )
        return StaticCredentialsProvider(access_key_id, access_key_secret, security_token)
    if metadata_disabled:
        raise CredentialsError(
            "No Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and "
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET (ALIBABA_CLOUD_ECS_METADATA_DISABLED=true "
            "turned off the ECS RAM role)."
        )
    return EcsRamRoleCredentialsProvider(
        role_name=metadata_role, metadata_url=metadata_url, clock=clock
    )
