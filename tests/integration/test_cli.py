"""The ``ecs-reboot-bot`` command as a user runs it (docs/PRODUCT.md §2, §3, §7).

Most cases call ``bot.cli.main([...])`` in-process with a controlled environment and
``capsys``: the same code path as the console script, at a fraction of the start-up
cost. The cases that are about the process itself (``python -m bot``'s exit status,
a server that prints a line and serves until terminated) run it as a subprocess.
Commands that touch a database run on SQLite and, when configured, PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.db.engine import make_engine
from bot.db.migrate import current_revision, head_revision
from bot.domain.model import InstanceOutcome, InstanceRef, RequestState, Role, Verdict
from bot.domain.policy import Binding
from bot.domain.request import PlannedInstance, RebootRequest
from tests.fixtures_db import UowFactory

REPO_ROOT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "xoxb-SECRETVALUE"
SIGNING_SECRET = "signing-SECRETVALUE-5f2a9c"
SECRETS = (BOT_TOKEN, SIGNING_SECRET, "SECRETVALUE")
MIGRATE_HINT = "ecs-reboot-bot migrate"
_ENV_PREFIXES = ("SLACK_", "ECSBOT_", "ALIBABA_CLOUD_")


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


class Cli:
    """Runs ``ecs-reboot-bot`` in-process with exactly the environment a test sets."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self._monkeypatch = monkeypatch
        self._capsys = capsys

    def __call__(self, *argv: str, database_url: str | None = None, **env: str | None) -> Outcome:
        with self._monkeypatch.context() as patch:
            if database_url is not None:
                patch.setenv("ECSBOT_DATABASE_URL", database_url)
            for name, value in env.items():
                if value is None:
                    patch.delenv(name, raising=False)
                else:
                    patch.setenv(name, value)
            self._capsys.readouterr()
            # main() puts its own handler (on the captured stderr) on the root logger:
            # put pytest's back at once, so nothing logs into a stream that is gone.
            root = logging.getLogger()
            handlers, level = list(root.handlers), root.level
            try:
                code = main(list(argv))
            finally:
                root.handlers[:] = handlers
                root.setLevel(level)
            captured = self._capsys.readouterr()
        return Outcome(code, captured.out, captured.err)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    """A clean environment (only the two Slack secrets set) and the working directory
    in ``tmp_path`` (the default SQLite file lands there)."""
    for name in list(os.environ):
        if (name.startswith(_ENV_PREFIXES) and not name.startswith("ECSBOT_TEST_")) or (
            name == "PORT"
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.chdir(tmp_path)
    return Cli(monkeypatch, capsys)


def subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``python -m bot`` child: nothing inherited but PATH."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONIOENCODING": "utf-8",
        "HOME": str(tmp_path),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "ECSBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        **extra,
    }


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"a secret leaked into: {text!r}"


def revision_of(url: str) -> str | None:
    """The migration the database at ``url`` is at (None before the first)."""
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


# --- migrate ---------------------------------------------------------------------------


def test_migrate_upgrades_an_empty_database(cli: Cli, database_url: str) -> None:
    first = cli("migrate", database_url=database_url)
    again = cli("migrate", database_url=database_url)

    assert (first.code, again.code) == (0, 0)
    assert "up to date" in first.out
    assert revision_of(database_url) == head_revision()
    assert_no_secret(first.out, first.err, again.out, again.err)


@pytest.mark.parametrize("argv", [("history",), ("roles", "list")])
def test_sqlite_is_upgraded_automatically_at_start(
    cli: Cli, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"

    result = cli(*argv, database_url=url)

    assert result.code == 0, result.err
    assert revision_of(url) == head_revision()


def test_the_default_database_is_a_sqlite_file_in_the_working_directory(
    cli: Cli, tmp_path: Path
) -> None:
    result = cli("history", "--json")

    assert result.code == 0, result.err
    assert json.loads(result.out) == []
    assert (tmp_path / "ecs-reboot-bot.db").is_file()


# SQLite is upgraded automatically: these run on PostgreSQL only.
ON_POSTGRES = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


@pytest.mark.postgres
@ON_POSTGRES
@pytest.mark.parametrize("argv", [("history",), ("roles", "list")])
def test_unmigrated_postgres_stops_with_one_line_saying_run_migrate(
    cli: Cli, database_url: str, argv: tuple[str, ...]
) -> None:
    result = cli(*argv, database_url=database_url)

    assert result.code == 2
    assert result.out == ""
    [line] = result.err.splitlines()
    assert line.startswith("ecs-reboot-bot: ECSBOT_DATABASE_URL")
    assert MIGRATE_HINT in line
    assert revision_of(database_url) is None, "the command must not migrate PostgreSQL"

    assert cli("migrate", database_url=database_url).code == 0
    assert cli(*argv, database_url=database_url).code == 0


def test_an_unreachable_database_is_one_line_not_a_traceback(cli: Cli) -> None:
    result = cli("history", database_url="postgresql+psycopg://ecsbot:pw-SECRETVALUE@127.0.0.1:1/x")

    assert result.code != 0
    [line] = result.err.splitlines()
    assert line.startswith("ecs-reboot-bot: ")
    assert "database" in line.lower()
    assert "pw-SECRETVALUE" not in line


# --- roles -----------------------------------------------------------------------------


def test_roles_grant_list_revoke_and_the_audit_trail(
    cli: Cli, migrated_url: str, uow_factory: UowFactory
) -> None:
    grant = ("roles", "grant", "U123", "operator", "--region", "cn-hangzhou", "--tag", "env=prod")
    revoke = ("roles", "revoke", "U123", "operator", "--region", "cn-hangzhou", "--tag", "env=prod")

    granted = cli(*grant, database_url=migrated_url)
    assert granted.code == 0, granted.err
    assert granted.out.strip() == "Granted U123: operator in cn-hangzhou for env=prod."

    again = cli(*grant, database_url=migrated_url)
    assert again.code == 0, "granting what exists is not a failure (scripts rerun)"
    assert "nothing changed" in again.out

    listed = cli("roles", "list", database_url=migrated_url)
    assert listed.code == 0
    # The binding, then who granted it and when (what the store keeps of it).
    assert re.search(
        r"^U123\s+operator in cn-hangzhou for env=prod"
        r"  granted by cli:\S+ at \d{4}-\d\d-\d\d \d\d:\d\d UTC$",
        listed.out,
        re.M,
    )

    as_json = cli("roles", "list", "--json", database_url=migrated_url)
    assert json.loads(as_json.out) == [
        {
            "subject": "U123",
            "role": "operator",
            "region": "cn-hangzhou",
            "tag": "env=prod",
            "account": None,
        }
    ]

    revoked = cli(*revoke, database_url=migrated_url)
    assert revoked.code == 0
    assert revoked.out.strip() == "Revoked U123: operator in cn-hangzhou for env=prod."
    revoked_again = cli(*revoke, database_url=migrated_url)
    assert revoked_again.code == 0
    assert "nothing changed" in revoked_again.out
    assert json.loads(cli("roles", "list", "--json", database_url=migrated_url).out) == []

    with uow_factory() as uow:
        entries = uow.audit.list()
        bindings = uow.roles.list_all()
    assert bindings == []
    # One entry per change: the repeated grant and revoke changed nothing.
    assert [entry.action for entry in entries] == ["grant", "revoke"]
    for entry in entries:
        assert entry.actor.startswith("cli:")
        assert dict(entry.detail) == {
            "subject": "U123",
            "role": "operator",
            "region": "cn-hangzhou",
            "tag": "env=prod",
            "account": "",
        }
    for result in (granted, again, listed, as_json, revoked, revoked_again):
        assert_no_secret(result.out, result.err)


def test_bindings_scoped_to_an_account(cli: Cli, migrated_url: str) -> None:
    accounts = {"ECSBOT_ACCOUNTS": f"prod={PROD_ROLE},staging={STAGING_ROLE}"}
    granted = cli(
        "roles", "grant", "U123", "operator", "--account", "staging",
        database_url=migrated_url, **accounts,
    )  # fmt: skip
    assert granted.code == 0, granted.err
    assert granted.out.strip() == "Granted U123: operator in account staging."
    listed = json.loads(cli("roles", "list", "--json", database_url=migrated_url).out)
    assert [(b["subject"], b["account"]) for b in listed] == [("U123", "staging")]
    # Revoking works even once the account is gone from ECSBOT_ACCOUNTS.
    revoked = cli("roles", "revoke", "U123", "operator", "--account", "staging",
                  database_url=migrated_url)  # fmt: skip
    assert revoked.code == 0, revoked.err
    assert json.loads(cli("roles", "list", "--json", database_url=migrated_url).out) == []


def test_roles_list_names_the_bootstrap_admins_and_user_groups(
    cli: Cli, migrated_url: str, uow_factory: UowFactory
) -> None:
    assert cli("roles", "grant", "S0ONCALL", "admin", database_url=migrated_url).code == 0

    listed = cli("roles", "list", database_url=migrated_url, ECSBOT_ADMINS="U0BOSS,W0CHIEF")

    assert "bootstrap admins (ECSBOT_ADMINS): U0BOSS, W0CHIEF" in listed.out
    assert re.search(r"^S0ONCALL\s+admin  granted by cli:\S+ at [\d: -]+ UTC$", listed.out, re.M)
    with uow_factory() as uow:
        assert uow.roles.list_all() == [Binding("S0ONCALL", Role.ADMIN)]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("roles", "grant", "bob", "operator"), "'bob' is not a Slack user id"),
        (("roles", "grant", "C0OPS", "operator"), "is not a Slack user id"),
        (("roles", "grant", "U1", "operator", "--tag", "envprod"), "--tag must be KEY=VALUE"),
        (("roles", "revoke", "U1", "operator", "--tag", "=prod"), "--tag must be KEY=VALUE"),
        (("roles", "grant", "U1", "operator", "--account", "prod"), "not a known account"),
        (("roles", "revoke", "U1", "operator", "--account", "Bad!"), "not a known account"),
    ],
)
def test_a_bad_binding_is_one_clear_line_and_changes_nothing(
    cli: Cli, migrated_url: str, uow_factory: UowFactory, argv: tuple[str, ...], expected: str
) -> None:
    result = cli(*argv, database_url=migrated_url)

    assert result.code == 2
    assert result.out == ""
    [line] = result.err.splitlines()
    assert line.startswith("ecs-reboot-bot: ")
    assert expected in line
    with uow_factory() as uow:
        assert uow.roles.list_all() == []
        assert uow.audit.list() == []


def test_an_unknown_role_is_refused_by_the_argument_parser(cli: Cli, migrated_url: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli("roles", "grant", "U1", "superuser", database_url=migrated_url)
    assert stopped.value.code == 2


# --- history ---------------------------------------------------------------------------

NOW = datetime.now(UTC).replace(microsecond=0)


def _instance(
    instance_id: str,
    position: int,
    outcome: InstanceOutcome,
    *,
    verdict: Verdict = Verdict.WILL_REBOOT,
    code: str | None = None,
    message: str | None = None,
    region: str = "cn-hangzhou",
    account: str = "default",
) -> PlannedInstance:
    return PlannedInstance(
        ref=InstanceRef(region, instance_id, account),
        position=position,
        verdict=verdict,
        name=f"web-{position}",
        status="Running",
        outcome=outcome,
        code=code,
        message=message,
    )


HISTORY = (
    RebootRequest(
        id="r-oldest",
        state=RequestState.SUCCEEDED,
        force=False,
        requester="U0ALICE",
        channel="C0OPS",
        created_at=NOW - timedelta(hours=5),
        expires_at=NOW - timedelta(hours=5) + timedelta(minutes=5),
        confirmed_by="U0ALICE",
        confirmed_at=NOW - timedelta(hours=5) + timedelta(minutes=1),
        finished_at=NOW - timedelta(hours=4),
        instances=(
            _instance("i-bp1aaaaaaaa1", 0, InstanceOutcome.SUCCEEDED),
            _instance("i-bp1aaaaaaaa2", 1, InstanceOutcome.SUCCEEDED),
        ),
    ),
    RebootRequest(
        id="r-middle",
        state=RequestState.PARTIALLY_FAILED,
        force=True,
        requester="U0BOB",
        channel="C0OPS",
        created_at=NOW - timedelta(hours=1),
        expires_at=NOW - timedelta(hours=1) + timedelta(minutes=5),
        confirmed_by="U0ADMIN",
        confirmed_at=NOW - timedelta(minutes=59),
        finished_at=NOW - timedelta(minutes=40),
        instances=(
            _instance("i-bp1bbbbbbbb1", 0, InstanceOutcome.SUCCEEDED),
            _instance(
                "i-uf6bbbbbbbb2",
                1,
                InstanceOutcome.FAILED,
                code="IncorrectInstanceStatus",
                message="The instance is not Running.",
                region="cn-shanghai",
                account="staging",
            ),
            _instance(
                "i-bp1bbbbbbbb3",
                2,
                InstanceOutcome.SKIPPED,
                verdict=Verdict.NOT_FOUND,
            ),
        ),
    ),
    RebootRequest(
        id="r-newest",
        state=RequestState.PREVIEWED,
        force=False,
        requester="U0ALICE",
        channel="C0DEV",
        created_at=NOW - timedelta(minutes=10),
        expires_at=NOW - timedelta(minutes=5),
        instances=(_instance("i-bp1cccccccc1", 0, InstanceOutcome.PENDING),),
    ),
)


@pytest.fixture
def history_url(migrated_url: str, uow_factory: UowFactory) -> str:
    # uow_factory is on this very database: pytest makes migrated_url once per test.
    for request in HISTORY:
        with uow_factory() as uow:
            uow.requests.add(request)
            uow.commit()
    return migrated_url


def _history(cli: Cli, url: str, *options: str) -> list[dict[str, Any]]:
    result = cli("history", "--json", *options, database_url=url)
    assert result.code == 0, result.err
    # json.loads takes the whole of stdout: exactly one JSON document, nothing else.
    rows = json.loads(result.out)
    assert isinstance(rows, list)
    assert_no_secret(result.out, result.err)
    return rows


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in rows]


def test_history_json_is_one_array_newest_first_in_the_documented_schema(
    cli: Cli, history_url: str
) -> None:
    rows = _history(cli, history_url)

    assert _ids(rows) == ["r-newest", "r-middle", "r-oldest"]
    for row in rows:
        assert {
            "id",
            "state",
            "requester",
            "channel",
            "force",
            "created_at",
            "confirmed_by",
            "finished_at",
            "instances",
        } <= set(row)
        assert isinstance(row["force"], bool)
        assert datetime.fromisoformat(row["created_at"]).tzinfo is not None
        for instance in row["instances"]:
            assert {
                "instance_id",
                "account",
                "region",
                "outcome",
                "code",
                "message",
                "wave",
                "reboot_calls",
            } <= set(instance)
            assert isinstance(instance["reboot_calls"], int)

    newest, middle, oldest = rows
    assert newest["state"] == "previewed"
    assert newest["finished_at"] is None
    assert newest["confirmed_by"] is None
    assert newest["channel"] == "C0DEV"
    assert newest["accounts"] == ["default"]
    assert datetime.fromisoformat(newest["created_at"]) == HISTORY[2].created_at

    assert middle["state"] == "partially_failed"
    assert middle["force"] is True
    assert middle["requester"] == "U0BOB"
    assert middle["confirmed_by"] == "U0ADMIN"
    assert datetime.fromisoformat(middle["finished_at"]) == HISTORY[1].finished_at
    assert [
        (i["instance_id"], i["account"], i["region"], i["outcome"], i["code"])
        for i in middle["instances"]
    ] == [
        ("i-bp1bbbbbbbb1", "default", "cn-hangzhou", "succeeded", None),
        ("i-uf6bbbbbbbb2", "staging", "cn-shanghai", "failed", "IncorrectInstanceStatus"),
        ("i-bp1bbbbbbbb3", "default", "cn-hangzhou", "skipped", None),
    ]
    assert middle["accounts"] == ["default", "staging"]
    assert middle["instances"][1]["message"] == "The instance is not Running."

    assert oldest["force"] is False
    assert [i["outcome"] for i in oldest["instances"]] == ["succeeded", "succeeded"]


def test_history_filters(cli: Cli, history_url: str) -> None:
    assert _ids(_history(cli, history_url, "--limit", "2")) == ["r-newest", "r-middle"]
    assert _ids(_history(cli, history_url, "--state", "succeeded")) == ["r-oldest"]
    assert _ids(_history(cli, history_url, "--user", "U0ALICE")) == ["r-newest", "r-oldest"]
    assert _ids(_history(cli, history_url, "--user", "U0NOBODY")) == []
    assert _ids(_history(cli, history_url, "--since", "2h")) == ["r-newest", "r-middle"]
    assert _ids(_history(cli, history_url, "--since", "30m")) == ["r-newest"]
    since = (NOW - timedelta(hours=2)).isoformat()
    assert _ids(_history(cli, history_url, "--since", since)) == ["r-newest", "r-middle"]
    assert _ids(
        _history(cli, history_url, "--user", "U0ALICE", "--state", "previewed", "--limit", "5")
    ) == ["r-newest"]


@pytest.mark.parametrize(
    "options",
    [("--limit", "0"), ("--limit", "many"), ("--state", "done"), ("--since", "yesterday")],
)
def test_history_refuses_bad_filters(cli: Cli, migrated_url: str, options: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli("history", *options, database_url=migrated_url)
    assert stopped.value.code == 2


def test_history_without_json_is_a_readable_table(cli: Cli, history_url: str) -> None:
    result = cli("history", database_url=history_url)

    assert result.code == 0
    header, *lines = result.out.splitlines()
    assert header.split()[:3] == ["ID", "STATE", "MODE"]
    assert [line.split()[0] for line in lines] == ["r-newest", "r-middle", "r-oldest"]
    middle = lines[1]
    assert "partially_failed" in middle
    assert "force" in middle
    assert "U0BOB" in middle
    assert "1 succeeded, 1 failed, 1 skipped" in middle
    assert "2 succeeded" in lines[2]


def test_history_of_an_empty_database_says_so(cli: Cli, migrated_url: str) -> None:
    result = cli("history", database_url=migrated_url)
    assert result.code == 0
    assert result.out.strip() == "no reboot requests yet"


# --- manifest --------------------------------------------------------------------------

BOT_SCOPES = {"commands", "chat:write", "chat:write.public", "usergroups:read", "users:read"}


def _manifest(cli: Cli, *options: str) -> dict[str, Any]:
    result = cli("manifest", *options)
    assert result.code == 0, result.err
    manifest = yaml.safe_load(result.out)
    assert isinstance(manifest, dict)
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/ecs-reboot"
    assert command["should_escape"] is True
    assert "--force" in command["usage_hint"]
    assert command["description"]
    assert manifest["features"]["bot_user"]["display_name"]
    assert manifest["display_information"]["name"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert sorted(scopes) == sorted(BOT_SCOPES)
    assert set(manifest["oauth_config"]["scopes"]) == {"bot"}
    return manifest


def test_manifest_for_http_mode_points_both_urls_at_slack_events(cli: Cli) -> None:
    manifest = _manifest(cli, "--url", "https://bot.example.com")

    events = "https://bot.example.com/slack/events"
    assert manifest["features"]["slash_commands"][0]["url"] == events
    assert manifest["settings"]["interactivity"]["request_url"] == events
    assert manifest["settings"]["socket_mode_enabled"] is False


def test_manifest_url_with_a_trailing_slash_makes_no_double_slash(cli: Cli) -> None:
    manifest = _manifest(cli, "--url", "https://bot.example.com/")
    assert (
        manifest["settings"]["interactivity"]["request_url"]
        == "https://bot.example.com/slack/events"
    )


def test_manifest_for_socket_mode_has_no_urls(cli: Cli) -> None:
    manifest = _manifest(cli, "--socket")

    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "url" not in manifest["features"]["slash_commands"][0]
    assert "request_url" not in manifest["settings"]["interactivity"]
    assert "http" not in json.dumps(manifest)


def test_manifest_needs_no_secret(cli: Cli) -> None:
    result = cli("manifest", SLACK_BOT_TOKEN=None, SLACK_SIGNING_SECRET=None)
    assert result.code == 0
    assert yaml.safe_load(result.out)["features"]["slash_commands"][0]["command"] == "/ecs-reboot"


# --- simulator -------------------------------------------------------------------------


def test_simulator_through_the_main_command_prints_one_json_line_then_serves(
    tmp_path: Path,
) -> None:
    from bot.bootstrap import make_ecs_client
    from bot.settings import load_settings

    with subprocess.Popen(
        [sys.executable, "-m", "bot", "simulator", "--json", "--port", "0"],
        env=subprocess_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], 20)
            assert ready, "the simulator printed nothing within 20 s"
            first = process.stdout.readline()
            assert first, f"the simulator exited: {process.stderr.read() if process.stderr else ''}"
            info = json.loads(first)
            assert set(info) >= {"endpoint", "access_key_id", "access_key_secret", "instances"}
            assert re.fullmatch(r"http://127\.0\.0\.1:[1-9]\d*", info["endpoint"])
            ids = info["instances"]["cn-hangzhou"]
            assert len(ids) == 10

            # The printed key pair is accepted: a signed DescribeInstances answers.
            settings = load_settings(
                ECSBOT_ECS_ENDPOINT=info["endpoint"],
                ALIBABA_CLOUD_ACCESS_KEY_ID=info["access_key_id"],
                ALIBABA_CLOUD_ACCESS_KEY_SECRET=info["access_key_secret"],
            )
            ecs = make_ecs_client(settings)
            try:
                described = ecs.describe_instances("cn-hangzhou", ids[:3])
            finally:
                ecs.close()
            assert sorted(i.instance_id for i in described) == sorted(ids[:3])
        finally:
            process.terminate()
            code = process.wait(timeout=10)
    assert code == 0


# --- settings errors -------------------------------------------------------------------


PROD_ROLE = "acs:ram::1234567890123456:role/ecs-reboot-bot"
STAGING_ROLE = "acs:ram::6543210987654321:role/ecs-reboot-bot"


@pytest.mark.parametrize(
    ("argv", "env", "variable"),
    [
        (("history",), {"ECSBOT_CONFIRM_TTL": "abc"}, "ECSBOT_CONFIRM_TTL"),
        (("history",), {"ECSBOT_CONFIRM_TTL": "-5"}, "ECSBOT_CONFIRM_TTL"),
        (("roles", "list"), {"ECSBOT_ADMINS": "bob"}, "ECSBOT_ADMINS"),
        (("history",), {"ECSBOT_POLL_INTERVAL": "0"}, "ECSBOT_POLL_INTERVAL"),
        (("history",), {"ECSBOT_ALLOWED_CHANNELS": "C0OPS,#general"}, "ECSBOT_ALLOWED_CHANNELS"),
        (("history",), {"ECSBOT_NOTIFY_CHANNEL": "ops"}, "ECSBOT_NOTIFY_CHANNEL"),
        (("history",), {"ECSBOT_DEFAULT_REGION": "Hangzhou"}, "ECSBOT_DEFAULT_REGION"),
        (("history",), {"ECSBOT_LOG_FORMAT": "xml"}, "ECSBOT_LOG_FORMAT"),
        (("history",), {"ECSBOT_MAX_INSTANCES": "lots"}, "ECSBOT_MAX_INSTANCES"),
        (("history",), {"SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL"),
        (("history",), {"ECSBOT_ECS_ENDPOINT": "ecs.aliyuncs.com"}, "ECSBOT_ECS_ENDPOINT"),
        (("history",), {"ECSBOT_EVENT_REGIONS": "Hangzhou"}, "ECSBOT_EVENT_REGIONS"),
        (("history",), {"ECSBOT_EVENTS_INTERVAL": "0"}, "ECSBOT_EVENTS_INTERVAL"),
        (("history",), {"ECSBOT_EVENTS_CHANNEL": "#ops"}, "ECSBOT_EVENTS_CHANNEL"),
        (
            ("serve",),
            {"ECSBOT_EVENTS": "true", "ECSBOT_DEFAULT_REGION": "", "ECSBOT_EVENT_REGIONS": ""},
            "ECSBOT_EVENT_REGIONS",
        ),
        (
            ("serve",),
            {
                "ECSBOT_EVENTS": "true",
                "ECSBOT_EVENT_REGIONS": "cn-hangzhou",
                "ECSBOT_NOTIFY_CHANNEL": "",
                "ECSBOT_EVENTS_CHANNEL": "",
            },
            "ECSBOT_EVENTS_CHANNEL",
        ),
        (("serve",), {"PORT": "99999"}, "PORT"),
        (("serve",), {"SLACK_SIGNING_SECRET": None}, "SLACK_SIGNING_SECRET"),
        (("serve",), {"SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET"),
        (("serve",), {"SLACK_BOT_TOKEN": None}, "SLACK_BOT_TOKEN"),
        (("serve",), {"SLACK_BOT_TOKEN": None, "SLACK_SIGNING_SECRET": None}, "SLACK_BOT_TOKEN"),
        (("poller",), {"SLACK_BOT_TOKEN": None}, "SLACK_BOT_TOKEN"),
        (("socket",), {}, "SLACK_APP_TOKEN"),
        pytest.param(
            ("history",), {"ECSBOT_DATABASE_URL": "not a database url"}, "ECSBOT_DATABASE_URL"
        ),
        (("history",), {"ECSBOT_ACCOUNTS": "prod"}, "ECSBOT_ACCOUNTS"),
        (("history",), {"ECSBOT_ACCOUNTS": "Prod=" + PROD_ROLE}, "ECSBOT_ACCOUNTS"),
        (("history",), {"ECSBOT_ACCOUNTS": "prod=acs:ram::12:role/x"}, "ECSBOT_ACCOUNTS"),
        (("history",), {"ECSBOT_DEFAULT_ACCOUNT": "prod"}, "ECSBOT_DEFAULT_ACCOUNT"),
        (
            ("history",),
            {"ECSBOT_ACCOUNTS": "prod=" + PROD_ROLE, "ECSBOT_DEFAULT_ACCOUNT": "dev"},
            "ECSBOT_DEFAULT_ACCOUNT",
        ),
        (
            ("history",),
            {"ECSBOT_ACCOUNTS": "prod=" + PROD_ROLE, "ECSBOT_APPROVALS_FOR_ACCOUNTS": "prod,dev"},
            "ECSBOT_APPROVALS_FOR_ACCOUNTS",
        ),
    ],
)
def test_a_bad_setting_stops_with_one_line_naming_it_and_no_secret(
    cli: Cli,
    tmp_path: Path,
    argv: tuple[str, ...],
    env: dict[str, str | None],
    variable: str,
) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    result = cli(*argv, **{"ECSBOT_DATABASE_URL": url, **env})

    assert result.code == 2
    assert result.out == ""
    [line] = result.err.splitlines()
    assert line.startswith("ecs-reboot-bot: ")
    assert variable in line
    assert_no_secret(result.out, result.err)
    assert not (tmp_path / "bot.db").exists(), "nothing may start before the settings are good"


def test_python_dash_m_bot_exits_2_with_one_line_when_a_setting_is_missing(
    tmp_path: Path,
) -> None:
    env = subprocess_env(tmp_path)
    del env["SLACK_SIGNING_SECRET"]

    finished = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert finished.returncode == 2
    assert finished.stdout == ""
    assert finished.stderr.splitlines() == [
        "ecs-reboot-bot: SLACK_SIGNING_SECRET is required for this command but is not set"
    ]
    assert_no_secret(finished.stdout, finished.stderr)


def test_python_dash_m_bot_without_a_command_prints_usage(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "bot"],
        env=subprocess_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert finished.returncode == 2
    for command in ("serve", "socket", "poller", "migrate", "simulator", "roles", "history"):
        assert command in finished.stdout


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_manifest_enables_the_form_shortcuts_and_app_home(cli: Cli, mode: str) -> None:
    args = ("--socket",) if mode == "socket" else ("--url", "https://bot.example.com")
    manifest = _manifest(cli, *args)

    shortcuts = {s["callback_id"]: s for s in manifest["features"]["shortcuts"]}
    assert shortcuts["reboot_open"]["type"] == "global"
    assert shortcuts["reboot_from_message"]["type"] == "message"
    for shortcut in shortcuts.values():
        # Slack's manifest schema: a name of at most 24 characters, a description of 150.
        assert 0 < len(shortcut["name"]) <= 24
        assert 0 < len(shortcut["description"]) <= 150
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert "commands" in manifest["oauth_config"]["scopes"]["bot"]  # shortcuts need it
    interactivity = manifest["settings"]["interactivity"]
    if mode == "http":
        events = "https://bot.example.com/slack/events"
        assert interactivity["message_menu_options_url"] == events
        assert manifest["settings"]["event_subscriptions"]["request_url"] == events
    else:
        assert "message_menu_options_url" not in interactivity
        assert "request_url" not in manifest["settings"]["event_subscriptions"]
