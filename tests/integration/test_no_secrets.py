"""No secret ever appears in a log line, an error message or a Slack message
(docs/PRODUCT.md §3): the whole bot (``running_bot``, as ``serve`` wires it) runs a preview, a
confirm and the poller to the end, an ECS error and a signature failure, with logging
configured by ``bot.logs.configure_logging`` in both formats at DEBUG; every record,
every formatted line and every Slack Web API call is searched for the bot token, the
signing secret and the ECS access key secret. Settings errors are searched too."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.cli import main
from bot.domain.model import RequestState, Role, Verdict
from bot.logs import configure_logging
from bot.settings import SettingsError, load_settings
from bot.simulator import DEFAULT_ACCESS_KEY_SECRET
from bot.slack.blocks import ACTION_CONFIRM
from tests.e2e.harness import (
    BOT_TOKEN,
    OPERATOR,
    REGION,
    SIGNING_SECRET,
    Harness,
    running_bot,
    text_of,
)

WRONG_ACCESS_KEY_SECRET = "WrongAccessKeySecretValue42"
SECRETS = (BOT_TOKEN, SIGNING_SECRET, DEFAULT_ACCESS_KEY_SECRET, WRONG_ACCESS_KEY_SECRET)
FORMATS = ["text", "json"]


@dataclass
class Captured:
    """Everything a person or a log collector could see."""

    stream: io.StringIO
    records: list[logging.LogRecord] = field(default_factory=list)

    def texts(self) -> list[str]:
        seen = [self.stream.getvalue()]
        for record in self.records:
            seen.append(record.getMessage())
            seen.append(repr(record.args))
            if record.exc_text:
                seen.append(record.exc_text)
        return seen


class _Keep(logging.Handler):
    """Keeps every record as it arrives, before any other handler's filter runs."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(level=logging.DEBUG)
        self._records = records

    def emit(self, record: logging.LogRecord) -> None:
        self._records.append(record)


@contextmanager
def bot_logging(log_format: str, caplog: pytest.LogCaptureFixture) -> Iterator[Captured]:
    """``configure_logging`` at DEBUG writing into a buffer, plus pytest's capture and
    a raw record keeper; the root logger is put back as it was afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    captured = Captured(stream)
    saved_stderr = sys.stderr
    sys.stderr = stream  # configure_logging's handler writes to the sys.stderr of now
    try:
        configure_logging(log_format, level=logging.DEBUG)
    finally:
        sys.stderr = saved_stderr
    # The raw keeper goes first: it sees each record before the redacting filter of
    # the bot's handler could rewrite it, so a leak is not hidden by the last guard.
    root.handlers.insert(0, _Keep(captured.records))
    root.addHandler(caplog.handler)
    try:
        yield captured
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def slack_texts(h: Harness) -> list[str]:
    """Every call the bot made to the Slack Web API and response_url, and its token."""
    return [json.dumps(call.params) + f" token={call.token}" for call in h.slack.calls()]


def assert_no_secret(texts: list[str], *, allow: tuple[str, ...] = ()) -> None:
    for text in texts:
        for secret in SECRETS:
            if secret in allow:
                continue
            assert secret not in text, f"a secret leaked: …{text[:400]}…"


def assert_json_lines(stream: str) -> int:
    lines = [line for line in stream.splitlines() if line.strip()]
    for line in lines:
        entry = json.loads(line)
        assert {"level", "logger", "message"} <= set(entry), line
        assert entry["level"] in {"debug", "info", "warning", "error", "critical"}
    return len(lines)


def _run_to_the_end(h: Harness, request_id: str) -> None:
    for _ in range(120):
        if h.request(request_id).state.is_final:
            return
        h.clock.advance(1.0)
        h.tick()
    raise AssertionError(f"request {request_id} did not finish")


@pytest.mark.parametrize("log_format", FORMATS)
def test_a_whole_reboot_and_an_ecs_error_leak_no_secret(
    migrated_url: str, log_format: str, caplog: pytest.LogCaptureFixture
) -> None:
    with bot_logging(log_format, caplog) as captured, running_bot(migrated_url) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        first, second, third = h.sim.fleet.ids(REGION)[:3]

        # A preview, a confirm, and the poller following the reboot to the end.
        assert h.command(f"{first} {second}").status_code == 200
        h.settle()
        request_id, _ = h.last_preview()
        assert h.click(ACTION_CONFIRM, request_id).status_code == 200
        h.settle()
        _run_to_the_end(h, request_id)
        assert h.request(request_id).state is RequestState.SUCCEEDED

        # An ECS error: the DryRun is refused for lack of a RAM permission.
        h.sim.faults.fail("RebootInstances", code="Forbidden.RAM", status=403, times=1)
        assert h.command(third).status_code == 200
        h.settle()
        refused_id, refused_preview = h.last_preview()
        assert refused_id != request_id
        [instance] = h.request(refused_id).instances
        assert instance.verdict is not Verdict.WILL_REBOOT
        assert "Forbidden.RAM" in text_of(refused_preview) + str(instance.verdict_code)

        # A forged request is refused (and logged, perhaps).
        forged = h.sender.post(
            b"command=%2Fecs-reboot&text=help&user_id=U0OPER&channel_id=C0OPS",
            extra_headers={"X-Slack-Signature": "v0=" + "0" * 64},
        )
        assert forged.status_code == 401
        slack_seen = slack_texts(h)

    assert len(slack_seen) >= 5, "the flow talked to Slack"
    assert captured.records, "the flow logged something"
    # The bot authenticates to Slack with its token: that one field may carry it.
    assert_no_secret([text.rsplit(" token=", 1)[0] for text in slack_seen])
    assert_no_secret(captured.texts())
    assert_no_secret([record.getMessage() for record in caplog.records])
    if log_format == "json":
        assert assert_json_lines(captured.stream.getvalue()) >= 1


@pytest.mark.parametrize("log_format", FORMATS)
def test_an_ecs_signature_failure_leaks_no_secret(
    migrated_url: str, log_format: str, caplog: pytest.LogCaptureFixture
) -> None:
    """ECS answers a bad signature with its string-to-sign: the key secret must not
    follow it into a log line or the reply."""
    env = {"ALIBABA_CLOUD_ACCESS_KEY_SECRET": WRONG_ACCESS_KEY_SECRET}
    with bot_logging(log_format, caplog) as captured, running_bot(migrated_url, env=env) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        assert h.command(h.sim.fleet.ids(REGION)[0]).status_code == 200
        h.settle()
        failed = [call for call in h.sim.calls.all() if call.code]
        assert failed, "the simulator refused the signature"
        assert {call.code for call in failed} <= {"SignatureDoesNotMatch", "IncompleteSignature"}
        slack_seen = slack_texts(h)

    answers = " ".join(slack_seen)
    assert "signature" in answers.lower(), "the person is told what went wrong"
    assert_no_secret([text.rsplit(" token=", 1)[0] for text in slack_seen])
    assert_no_secret(captured.texts())
    if log_format == "json":
        assert assert_json_lines(captured.stream.getvalue()) >= 1


@pytest.mark.parametrize("log_format", FORMATS)
@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["serve"], {"ECSBOT_CONFIRM_TTL": "abc"}),
        (["serve"], {"SLACK_SIGNING_SECRET": None}),
        (["socket"], {}),
        (["history"], {"ECSBOT_ADMINS": "bob"}),
    ],
)
def test_settings_errors_leak_no_secret(
    log_format: str,
    argv: list[str],
    env: dict[str, str | None],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: os.PathLike[str],
) -> None:
    for name in list(os.environ):
        if name.startswith(("SLACK_", "ECSBOT_", "ALIBABA_CLOUD_")) and "TEST" not in name:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ECSBOT_LOG_FORMAT", log_format)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET)
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        code = main(argv)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    out, err = capsys.readouterr()

    assert code == 2
    assert len(err.splitlines()) == 1
    assert_no_secret([out, err, *(record.getMessage() for record in caplog.records)])


def test_a_secret_pasted_into_the_wrong_variable_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(ECSBOT_ADMINS=f"U0ADMIN,{BOT_TOKEN}")
    assert "ECSBOT_ADMINS" in str(refused.value)
    assert BOT_TOKEN not in str(refused.value)


def test_settings_never_show_secrets_in_their_repr() -> None:
    settings = load_settings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=DEFAULT_ACCESS_KEY_SECRET,
    )
    assert_no_secret([repr(settings), str(settings), settings.model_dump_json()])


@pytest.mark.parametrize("log_format", FORMATS)
def test_the_temporary_credentials_providers_leak_no_secret(
    migrated_url: str, log_format: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """RRSA: the OIDC token, and the STS secret and security token issued for it, in no
    log line or error: a reboot on them, a refresh refused by STS (logged, the cached
    keys kept), then an expired role (the error the bot surfaces)."""
    from bot.domain.errors import CredentialsError
    from bot.ecs.credentials import (
        ChainSettings,
        CredentialsUriProvider,
        RamRoleArnCredentialsProvider,
        Sources,
        StaticCredentialsProvider,
        StsTarget,
        credentials_chain,
    )
    from bot.simulator.sts import DEFAULT_OIDC_PROVIDER_ARN, DEFAULT_ROLE_ARN
    from tests.e2e.test_oidc_credentials import jwt

    token = jwt("system:serviceaccount:ops:bot")
    token_file = tmp_path / "token"
    token_file.write_text(token, encoding="utf-8")
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "",
        "ALIBABA_CLOUD_ROLE_ARN": DEFAULT_ROLE_ARN,
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": DEFAULT_OIDC_PROVIDER_ARN,
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE": str(token_file),
    }
    errors: list[str] = []
    with bot_logging(log_format, caplog) as captured, running_bot(migrated_url, env=env) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        request_id = h.confirmed(2)
        _run_to_the_end(h, request_id)
        issued = h.sim.sts.settings()["issued"]
        assert len(issued) == 1
        temporary = h.sim.sts.lookup(issued[0]["access_key_id"])
        assert temporary is not None
        secrets = (token, temporary.access_key_secret, temporary.security_token)

        h.sim.sts.configure(role_arns=[])  # refreshes are refused from now on
        h.clock.advance(50 * 60)
        assert h.command(h.sim.fleet.ids(REGION)[3]).status_code == 200
        h.settle()
        assert any("refreshing the" in r.getMessage() for r in captured.records)
        h.clock.advance(10 * 60)
        provider = credentials_chain(
            config=ChainSettings(
                role_arn=DEFAULT_ROLE_ARN,
                oidc_provider_arn=DEFAULT_OIDC_PROVIDER_ARN,
                oidc_token_file=str(token_file),
            ),
            sources=Sources(sts=StsTarget(endpoint=h.sim.endpoint), clock=h.clock.now),
        )
        for failing in (
            provider,
            RamRoleArnCredentialsProvider(
                StaticCredentialsProvider(temporary.access_key_id, temporary.access_key_secret),
                DEFAULT_ROLE_ARN,
                target=StsTarget(endpoint=h.sim.endpoint),
                clock=h.clock.now,
            ),
            CredentialsUriProvider(f"{h.sim.endpoint}/?SecurityToken={temporary.security_token}"),
        ):
            with pytest.raises(CredentialsError) as caught:
                failing.get()
            errors.append(str(caught.value))
            errors.append(repr(failing))
        logged = captured.texts() + errors
        texts = logged + slack_texts(h)
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret leaked: …{text[:400]}…"
    assert_no_secret(logged)
