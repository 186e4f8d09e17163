"""Offline settings: a value for every setting, so nothing leaks in from the shell.

pydantic-settings reads the real environment for every field it is not given, so a
stray ``ECSBOT_ALLOWED_CHANNELS`` or ``ALIBABA_CLOUD_SECURITY_TOKEN`` in a developer's
shell would change how a test, a benchmark or the console behaves. ``offline_env``
names every field of :class:`bot.settings.Settings`: its default first, then the
fakes' endpoints and keys, then the caller's overrides. The values are strings, so the
same mapping serves as ``load_settings(**values)`` overrides and as the environment of
a ``python -m bot serve`` process.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.settings import Settings, load_settings
from bot.simulator import Simulator

# Dummies: the fake Slack accepts any token, and the secret only has to match between
# the signer and the app it signs for.
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # noqa: S105 - a dummy for the fakes
BOT_TOKEN = "xoxb-test-token-0000"  # noqa: S105 - a dummy for the fakes
CHANNEL = "C0OPS"
NOTIFY = "C0NOTIFY"
OPERATOR = "U0OPER"
ADMIN = "U0ADMIN"
VIEWER = "U0VIEW"
STRANGER = "U0NOBODY"
REGION = "cn-hangzhou"


def _as_env(value: object) -> str:
    """A setting's value as the environment spells it (None and () as empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(str(item) for item in value)
    return str(value)


def default_env() -> dict[str, str]:
    """Every setting at its default, by its environment name."""
    return {
        str(info.alias): _as_env(info.default)
        for info in Settings.model_fields.values()
        if info.alias
    }


def offline_env(
    *,
    slack_url: str,
    sim: Simulator,
    database_url: str,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every setting for a bot against the fake Slack at ``slack_url`` and ``sim``.

    Defaults: the admin ``ADMIN``, the notify channel ``NOTIFY``, the simulator's first
    region as default region, ``SIGNING_SECRET`` and ``BOT_TOKEN``. ``overrides`` (by
    environment name, e.g. ``{"ECSBOT_CONFIRM_TTL": "5"}``) win over all of it.
    """
    values = default_env()
    values.update(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_url,
            "ECSBOT_DATABASE_URL": database_url,
            "ECSBOT_ECS_ENDPOINT": sim.endpoint,
            # The simulator serves STS too (AssumeRole, AssumeRoleWithOIDC).
            "ALIBABA_CLOUD_STS_ENDPOINT": sim.endpoint,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": sim.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sim.access_key_secret,
            # The key pair is given: never wait on an instance-metadata endpoint.
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "ECSBOT_DEFAULT_REGION": sim.fleet.regions[0],
            "ECSBOT_ADMINS": ADMIN,
            "ECSBOT_NOTIFY_CHANNEL": NOTIFY,
        }
    )
    unknown = set(overrides or {}) - set(values)
    if unknown:
        raise ValueError(f"not settings: {sorted(unknown)}")
    values.update(overrides or {})
    return values


def offline_settings(values: Mapping[str, str]) -> Settings:
    """``load_settings`` on ``values`` (from :func:`offline_env`)."""
    return load_settings(**values)


__all__ = [
    "ADMIN",
    "BOT_TOKEN",
    "CHANNEL",
    "NOTIFY",
    "OPERATOR",
    "REGION",
    "SIGNING_SECRET",
    "STRANGER",
    "VIEWER",
    "default_env",
    "offline_env",
    "offline_settings",
]
