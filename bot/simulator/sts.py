"""STS (``2015-04-01``) on the simulator's endpoint: ``AssumeRole`` and
``AssumeRoleWithOIDC`` issue temporary keys that the ECS side then accepts with their
security token until they expire on the simulator's clock.

- ``AssumeRole`` is signed (V3 or V1) with any key the simulator accepts; params
  ``RoleArn``, ``RoleSessionName``, ``DurationSeconds`` (900 .. ``max_duration_seconds``,
  default 3600), ``Policy`` (optional, a JSON object of at most 2,048 characters). A role
  with a trust policy (``trust``: role ARN → account uids) may only be assumed by a caller
  of one of those accounts; others get ``NoPermission`` (403), as STS answers a caller the
  role's trust policy does not name. A role that does not exist: ``EntityNotExist.Role``.
- ``AssumeRoleWithOIDC`` is anonymous, as the real API: ``RoleArn``, ``OIDCProviderArn``,
  ``OIDCToken`` (4..20,000 characters), ``RoleSessionName``, ``DurationSeconds``.
  The token must have the JWT shape (three base64url parts, a JSON header and payload);
  with ``oidc_tokens`` configured it must also be one of them (else "invalid
  signature"), and a payload ``exp`` in the past answers ``...OIDCToken.Expired``.

Both answer ``{RequestId, Credentials: {AccessKeyId "STS.…", AccessKeySecret,
SecurityToken, Expiration "yyyy-MM-ddTHH:mm:ssZ"}, AssumedRoleUser: {Arn,
AssumedRoleId}}`` (the OIDC one adds ``OIDCTokenInfo``). Error codes as the STS error
table has them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.simulator.clock import Clock
from bot.simulator.errors import ApiError, missing_parameter

STS_VERSION = "2015-04-01"
ACTIONS = ("AssumeRole", "AssumeRoleWithOIDC")
ACCOUNT_ID = "1234567890123456"
DEFAULT_ROLE_ARN = f"acs:ram::{ACCOUNT_ID}:role/ecs-reboot-bot"
DEFAULT_OIDC_PROVIDER_ARN = f"acs:ram::{ACCOUNT_ID}:oidc-provider/ecs-simulator"
MIN_DURATION = 900
_ROLE_ARN = re.compile(r"acs:ram::\d+:role/([A-Za-z0-9.\-]{1,64})")
_SESSION_NAME = re.compile(r"[A-Za-z0-9.@\-_]{2,64}")
_STAMP = "%Y-%m-%dT%H:%M:%SZ"

Body = dict[str, Any]


@dataclass(frozen=True)
class TemporaryCredentials:
    access_key_id: str
    access_key_secret: str
    security_token: str
    expiration: datetime
    role_arn: str
    session_name: str
    via: str  # the action that issued them

    def to_json(self) -> dict[str, Any]:
        return {
            "access_key_id": self.access_key_id,
            "expiration": self.expiration.strftime(_STAMP),
            "role_arn": self.role_arn,
            "session_name": self.session_name,
            "via": self.via,
        }


class StsService:
    """Issues and remembers temporary credentials (``Simulator.sts``); thread-safe."""

    def __init__(
        self,
        clock: Clock,
        *,
        role_arns: Iterable[str] = (DEFAULT_ROLE_ARN,),
        oidc_provider_arns: Iterable[str] = (DEFAULT_OIDC_PROVIDER_ARN,),
        oidc_tokens: Iterable[str] | None = None,
        max_duration_seconds: int = 3600,
        trust: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._clock = clock
        self.trust: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._issued: dict[str, TemporaryCredentials] = {}
        self.role_arns: set[str] = set()
        self.oidc_provider_arns: set[str] = set()
        self.oidc_tokens: set[str] | None = None
        self.max_duration_seconds = 3600
        self.configure(
            role_arns=role_arns,
            oidc_provider_arns=oidc_provider_arns,
            oidc_tokens=oidc_tokens,
            any_oidc_token=oidc_tokens is None,
            max_duration_seconds=max_duration_seconds,
            trust=trust,
        )

    def configure(
        self,
        *,
        role_arns: Iterable[str] | None = None,
        oidc_provider_arns: Iterable[str] | None = None,
        oidc_tokens: Iterable[str] | None = None,
        any_oidc_token: bool = False,
        max_duration_seconds: int | None = None,
        trust: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        """Change what is accepted; None leaves a setting as it is. ``any_oidc_token``
        goes back to accepting every JWT-shaped token. ``trust`` sets the trust policy
        of the roles it names (role ARN → the account uids it trusts; an empty list
        trusts nobody)."""
        with self._lock:
            if trust is not None:
                for role_arn, accounts in trust.items():
                    self.trust[str(role_arn)] = set(_strings(accounts, "trust"))
            if role_arns is not None:
                self.role_arns = set(_strings(role_arns, "role_arns"))
            if oidc_provider_arns is not None:
                self.oidc_provider_arns = set(_strings(oidc_provider_arns, "oidc_provider_arns"))
            if oidc_tokens is not None:
                self.oidc_tokens = set(_strings(oidc_tokens, "oidc_tokens"))
            if any_oidc_token:
                self.oidc_tokens = None
            if max_duration_seconds is not None:
                if not MIN_DURATION <= int(max_duration_seconds) <= 43200:
                    raise ValueError("max_duration_seconds must be from 900 to 43200")
                self.max_duration_seconds = int(max_duration_seconds)

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return {
                "role_arns": sorted(self.role_arns),
                "oidc_provider_arns": sorted(self.oidc_provider_arns),
                "oidc_tokens": None if self.oidc_tokens is None else sorted(self.oidc_tokens),
                "max_duration_seconds": self.max_duration_seconds,
                "trust": {arn: sorted(uids) for arn, uids in sorted(self.trust.items())},
                "issued": [c.to_json() for c in self._issued.values()],
            }

    def lookup(self, access_key_id: str) -> TemporaryCredentials | None:
        """The credentials issued under this key id (expired ones too), or None."""
        with self._lock:
            return self._issued.get(access_key_id)

    def issue(
        self, role_arn: str, session_name: str, duration_seconds: int = 3600, via: str = "test"
    ) -> TemporaryCredentials:
        """Issue credentials directly (tests): valid ``duration_seconds`` from now."""
        expiration = self._clock().astimezone(UTC).replace(microsecond=0) + timedelta(
            seconds=duration_seconds
        )
        credentials = TemporaryCredentials(
            access_key_id="STS.NT" + secrets.token_hex(12),
            access_key_secret=secrets.token_urlsafe(30),
            security_token="CAIS" + secrets.token_urlsafe(96),
            expiration=expiration,
            role_arn=role_arn,
            session_name=session_name,
            via=via,
        )
        with self._lock:
            self._issued[credentials.access_key_id] = credentials
        return credentials

    # --- the two actions --------------------------------------------------------------

    def add_role(self, role_arn: str, trusted_accounts: Iterable[str] | None = None) -> None:
        """Create a role (``trusted_accounts`` None: no trust policy, anyone may)."""
        with self._lock:
            self.role_arns.add(role_arn)
            if trusted_accounts is not None:
                self.trust[role_arn] = set(_strings(trusted_accounts, "trusted_accounts"))

    def remove_role(self, role_arn: str) -> None:
        """Delete a role: assuming it answers ``EntityNotExist.Role`` from now on (keys
        already issued for it stay valid until they expire, as on the real STS)."""
        with self._lock:
            self.role_arns.discard(role_arn)

    def call(
        self, action: str, params: Mapping[str, str], caller_account: str | None = None
    ) -> Body:
        """Answer one STS action; ``caller_account`` is the uid of the account whose
        credentials signed it (None: anonymous)."""
        if action == "AssumeRole":
            return self._assume_role(params, caller_account)
        if action == "AssumeRoleWithOIDC":
            return self._assume_role_with_oidc(params)
        raise ApiError(
            404,
            "InvalidAction.NotFound",
            f"Specified api {action!r} is not found, please check your url and method.",
        )

    def _assume_role(self, params: Mapping[str, str], caller_account: str | None) -> Body:
        role_arn = self._role(params)
        with self._lock:
            trusted = self.trust.get(role_arn)
            allowed = trusted is None or (caller_account is not None and caller_account in trusted)
        if not allowed:
            raise ApiError(
                403,
                "NoPermission",
                "No permission perform sts:AssumeRole on this Role: its trust policy does "
                "not name the caller.",
            )
        session = _session_name(params)
        duration = self._duration(params)
        _policy(params)
        return self._answer(self.issue(role_arn, session, duration, "AssumeRole"))

    def _assume_role_with_oidc(self, params: Mapping[str, str]) -> Body:
        provider = params.get("OIDCProviderArn") or ""
        if not provider:
            raise missing_parameter("OIDCProviderArn")
        token = params.get("OIDCToken") or ""
        claims = self._check_oidc_token(token)
        if provider not in self.oidc_provider_arns:
            raise ApiError(
                401, "AuthenticationFail.NoPermission", "No such OIDC Provider registered."
            )
        role_arn = self._role(params)
        session = _session_name(params)
        duration = self._duration(params)
        _policy(params)
        body = self._answer(self.issue(role_arn, session, duration, "AssumeRoleWithOIDC"))
        body["OIDCTokenInfo"] = {
            "Subject": str(claims.get("sub", "")),
            "Issuer": str(claims.get("iss", "")),
            "ClientIds": str(claims.get("aud", "")),
        }
        return body

    # --- checks -----------------------------------------------------------------------

    def _role(self, params: Mapping[str, str]) -> str:
        role_arn = params.get("RoleArn") or ""
        if not role_arn:
            raise missing_parameter("RoleArn")
        if not _ROLE_ARN.fullmatch(role_arn):
            raise ApiError(
                400, "InvalidParameter.RoleArn", "The parameter RoleArn is wrongly formed."
            )
        if role_arn not in self.role_arns:
            raise ApiError(404, "EntityNotExist.Role", f"The role not exists: {role_arn}.")
        return role_arn

    def _duration(self, params: Mapping[str, str]) -> int:
        raw = params.get("DurationSeconds") or "3600"
        limit = self.max_duration_seconds
        try:
            duration = int(raw)
        except ValueError:
            duration = -1
        if not MIN_DURATION <= duration <= limit:
            raise ApiError(
                400,
                "InvalidParameter.DurationSeconds",
                f"The Min/Max value of DurationSeconds is 15min/{limit // 3600}hr."
                if limit % 3600 == 0
                else f"The Min/Max value of DurationSeconds is 900/{limit} seconds.",
            )
        return duration

    def _check_oidc_token(self, token: str) -> dict[str, Any]:
        def invalid(message: str) -> ApiError:
            return ApiError(401, "AuthenticationFail.OIDCToken.Invalid", message)

        if not token:
            raise invalid("The OIDCToken can not empty.")
        if not 4 <= len(token) <= 20000:
            raise invalid("The OIDCToken must be 4 to 20000 characters long.")
        parts = token.split(".")
        if len(parts) != 3:
            raise invalid("The number of Jwt field should be divided into 3 parts with '.' .")
        try:
            header, claims = (json.loads(_b64url(part)) for part in parts[:2])
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise invalid("Cannot decode base64 encoded response(format invalided).") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise invalid("The Jwt content is invalid that cannot be recognized.")
        accepted = self.oidc_tokens
        if accepted is not None and token not in accepted:
            raise ApiError(
                401,
                "AuthenticationFail.OIDCToken.InvalidSignature",
                "OIDC token validate failed: invalid signature.",
            )
        expires = claims.get("exp")
        if isinstance(expires, int | float) and expires <= self._clock().timestamp():
            raise ApiError(
                401, "AuthenticationFail.OIDCToken.Expired", "This JsonWebToken is expired."
            )
        return claims

    @staticmethod
    def _answer(credentials: TemporaryCredentials) -> Body:
        role_name = credentials.role_arn.rsplit("/", 1)[-1]
        owner = re.match(r"acs:ram::(\d+):", credentials.role_arn)
        account_id = owner.group(1) if owner else ACCOUNT_ID
        role_id = f"3{zlib.crc32(credentials.role_arn.encode()):015d}"
        return {
            "Credentials": {
                "AccessKeyId": credentials.access_key_id,
                "AccessKeySecret": credentials.access_key_secret,
                "SecurityToken": credentials.security_token,
                "Expiration": credentials.expiration.strftime(_STAMP),
            },
            "AssumedRoleUser": {
                "Arn": f"acs:ram::{account_id}:role/{role_name}/{credentials.session_name}",
                "AssumedRoleId": f"{role_id}:{credentials.session_name}",
            },
        }


def _session_name(params: Mapping[str, str]) -> str:
    name = params.get("RoleSessionName") or ""
    if not name:
        raise missing_parameter("RoleSessionName")
    if not _SESSION_NAME.fullmatch(name):
        raise ApiError(
            400,
            "InvalidParameter.RoleSessionName",
            "The parameter RoleSessionName is wrongly formed.",
        )
    return name


def _policy(params: Mapping[str, str]) -> None:
    policy = params.get("Policy")
    if policy is None or policy == "":
        return
    try:
        parsed = json.loads(policy)
    except ValueError:
        parsed = None
    if len(policy) > 2048 or not isinstance(parsed, dict):
        raise ApiError(
            400,
            "InvalidParameter.PolicyGrammar",
            "The parameter Policy has not passed grammar check.",
        )


def _b64url(part: str) -> str:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8")


def _strings(values: Iterable[str], name: str) -> list[str]:
    if isinstance(values, str):
        raise ValueError(f"{name} must be a list of strings")
    items = list(values)
    if not all(isinstance(item, str) and item for item in items):
        raise ValueError(f"{name} must be a list of non-empty strings")
    return items
