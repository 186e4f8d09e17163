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
why this is our own code and not the official package. The value types and the refresh
rule are in ``credential_types.py``, the STS providers in ``sts.py``, the others in
``credential_sources.py``; everything is importable from here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.domain.errors import CredentialsError
from bot.ecs.credential_sources import (
    CredentialsUriProvider,
    EcsRamRoleCredentialsProvider,
    Sources,
    cli_profile,
    credentials_file_profile,
)
from bot.ecs.credential_types import (
    DEFAULT_METADATA_URL,
    DEFAULT_SESSION_NAME,
    DEFAULT_STS_ENDPOINT,
    REFRESH_MARGIN,
    STALE_GRACE,
    Clock,
    Credentials,
    CredentialsProvider,
    StaticCredentialsProvider,
    utc_now,
)
from bot.ecs.sts import OidcRoleArnCredentialsProvider, RamRoleArnCredentialsProvider, StsTarget

log = logging.getLogger(__name__)

# The names the rest of the bot (and the tests) import from here, wherever they live.
__all__ = [
    "DEFAULT_METADATA_URL",
    "DEFAULT_SESSION_NAME",
    "DEFAULT_STS_ENDPOINT",
    "REFRESH_MARGIN",
    "STALE_GRACE",
    "ChainSettings",
    "Credentials",
    "CredentialsProvider",
    "CredentialsUriProvider",
    "EcsRamRoleCredentialsProvider",
    "FirstAvailableProvider",
    "OidcRoleArnCredentialsProvider",
    "RamRoleArnCredentialsProvider",
    "Sources",
    "StaticCredentialsProvider",
    "StsTarget",
    "credentials_chain",
]


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
    clock: Clock = utc_now,
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
            return cli_profile(config, name, where)
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
        found = credentials_file_profile(file_path, chain.profile or "default", where)
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
