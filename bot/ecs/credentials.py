"""Where the ECS client gets its access key: the official credentials chain, in its order.

Every provider has ``get() -> Credentials`` (called before every signed call):

* :class:`StaticCredentialsProvider`: a fixed key pair (and STS token), e.g. from the
  ``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET``/``_SECURITY_TOKEN`` settings, a CLI profile
  or the credentials file.
* :class:`OidcRoleArnCredentialsProvider`: RRSA (ACK) and other OIDC identities: the
  token file is exchanged for role credentials with STS ``AssumeRoleWithOIDC``.
* :class:`RamRoleArnCredentialsProvider`: a RAM role assumed with STS ``AssumeRole``,
  signed with a base identity (any other provider).
* :class:`EcsRamRoleCredentialsProvider`: the host's ECS RAM role from the instance
  metadata service (IMDSv2-style token first).
* :class:`CredentialsUriProvider`: JSON credentials from ``ALIBABA_CLOUD_CREDENTIALS_URI``.

Temporary credentials are cached and refreshed before they expire (15 minutes, or a
quarter of a shorter lifetime, ahead), one refresh at a time; a failed refresh keeps
the old credentials only while they are still comfortably valid, so no call is ever
signed with an expired token. :func:`credentials_chain` picks the source the way the
official chain does (docs/ECS-API.md, "Credentials"); docs/decisions/0007 says
why this is our own code and not the official package.
"""

from __future__ import annotations

import configparser
import dataclasses
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx

from bot.domain.errors import CredentialsError
from bot.ecs import catalogue, signing

log = logging.getLogger(__name__)

DEFAULT_METADATA_URL = "http://100.100.100.200"
_TOKEN_PATH = "/latest/api/token"  # noqa: S105 (a URL path, not a password)
_ROLE_PATH = "/latest/meta-data/ram/security-credentials/"
_TOKEN_TTL_SECONDS = 21600
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


class _RefreshingProvider:
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


class EcsRamRoleCredentialsProvider(_RefreshingProvider):
    """STS credentials of the ECS RAM role attached to the host instance.

    Flow (docs/ECS-API.md): PUT ``/latest/api/token`` for a metadata token, then
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
        super().__init__(clock)
        self._role_name = role_name or None
        self._metadata_url = metadata_url.rstrip("/")
        self._timeout = httpx.Timeout(timeout)
        self._transport = transport

    source = "ECS RAM role"

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
        return credentials, _parse_expiration(str(body["Expiration"]))
    except (KeyError, TypeError, ValueError):
        raise CredentialsError(
            f"STS {action} answered without valid Credentials; check ALIBABA_CLOUD_STS_ENDPOINT.",
            code=catalogue.CLIENT_UNEXPECTED_RESPONSE,
        ) from None


class RamRoleArnCredentialsProvider(_RefreshingProvider):
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
        clock: Clock = _utc_now,
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


class OidcRoleArnCredentialsProvider(_RefreshingProvider):
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
        clock: Clock = _utc_now,
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


class CredentialsUriProvider(_RefreshingProvider):
    """``ALIBABA_CLOUD_CREDENTIALS_URI``: GET answers ``{Code: "Success", AccessKeyId,
    AccessKeySecret, SecurityToken, Expiration}`` (a sidecar or a local agent)."""

    source = "credentials URI"

    def __init__(
        self,
        uri: str,
        *,
        clock: Clock = _utc_now,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(clock)
        self._uri = uri
        self._timeout = httpx.Timeout(timeout)
        self._transport = transport

    def _fetch(self) -> tuple[Credentials, datetime]:
        # The URI may carry a query token of its own: errors name its origin only.
        origin = httpx.URL(self._uri).copy_with(query=None, fragment=None)
        # The transport directly, not a Client: the Client logs every request's full
        # URL at INFO ("HTTP Request: GET …"), and this one may carry a secret.
        transport = self._transport or httpx.HTTPTransport()
        request = httpx.Request("GET", self._uri, extensions={"timeout": self._timeout.as_dict()})
        try:
            try:
                response = transport.handle_request(request)
                try:
                    response.read()
                finally:
                    response.close()
            finally:
                if self._transport is None:
                    transport.close()
            response.request = request
            response.raise_for_status()
            payload = response.json()
        except httpx.HTTPError as exc:
            raise CredentialsError(
                f"Could not read credentials from ALIBABA_CLOUD_CREDENTIALS_URI {origin} "
                f"({type(exc).__name__})."
            ) from None
        except ValueError:
            raise CredentialsError(
                f"ALIBABA_CLOUD_CREDENTIALS_URI {origin} answered something that is not JSON."
            ) from None
        return _parse_role_credentials(payload, f"credentials URI {origin}")


class FirstAvailableProvider:
    """Tries each provider in order at the first call and sticks with the first that
    answers (the official chain's last two links: ECS RAM role, then the URI)."""

    def __init__(self, providers: Sequence[CredentialsProvider]) -> None:
        self._providers = list(providers)
        self._chosen: CredentialsProvider | None = None
        self._lock = threading.Lock()

    def get(self) -> Credentials:
        with self._lock:
            chosen = self._chosen
        if chosen is not None:
            return chosen.get()
        errors: list[str] = []
        for provider in self._providers:
            try:
                credentials = provider.get()
            except CredentialsError as error:
                errors.append(str(error))
                continue
            with self._lock:
                self._chosen = provider
            return credentials
        raise CredentialsError(" / ".join(errors))


# --- the CLI profile (~/.aliyun/config.json) and the credentials file ---------------------


@dataclass(frozen=True)
class Sources:
    """Where the chain looks besides the environment (tests point them at fakes)."""

    home: Path = field(default_factory=Path.home)
    metadata_url: str = DEFAULT_METADATA_URL
    sts: StsTarget = StsTarget()
    clock: Clock = _utc_now


def _cli_profile(
    config: Mapping[str, Any], name: str, sources: Sources, seen: tuple[str, ...] = ()
) -> CredentialsProvider:
    """The provider for profile ``name`` of the aliyun CLI's config.json."""
    profiles = {str(p.get("name")): p for p in config.get("profiles", []) if isinstance(p, dict)}
    profile = profiles.get(name)
    if profile is None:
        raise CredentialsError(f"~/.aliyun/config.json has no profile named {name!r}.")
    mode = str(profile.get("mode", "AK"))

    def value(key: str) -> str:
        found = str(profile.get(key) or "")
        if not found:
            raise CredentialsError(
                f"~/.aliyun/config.json profile {name!r} (mode {mode}) lacks {key}."
            )
        return found

    # The chain's endpoint, timeout and transport; the profile may name its own session
    # and lifetime.
    target = dataclasses.replace(
        sources.sts,
        session_name=str(profile.get("ram_session_name") or sources.sts.session_name),
        duration_seconds=int(profile.get("expired_seconds") or sources.sts.duration_seconds),
    )
    if mode == "AK":
        return StaticCredentialsProvider(value("access_key_id"), value("access_key_secret"))
    if mode == "StsToken":
        return StaticCredentialsProvider(
            value("access_key_id"), value("access_key_secret"), value("sts_token")
        )
    if mode == "RamRoleArn":
        base = StaticCredentialsProvider(value("access_key_id"), value("access_key_secret"))
        return RamRoleArnCredentialsProvider(
            base, value("ram_role_arn"), target=target, clock=sources.clock
        )
    if mode == "ChainableRamRoleArn":
        source = value("source_profile")
        if source in seen or source == name:
            raise CredentialsError(f"~/.aliyun/config.json profile {name!r} chains in a loop.")
        return RamRoleArnCredentialsProvider(
            _cli_profile(config, source, sources, (*seen, name)),
            value("ram_role_arn"),
            target=target,
            clock=sources.clock,
        )
    if mode == "EcsRamRole":
        return EcsRamRoleCredentialsProvider(
            role_name=str(profile.get("ram_role_name") or "") or None,
            metadata_url=sources.metadata_url,
            clock=sources.clock,
        )
    if mode == "OIDC":
        return OidcRoleArnCredentialsProvider(
            value("ram_role_arn"),
            value("oidc_provider_arn"),
            value("oidc_token_file"),
            target=target,
            clock=sources.clock,
        )
    raise CredentialsError(
        f"~/.aliyun/config.json profile {name!r} has mode {mode!r}, which this bot does not "
        "support (AK, StsToken, RamRoleArn, ChainableRamRoleArn, EcsRamRole, OIDC)."
    )


def _credentials_file_profile(
    path: Path, name: str, sources: Sources
) -> CredentialsProvider | None:
    """The provider for section ``name`` of the INI credentials file, or None when the
    file has no such section."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"))
    except (OSError, configparser.Error) as exc:
        raise CredentialsError(
            f"Cannot read the credentials file {path} ({type(exc).__name__})."
        ) from None
    if not parser.has_section(name):
        return None
    # As the official library reads the file: a value ends at an inline '#' comment.
    section = {key: value.split("#")[0].strip() for key, value in parser[name].items()}
    kind = section.get("type", "access_key")

    def value(key: str) -> str:
        found = section.get(key, "").strip()
        if not found:
            raise CredentialsError(f"{path} [{name}] (type {kind}) lacks {key}.")
        return found

    # The chain's endpoint, lifetime, timeout and transport; the section may name its own
    # session.
    target = dataclasses.replace(
        sources.sts,
        session_name=section.get("role_session_name", "").strip() or sources.sts.session_name,
    )
    if kind == "access_key":
        return StaticCredentialsProvider(value("access_key_id"), value("access_key_secret"))
    if kind == "ecs_ram_role":
        return EcsRamRoleCredentialsProvider(
            role_name=section.get("role_name", "").strip() or None,
            metadata_url=sources.metadata_url,
            clock=sources.clock,
        )
    if kind == "ram_role_arn":
        base = StaticCredentialsProvider(value("access_key_id"), value("access_key_secret"))
        return RamRoleArnCredentialsProvider(
            base, value("role_arn"), target=target, clock=sources.clock
        )
    if kind == "oidc_role_arn":
        return OidcRoleArnCredentialsProvider(
            value("role_arn"),
            value("oidc_provider_arn"),
            value("oidc_token_file_path"),
            target=target,
            clock=sources.clock,
        )
    raise CredentialsError(
        f"{path} [{name}] has type {kind!r}, which this bot does not support "
        "(access_key, ecs_ram_role, ram_role_arn, oidc_role_arn)."
    )


# --- the chain ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainSettings:
    """The chain's inputs by their environment names (bootstrap fills them from
    settings; empty strings count as unset)."""

    access_key_id: str | None = None  # ALIBABA_CLOUD_ACCESS_KEY_ID
    access_key_secret: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    role_arn: str | None = None  # ALIBABA_CLOUD_ROLE_ARN
    role_session_name: str | None = None  # ALIBABA_CLOUD_ROLE_SESSION_NAME
    oidc_provider_arn: str | None = None  # ALIBABA_CLOUD_OIDC_PROVIDER_ARN
    oidc_token_file: str | None = None  # ALIBABA_CLOUD_OIDC_TOKEN_FILE
    profile: str | None = None  # ALIBABA_CLOUD_PROFILE
    credentials_file: str | None = None  # ALIBABA_CLOUD_CREDENTIALS_FILE
    metadata_role: str | None = None  # ALIBABA_CLOUD_ECS_METADATA
    metadata_disabled: bool = False  # ALIBABA_CLOUD_ECS_METADATA_DISABLED
    credentials_uri: str | None = None  # ALIBABA_CLOUD_CREDENTIALS_URI


def credentials_chain(
    *,
    access_key_id: str | None = None,
    access_key_secret: str | None = None,
    security_token: str | None = None,
    metadata_role: str | None = None,
    metadata_disabled: bool = False,
    metadata_url: str = DEFAULT_METADATA_URL,
    clock: Clock = _utc_now,
    config: ChainSettings | None = None,
    sources: Sources | None = None,
) -> CredentialsProvider:
    """Pick the credentials source in the official chain's order:

    1. ``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET`` (+ ``_SECURITY_TOKEN``);
    2. OIDC: ``ALIBABA_CLOUD_ROLE_ARN`` + ``ALIBABA_CLOUD_OIDC_PROVIDER_ARN`` +
       ``ALIBABA_CLOUD_OIDC_TOKEN_FILE`` (RRSA);
    3. the aliyun CLI profile ``~/.aliyun/config.json`` (``ALIBABA_CLOUD_PROFILE`` or
       its ``current``);
    4. the credentials file (``ALIBABA_CLOUD_CREDENTIALS_FILE`` or
       ``~/.alibabacloud/credentials.ini``; section ``ALIBABA_CLOUD_PROFILE`` or default);
    5. the ECS RAM role from instance metadata (unless disabled), then
       ``ALIBABA_CLOUD_CREDENTIALS_URI``: the first that answers.

    With ``ALIBABA_CLOUD_ROLE_ARN`` set but no OIDC provider, the source found is the
    base identity that assumes that role (STS ``AssumeRole``).

    Raises ``CredentialsError`` naming what to set when a setting is half given or
    no source is left. Network sources are first asked at the first call.
    """
    chain = config or ChainSettings(
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        security_token=security_token,
        metadata_role=metadata_role,
        metadata_disabled=metadata_disabled,
    )
    where = sources or Sources(metadata_url=metadata_url, clock=clock)
    target = dataclasses.replace(
        where.sts, session_name=chain.role_session_name or where.sts.session_name
    )
    oidc_given = [
        name
        for name, given in (
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", chain.oidc_provider_arn),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", chain.oidc_token_file),
        )
        if given
    ]
    if chain.access_key_id or chain.access_key_secret:
        base: CredentialsProvider = _environment_keys(chain)
    elif oidc_given:
        if len(oidc_given) < 2 or not chain.role_arn:
            missing = [
                name
                for name, given in (
                    ("ALIBABA_CLOUD_ROLE_ARN", chain.role_arn),
                    ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", chain.oidc_provider_arn),
                    ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", chain.oidc_token_file),
                )
                if not given
            ]
            raise CredentialsError(
                f"OIDC credentials need {', '.join(missing)} as well (RRSA sets all three)."
            )
        # The role *is* the OIDC identity: no second AssumeRole on top.
        return OidcRoleArnCredentialsProvider(
            chain.role_arn or "",
            chain.oidc_provider_arn or "",
            chain.oidc_token_file or "",
            target=target,
            clock=where.clock,
        )
    else:
        base = _from_files_or_hosts(chain, where)
    if chain.role_arn:
        return RamRoleArnCredentialsProvider(base, chain.role_arn, target=target, clock=where.clock)
    return base


def _environment_keys(chain: ChainSettings) -> CredentialsProvider:
    if not (chain.access_key_id and chain.access_key_secret):
        missing = (
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
            if chain.access_key_id
            else "ALIBABA_CLOUD_ACCESS_KEY_ID"
        )
        raise CredentialsError(
            f"{missing} is not set, but its pair is; set both "
            "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET."
        )
    return StaticCredentialsProvider(
        chain.access_key_id, chain.access_key_secret, chain.security_token
    )


def _from_files_or_hosts(chain: ChainSettings, where: Sources) -> CredentialsProvider:
    cli_config = where.home / ".aliyun" / "config.json"
    if cli_config.is_file():
        try:
            config = json.loads(cli_config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise CredentialsError(f"{cli_config} is not readable JSON.") from None
        if not isinstance(config, dict):
            raise CredentialsError(f"{cli_config} is not a JSON object.")
        name = chain.profile or str(config.get("current") or "default")
        names = {p.get("name") for p in config.get("profiles", []) if isinstance(p, dict)}
        if name in names:
            return _cli_profile(config, name, where)
    file_path = (
        Path(chain.credentials_file)
        if chain.credentials_file
        else where.home / ".alibabacloud" / "credentials.ini"
    )
    if chain.credentials_file and not file_path.is_file():
        raise CredentialsError(
            f"ALIBABA_CLOUD_CREDENTIALS_FILE names {file_path}, which does not exist."
        )
    if file_path.is_file():
        found = _credentials_file_profile(file_path, chain.profile or "default", where)
        if found is not None:
            return found
    hosts: list[CredentialsProvider] = []
    if not chain.metadata_disabled:
        hosts.append(
            EcsRamRoleCredentialsProvider(
                role_name=chain.metadata_role, metadata_url=where.metadata_url, clock=where.clock
            )
        )
    if chain.credentials_uri:
        hosts.append(CredentialsUriProvider(chain.credentials_uri, clock=where.clock))
    if not hosts:
        raise CredentialsError(
            "No Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and "
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET, or ALIBABA_CLOUD_ROLE_ARN with "
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE, or a profile "
            "(ALIBABA_CLOUD_ECS_METADATA_DISABLED=true turned off the ECS RAM role)."
        )
    return hosts[0] if len(hosts) == 1 else FirstAvailableProvider(hosts)
