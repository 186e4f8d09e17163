"""STS for the credentials chain: a RAM role assumed with ``AssumeRole`` (signed with a base
identity) or ``AssumeRoleWithOIDC`` (RRSA), tried again with backoff when STS throttles
or fails, each a refreshing provider (``credential_types``)."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bot.domain.errors import CredentialsError
from bot.ecs import catalogue, signing
from bot.ecs.credential_types import (
    DEFAULT_DURATION_SECONDS,
    DEFAULT_SESSION_NAME,
    DEFAULT_STS_ENDPOINT,
    STS_VERSION,
    Clock,
    Credentials,
    CredentialsProvider,
    RefreshingProvider,
    parse_expiration,
    utc_now,
)

log = logging.getLogger(__name__)

# --- STS: AssumeRole and AssumeRoleWithOIDC -------------------------------------------------


@dataclass(frozen=True)
class StsTarget:
    """Where and how long: the STS endpoint, the role's session name and lifetime; and
    how often a throttled or failing STS is tried (``attempts``, with jittered
    exponential backoff from ``backoff`` seconds, through ``sleep``)."""

    endpoint: str = DEFAULT_STS_ENDPOINT
    session_name: str = DEFAULT_SESSION_NAME
    duration_seconds: int = DEFAULT_DURATION_SECONDS
    timeout: float = 5.0
    transport: httpx.BaseTransport | None = None
    attempts: int = 3
    backoff: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)


class _StsTransient(Exception):
    """One STS attempt that may succeed when tried again (throttled, 5xx, no answer)."""

    def __init__(self, error: CredentialsError) -> None:
        super().__init__(str(error))
        self.error = error


def _sts_call(
    target: StsTarget,
    action: str,
    params: Mapping[str, str],
    signer: Credentials | None,
    clock: Clock,
) -> tuple[Credentials, datetime]:
    """One STS RPC call (V1-signed with ``signer``, or anonymous) answering temporary
    credentials. Throttling, ``ServiceUnavailable``, ``InternalError``, HTTP 5xx and
    connection faults are tried again ``target.attempts`` times in all (the call only
    issues credentials: repeating it is harmless); then, as for any refusal, a
    ``CredentialsError`` carrying STS's code. Errors name the STS code and message,
    never a request parameter."""
    attempts = max(1, target.attempts)
    for attempt in range(1, attempts + 1):
        try:
            return _sts_attempt(target, action, params, signer, clock)
        except _StsTransient as transient:
            if attempt == attempts:
                raise transient.error from None
            # Full jitter: replicas refreshing together do not retry together.
            target.sleep(random.random() * target.backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _sts_attempt(
    target: StsTarget,
    action: str,
    params: Mapping[str, str],
    signer: Credentials | None,
    clock: Clock,
) -> tuple[Credentials, datetime]:
    query: dict[str, str] = {
        **params,
        "Action": action,
        "Version": STS_VERSION,
        "Format": "JSON",
        "Timestamp": clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "SignatureNonce": os.urandom(16).hex(),
    }
    if signer is not None:
        query.update(
            {
                "AccessKeyId": signer.access_key_id,
                "SignatureMethod": "HMAC-SHA1",
                "SignatureVersion": "1.0",
            }
        )
        if signer.security_token:
            query["SecurityToken"] = signer.security_token
        query["Signature"] = signing.v1_signature("POST", query, signer.access_key_secret)
    url = target.endpoint.rstrip("/") + "/"
    role = params.get("RoleArn", "?")
    try:
        with httpx.Client(
            timeout=httpx.Timeout(target.timeout), transport=target.transport
        ) as http:
            # The body carries the parameters: the OIDC token and the signature stay out
            # of URLs, which proxies and access logs keep.
            response = http.post(
                url,
                content=signing.canonical_query(query).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        payload = response.json()
    except httpx.HTTPError as exc:
        raise _StsTransient(
            CredentialsError(
                f"STS {action} for {role} at {target.endpoint} did not answer "
                f"({type(exc).__name__}); check ALIBABA_CLOUD_STS_ENDPOINT and the network.",
                code=catalogue.CLIENT_CONNECTION_FAILED,
            )
        ) from None
    except ValueError:
        error = CredentialsError(
            f"STS {action} at {target.endpoint} answered HTTP {response.status_code} with "
            "something that is not JSON; check ALIBABA_CLOUD_STS_ENDPOINT.",
            code=catalogue.CLIENT_UNEXPECTED_RESPONSE,
        )
        if response.status_code >= 500:
            raise _StsTransient(error) from None
        raise error from None
    if response.status_code != 200 or not isinstance(payload, dict):
        code = str(payload.get("Code") or "?") if isinstance(payload, dict) else "?"
        message = payload.get("Message", "") if isinstance(payload, dict) else ""
        error = CredentialsError(
            f"STS {action} for {role} was refused: {code}: {str(message)[:300]}",
            code=None if code == "?" else code,
        )
        if catalogue.is_transient(code, response.status_code):
            raise _StsTransient(error)
        raise error
    try:
        body = payload["Credentials"]
        credentials = Credentials(
            str(body["AccessKeyId"]), str(body["AccessKeySecret"]), str(body["SecurityToken"])
        )
        return credentials, parse_expiration(str(body["Expiration"]))
    except (KeyError, TypeError, ValueError):
        raise CredentialsError(
            f"STS {action} answered without valid Credentials; check ALIBABA_CLOUD_STS_ENDPOINT.",
            code=catalogue.CLIENT_UNEXPECTED_RESPONSE,
        ) from None


class RamRoleArnCredentialsProvider(RefreshingProvider):
    """A RAM role assumed with STS ``AssumeRole``, signed with the ``base`` identity
    (``ALIBABA_CLOUD_ROLE_ARN`` + ``ALIBABA_CLOUD_ROLE_SESSION_NAME``, or a profile)."""

    source = "RAM role (AssumeRole)"

    def __init__(
        self,
        base: CredentialsProvider,
        role_arn: str,
        *,
        target: StsTarget = StsTarget(),
        policy: str | None = None,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(clock)
        self._base = base
        self._role_arn = role_arn
        self._target = target
        self._policy = policy or None

    def _fetch(self) -> tuple[Credentials, datetime]:
        params = {
            "RoleArn": self._role_arn,
            "RoleSessionName": self._target.session_name,
            "DurationSeconds": str(self._target.duration_seconds),
        }
        if self._policy:
            params["Policy"] = self._policy
        return _sts_call(self._target, "AssumeRole", params, self._base.get(), self._clock)

    def __repr__(self) -> str:
        return f"RamRoleArnCredentialsProvider({self._role_arn!r}, base={self._base!r})"


class OidcRoleArnCredentialsProvider(RefreshingProvider):
    """RRSA and other OIDC identities: the token in ``token_file`` (read again at every
    refresh: the kubelet rotates it) exchanged with STS ``AssumeRoleWithOIDC``."""

    source = "OIDC role (AssumeRoleWithOIDC)"

    def __init__(
        self,
        role_arn: str,
        oidc_provider_arn: str,
        token_file: str,
        *,
        target: StsTarget = StsTarget(),
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(clock)
        self._role_arn = role_arn
        self._provider_arn = oidc_provider_arn
        self._token_file = token_file
        self._target = target

    def _fetch(self) -> tuple[Credentials, datetime]:
        try:
            token = Path(self._token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CredentialsError(
                f"Cannot read the OIDC token file {self._token_file} "
                f"({exc.strerror or type(exc).__name__}); check ALIBABA_CLOUD_OIDC_TOKEN_FILE "
                "(on ACK: the RRSA webhook mounts it)."
            ) from None
        params = {
            "RoleArn": self._role_arn,
            "OIDCProviderArn": self._provider_arn,
            "OIDCToken": token,
            "RoleSessionName": self._target.session_name,
            "DurationSeconds": str(self._target.duration_seconds),
        }
        return _sts_call(self._target, "AssumeRoleWithOIDC", params, None, self._clock)

    def __repr__(self) -> str:
        return f"OidcRoleArnCredentialsProvider({self._role_arn!r})"
