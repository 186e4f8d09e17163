"""The offline stack ignores the shell: hostile settings in ``os.environ`` change
nothing, in-process or in a ``serve`` child process (bot.testing's promise)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.domain.model import Role
from bot.simulator import Simulator
from bot.testing.serve import serve_environment
from bot.testing.settings import CHANNEL, OPERATOR, REGION, offline_env, offline_settings
from bot.testing.stack import running_bot

HOSTILE = {
    "ECSBOT_ALLOWED_CHANNELS": "C0ELSEWHERE",
    "ALIBABA_CLOUD_SECURITY_TOKEN": "bogus-sts-token",
    "ECSBOT_CONFIRM_TTL": "1",
    "ECSBOT_ADMINS": "U0SOMEONEELSE",
    "SLACK_API_URL": "https://slack.invalid/api/",
}


@pytest.fixture
def hostile_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in HOSTILE.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("hostile_shell")
def test_offline_settings_name_every_field_so_the_shell_is_ignored() -> None:
    with Simulator(regions=(REGION,), instances_per_region=1) as sim:
        values = offline_env(slack_url="http://127.0.0.1:9/", sim=sim, database_url="sqlite://")
        settings = offline_settings(values)

    assert settings.allowed_channels == ()
    assert settings.security_token is None or not settings.security_token.get_secret_value()
    assert settings.confirm_ttl == 300
    assert settings.slack_api_url == "http://127.0.0.1:9/"
    assert set(values) >= {str(f.alias) for f in type(settings).model_fields.values() if f.alias}


@pytest.mark.usefixtures("hostile_shell")
def test_the_serve_environment_copies_nothing_from_the_shell(tmp_path: Path) -> None:
    with Simulator(regions=(REGION,), instances_per_region=1) as sim:
        values = offline_env(slack_url="http://127.0.0.1:9/", sim=sim, database_url="sqlite://")

    env = serve_environment(values, tmp_path)

    for name, value in HOSTILE.items():
        assert env[name] != value, name
    assert set(env) - set(values) == {"PATH", "PYTHONPATH", "PYTHONIOENCODING", "HOME"}


@pytest.mark.usefixtures("hostile_shell")
def test_a_command_in_the_harness_channel_is_previewed_without_a_security_token(
    migrated_url: str,
) -> None:
    with running_bot(migrated_url) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        instance_id = h.sim.fleet.ids(REGION)[0]

        assert h.command(instance_id, channel=CHANNEL).status_code == 200
        h.settle()

        [preview] = h.previews()
        assert instance_id in json.dumps(preview["blocks"])
        assert h.sim.calls.count("DescribeInstances") >= 1
        # What the ECS client signs its calls with, and how long a preview lives.
        token = h.bot.settings.security_token
        assert token is None or not token.get_secret_value()
        assert h.bot.settings.confirm_ttl == 300
