"""Typed configuration from the environment (docs/PRODUCT.md §3).

Only ``bootstrap``, ``cli`` and ``migrations/env.py`` read settings; everything else
receives plain values. Nothing here runs at import time: call :func:`load_settings`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.domain.accounts import DEFAULT_ACCOUNT, parse_account_names, parse_accounts
from bot.domain.rollout import parse_size
from bot.domain.windows import Window, WindowsProblem, parse_windows, zone_problem

_REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+$")
_CHANNEL_RE = re.compile(r"^[CGD][A-Z0-9]+$")
_USER_RE = re.compile(r"^[UW][A-Z0-9]+$")
_GROUP_RE = re.compile(r"^S[A-Z0-9]+$")

CommaList = Annotated[tuple[str, ...], NoDecode]


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    """Every variable of docs/PRODUCT.md §3. Secrets are ``SecretStr`` so they never print."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=True, extra="ignore")

    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")

    database_url: str = Field(
        default="sqlite:///ecs-reboot-bot.db", alias="ECSBOT_DATABASE_URL", min_length=1
    )

    access_key_id: str | None = Field(default=None, alias="ALIBABA_CLOUD_ACCESS_KEY_ID")
    access_key_secret: SecretStr | None = Field(
        default=None, alias="ALIBABA_CLOUD_ACCESS_KEY_SECRET"
    )
    security_token: SecretStr | None = Field(default=None, alias="ALIBABA_CLOUD_SECURITY_TOKEN")
    ecs_metadata_role: str | None = Field(default=None, alias="ALIBABA_CLOUD_ECS_METADATA")
    ecs_metadata_disabled: bool = Field(default=False, alias="ALIBABA_CLOUD_ECS_METADATA_DISABLED")
    # The rest of the official credentials chain (bot/ecs/credentials.py, README
    # "Credentials"): OIDC/RRSA, assuming a role, the CLI profile and credentials file,
    # a credentials URI, and where STS is.
    role_arn: str | None = Field(default=None, alias="ALIBABA_CLOUD_ROLE_ARN")
    role_session_name: str | None = Field(default=None, alias="ALIBABA_CLOUD_ROLE_SESSION_NAME")
    oidc_provider_arn: str | None = Field(default=None, alias="ALIBABA_CLOUD_OIDC_PROVIDER_ARN")
    oidc_token_file: str | None = Field(default=None, alias="ALIBABA_CLOUD_OIDC_TOKEN_FILE")
    profile: str | None = Field(default=None, alias="ALIBABA_CLOUD_PROFILE")
    credentials_file: str | None = Field(default=None, alias="ALIBABA_CLOUD_CREDENTIALS_FILE")
    credentials_uri: str | None = Field(default=None, alias="ALIBABA_CLOUD_CREDENTIALS_URI")
    # Unset: the global https://sts.aliyuncs.com; tests point it at the simulator.
    sts_endpoint: str | None = Field(default=None, alias="ALIBABA_CLOUD_STS_ENDPOINT")
    ecs_endpoint: str = Field(
        default="https://ecs.{region}.aliyuncs.com", alias="ECSBOT_ECS_ENDPOINT"
    )
    # V3 (ACS3-HMAC-SHA256) is what the official SDK uses; V1 (HMAC-SHA1) is kept for
    # gateways and proxies that only understand the older RPC scheme.
    ecs_signature_version: Literal["v3", "v1"] = Field(
        default="v3", alias="ECSBOT_ECS_SIGNATURE_VERSION"
    )

    default_region: str | None = Field(default=None, alias="ECSBOT_DEFAULT_REGION")
    admins: CommaList = Field(default=(), alias="ECSBOT_ADMINS")
    notify_channel: str | None = Field(default=None, alias="ECSBOT_NOTIFY_CHANNEL")
    allowed_channels: CommaList = Field(default=(), alias="ECSBOT_ALLOWED_CHANNELS")

    confirm_ttl: int = Field(default=300, alias="ECSBOT_CONFIRM_TTL", gt=0)
    poll_interval: float = Field(default=2.0, alias="ECSBOT_POLL_INTERVAL", gt=0)
    reboot_timeout: int = Field(default=600, alias="ECSBOT_REBOOT_TIMEOUT", gt=0)
    # Seconds after which a reboot call whose answer was lost can no longer take effect:
    # a further call waits for it (docs/PRODUCT.md §5.4, docs/decisions/0003).
    inflight_bound: float = Field(default=60.0, alias="ECSBOT_INFLIGHT_BOUND", gt=0)
    max_instances: int = Field(default=500, alias="ECSBOT_MAX_INSTANCES", gt=0)
    log_format: Literal["text", "json"] = Field(default="text", alias="ECSBOT_LOG_FORMAT")
    require_reason: bool = Field(default=False, alias="ECSBOT_REQUIRE_REASON")

    # Four-eyes approval (docs/PRODUCT.md §6.1).
    approvals: int = Field(default=1, alias="ECSBOT_APPROVALS", ge=1)
    approvals_for_force: bool = Field(default=False, alias="ECSBOT_APPROVALS_FOR_FORCE")
    approvals_above: int = Field(default=0, alias="ECSBOT_APPROVALS_ABOVE", ge=0)
    approvals_for_tags: CommaList = Field(default=(), alias="ECSBOT_APPROVALS_FOR_TAGS")
    approval_ttl: int = Field(default=1800, alias="ECSBOT_APPROVAL_TTL", gt=0)
    approver_group: str | None = Field(default=None, alias="ECSBOT_APPROVER_GROUP")

    # Rolling reboots (docs/PRODUCT.md §5.8, §5.9).
    rolling_above: int = Field(default=10, alias="ECSBOT_ROLLING_ABOVE", ge=0)
    batch: str = Field(default="25%", alias="ECSBOT_BATCH")
    canary: int = Field(default=1, alias="ECSBOT_CANARY", ge=0)
    max_errors: str = Field(default="0", alias="ECSBOT_MAX_ERRORS")
    health_check: Literal["status", "cloud-assistant"] = Field(
        default="status", alias="ECSBOT_HEALTH_CHECK"
    )

    # Scheduled reboots and maintenance windows (docs/PRODUCT.md §5.10).
    timezone: str = Field(default="UTC", alias="ECSBOT_TIMEZONE")
    schedule_min_lead: int = Field(default=60, alias="ECSBOT_SCHEDULE_MIN_LEAD", ge=0)
    schedule_max_ahead: int = Field(default=14 * 86400, alias="ECSBOT_SCHEDULE_MAX_AHEAD", gt=0)
    schedule_remind: int = Field(default=900, alias="ECSBOT_SCHEDULE_REMIND", ge=0)
    schedule_grace: int = Field(default=900, alias="ECSBOT_SCHEDULE_GRACE", ge=0)
    windows_text: str = Field(default="", alias="ECSBOT_WINDOWS")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        value = value.strip() or "UTC"
        problem = zone_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("schedule_max_ahead")
    @classmethod
    def _max_ahead(cls, value: int, info: ValidationInfo) -> int:
        least = info.data.get("schedule_min_lead")
        if isinstance(least, int) and value <= least:
            raise ValueError("must be more than ECSBOT_SCHEDULE_MIN_LEAD")
        return value

    @field_validator("windows_text")
    @classmethod
    def _windows(cls, value: str, info: ValidationInfo) -> str:
        # The zone was validated first (fields are validated in order); a bad one has
        # already stopped start-up with its own line.
        parsed = parse_windows(value, default_tz=str(info.data.get("timezone", "UTC")))
        if isinstance(parsed, WindowsProblem):
            raise ValueError(parsed.message)
        return value

    @property
    def windows(self) -> Mapping[str, Window]:
        """``ECSBOT_WINDOWS`` by name (validated at load, so this never fails)."""
        parsed = parse_windows(self.windows_text, default_tz=self.timezone)
        assert not isinstance(parsed, WindowsProblem)
        return parsed

    # CloudMonitor alarms (docs/PRODUCT.md §5.12): the secret path segment of the
    # callback URL (unset: the endpoint answers 404), and where cards go.
    alert_token: SecretStr | None = Field(default=None, alias="ECSBOT_ALERT_TOKEN")
    alerts_channel: str | None = Field(default=None, alias="ECSBOT_ALERTS_CHANNEL")
    # Several accounts (docs/PRODUCT.md §5.13). Declared in this order: the two name
    # lists are checked against ECSBOT_ACCOUNTS, which pydantic validates first.
    accounts: Annotated[tuple[tuple[str, str], ...], NoDecode] = Field(
        default=(), alias="ECSBOT_ACCOUNTS"
    )
    default_account: str | None = Field(default=None, alias="ECSBOT_DEFAULT_ACCOUNT")
    approvals_for_accounts: CommaList = Field(default=(), alias="ECSBOT_APPROVALS_FOR_ACCOUNTS")
    # Alibaba Cloud's scheduled maintenance reboots (docs/PRODUCT.md §5.11).
    events: bool = Field(default=False, alias="ECSBOT_EVENTS")
    events_channel: str | None = Field(default=None, alias="ECSBOT_EVENTS_CHANNEL")
    events_interval: float = Field(default=300.0, alias="ECSBOT_EVENTS_INTERVAL", gt=0)
    event_regions: CommaList = Field(default=(), alias="ECSBOT_EVENT_REGIONS")
    events_remind: int = Field(default=21600, alias="ECSBOT_EVENTS_REMIND", ge=0)
    events_window: str | None = Field(default=None, alias="ECSBOT_EVENTS_WINDOW")

    port: int = Field(default=3000, alias="PORT", ge=0, le=65535)

    @field_validator("accounts", mode="before")
    @classmethod
    def _accounts(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return ()
            return tuple(parse_accounts(value).items())
        return value

    @property
    def account_roles(self) -> dict[str, str]:
        """``ECSBOT_ACCOUNTS`` as name → role ARN (empty: one account, ``default``)."""
        return dict(self.accounts)

    @property
    def account_names(self) -> tuple[str, ...]:
        """Every account the bot serves: the ``ECSBOT_ACCOUNTS`` names, or ``default``."""
        return tuple(name for name, _ in self.accounts) or (DEFAULT_ACCOUNT,)

    @field_validator("default_account")
    @classmethod
    def _default_account(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        if "," in value:
            raise ValueError("names one account, not a list")
        [name] = parse_account_names(value, _known_accounts(info))
        return name

    @field_validator("approvals_for_accounts", mode="before")
    @classmethod
    def _approval_accounts_list(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("approvals_for_accounts")
    @classmethod
    def _approval_accounts(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return parse_account_names(",".join(value), _known_accounts(info))

    @field_validator("batch")
    @classmethod
    def _batch(cls, value: str) -> str:
        if parse_size(value.strip(), least=1) is None:
            raise ValueError("not a count of at least 1 or a percentage such as 25%")
        return value.strip()

    @field_validator("max_errors")
    @classmethod
    def _max_errors(cls, value: str) -> str:
        if parse_size(value.strip(), least=0) is None:
            raise ValueError("not a count of 0 or more or a percentage such as 10%")
        return value.strip()

    @field_validator("event_regions")
    @classmethod
    def _event_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for position, region in enumerate(value, start=1):
            if not _REGION_RE.match(region):
                raise ValueError(f"entry {position} is not a region id such as cn-hangzhou")
        return tuple(dict.fromkeys(value))

    @field_validator("events_window")
    @classmethod
    def _events_window(cls, value: str | None) -> str | None:
        # Which windows exist is ECSBOT_WINDOWS' business (§5.10); here only the name.
        if value is not None and value.strip() == "":
            return None
        return value.strip() if value is not None else None

    @property
    def events_channel_or_notify(self) -> str | None:
        """Where event cards go: ``ECSBOT_EVENTS_CHANNEL``, else the notify channel."""
        return self.events_channel or self.notify_channel

    @property
    def watched_regions(self) -> tuple[str, ...]:
        """``ECSBOT_EVENT_REGIONS``, else the default region alone."""
        if self.event_regions:
            return self.event_regions
        return (self.default_region,) if self.default_region else ()

    @field_validator(
        "admins", "allowed_channels", "approvals_for_tags", "event_regions", mode="before"
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("admins")
    @classmethod
    def _user_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for position, user in enumerate(value, start=1):
            # The position, never the value: a secret pasted here must not be printed.
            if not _USER_RE.match(user):
                raise ValueError(f"entry {position} is not a Slack user id (U… or W…)")
        return value

    @field_validator("allowed_channels")
    @classmethod
    def _channel_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for position, channel in enumerate(value, start=1):
            if not _CHANNEL_RE.match(channel):
                raise ValueError(f"entry {position} is not a Slack channel id (C…, G… or D…)")
        return value

    @field_validator("approvals_for_tags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for position, tag in enumerate(value, start=1):
            key, equals, _ = tag.partition("=")
            if not equals or not key.strip():
                raise ValueError(f"entry {position} is not a tag KEY=VALUE (e.g. env=prod)")
        return value

    @field_validator("approver_group")
    @classmethod
    def _group(cls, value: str | None) -> str | None:
        if value is not None and value.strip() == "":
            return None
        if value is not None and not _GROUP_RE.match(value):
            raise ValueError("not a Slack user group id (S…)")
        return value

    @property
    def approval_tags(self) -> tuple[tuple[str, str], ...]:
        """``ECSBOT_APPROVALS_FOR_TAGS`` as (key, value) pairs."""
        pairs = (tag.partition("=") for tag in self.approvals_for_tags)
        return tuple((key.strip(), value.strip()) for key, _, value in pairs)

    @field_validator("alert_token")
    @classmethod
    def _alert_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        # It is a path segment, and the only thing between the internet and a card.
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", value.get_secret_value()):
            raise ValueError("must be 16 to 128 letters, digits, '-' or '_'")
        return value

    @property
    def alarm_channel(self) -> str | None:
        """Where alarm cards go: ``ECSBOT_ALERTS_CHANNEL``, else the notify channel."""
        return self.alerts_channel or self.notify_channel

    @field_validator("notify_channel", "alerts_channel", "events_channel")
    @classmethod
    def _notify_channel(cls, value: str | None) -> str | None:
        if value is not None and value.strip() == "":
            return None
        if value is not None and not _CHANNEL_RE.match(value):
            raise ValueError("not a Slack channel id (C…, G… or D…)")
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and value.strip() == "":
            return None
        if value is not None and not _REGION_RE.match(value):
            raise ValueError("not a region id such as cn-hangzhou")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            make_url(value)
        except ArgumentError:
            raise ValueError(
                "not a SQLAlchemy URL such as sqlite:///ecs-reboot-bot.db or "
                "postgresql+psycopg://user@host/db"
            ) from None
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("sts_endpoint", "credentials_uri")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and value.strip() == "":
            return None
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("ecs_endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL, e.g. https://ecs.{region}.aliyuncs.com")
        return value.rstrip("/")

    def require(self, *names: str) -> None:
        """Stop start-up when variables a command needs are unset (by their env names);
        one line names every missing one."""
        missing = [name for name in names if not _is_set(getattr(self, _FIELD_BY_ENV[name]))]
        if len(missing) == 1:
            raise SettingsError(f"{missing[0]} is required for this command but is not set")
        if missing:
            listed = ", ".join(missing[:-1]) + f" and {missing[-1]}"
            raise SettingsError(f"{listed} are required for this command but are not set")


def _known_accounts(info: ValidationInfo) -> tuple[str, ...]:
    """The account names of ``ECSBOT_ACCOUNTS`` as validated so far (a malformed
    ``ECSBOT_ACCOUNTS`` is reported on its own, so nothing is known then)."""
    pairs = info.data.get("accounts")
    if pairs is None:
        return ()
    return tuple(name for name, _ in pairs) or (DEFAULT_ACCOUNT,)


def _is_set(value: object) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    return value is not None and value != ""


_FIELD_BY_ENV = {
    str(field.alias): name for name, field in Settings.model_fields.items() if field.alias
}


def load_settings(**overrides: object) -> Settings:
    """Read the environment; raise :class:`SettingsError` with one line on a bad value.

    ``overrides`` use the environment names (``ECSBOT_CONFIRM_TTL=…``) and win over the
    environment; the console and tests use them.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "configuration"
        # Never echo the input: it may be a secret.
        reason = error["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name} is malformed: {reason}") from None


__all__ = ["Settings", "SettingsError", "load_settings"]
