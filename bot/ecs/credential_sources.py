"""The places the chain reads credentials from besides the environment and STS: the host's
ECS RAM role (instance metadata), a credentials URI, the CLI profile
(``~/.aliyun/config.json``) and the credentials file."""

from __future__ import annotations

import configparser
import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bot.domain.errors import CredentialsError
from bot.ecs.credential_types import (
    DEFAULT_METADATA_URL,
    Clock,
    Credentials,
    CredentialsProvider,
    RefreshingProvider,
    StaticCredentialsProvider,
    parse_role_credentials,
    utc_now,
)
from bot.ecs.sts import (
    OidcRoleArnCredentialsProvider,
    RamRoleArnCredentialsProvider,
    StsTarget,
)

log = logging.getLogger(__name__)

_TOKEN_PATH = "/latest/api/token"  # noqa: S105 (a URL path, not a password)
_ROLE_PATH = "/latest/meta-data/ram/security-credentials/"
_TOKEN_TTL_SECONDS = 21600


class EcsRamRoleCredentialsProvider(RefreshingProvider):
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
        clock: Clock = utc_now,
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
        return parse_role_credentials(payload, role)


class CredentialsUriProvider(RefreshingProvider):
    """``ALIBABA_CLOUD_CREDENTIALS_URI``: GET answers ``{Code: "Success", AccessKeyId,
    AccessKeySecret, SecurityToken, Expiration}`` (a sidecar or a local agent)."""

    source = "credentials URI"

    def __init__(
        self,
        uri: str,
        *,
        clock: Clock = utc_now,
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
        return parse_role_credentials(payload, f"credentials URI {origin}")


# --- the CLI profile (~/.aliyun/config.json) and the credentials file ---------------------


@dataclass(frozen=True)
class Sources:
    """Where the chain looks besides the environment (tests point them at fakes)."""

    home: Path = field(default_factory=Path.home)
    metadata_url: str = DEFAULT_METADATA_URL
    sts: StsTarget = field(default_factory=StsTarget)
    clock: Clock = utc_now


def cli_profile(
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
            cli_profile(config, source, sources, (*seen, name)),
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


def credentials_file_profile(path: Path, name: str, sources: Sources) -> CredentialsProvider | None:
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
