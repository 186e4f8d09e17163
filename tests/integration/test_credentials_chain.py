"""The credentials chain against loopback fakes: the simulator's STS (``AssumeRole``
signed, ``AssumeRoleWithOIDC`` anonymous), a metadata server (tests/unit), a
credentials-URI server, and CLI profile / credentials files in a temporary HOME.
Outcomes are what STS issued and recorded, and ECS calls the simulator accepted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.domain.errors import CredentialsError
from bot.ecs.client import EcsClient
from bot.ecs.credentials import (
    ChainSettings,
    CredentialsProvider,
    CredentialsUriProvider,
    EcsRamRoleCredentialsProvider,
    OidcRoleArnCredentialsProvider,
    RamRoleArnCredentialsProvider,
    Sources,
    StaticCredentialsProvider,
    StsTarget,
    credentials_chain,
)
from bot.simulator import ManualClock, Simulator
from bot.simulator.sts import DEFAULT_OIDC_PROVIDER_ARN, DEFAULT_ROLE_ARN
from tests.e2e.test_oidc_credentials import jwt
from tests.unit.test_credentials import ROLE, MetadataState, metadata  # noqa: F401 (fixture)

REGION = "cn-hangzhou"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(regions=(REGION,), instances_per_region=2, seed=3, clock=ManualClock()) as s:
        yield s


def sources(sim: Simulator, home: Path, metadata_url: str = "http://127.0.0.1:9") -> Sources:
    return Sources(
        home=home,
        metadata_url=metadata_url,
        sts=StsTarget(endpoint=sim.endpoint, session_name="test-session"),
        clock=sim.clock,
    )


def describes(sim: Simulator, provider: CredentialsProvider) -> int:
    """How many instances the simulator lists to an ECS client signing with ``provider``."""
    client = EcsClient(credentials=provider, endpoint=sim.endpoint, clock=sim.clock)
    try:
        return len(client.describe_instances(REGION, sim.fleet.ids(REGION)))
    finally:
        client.close()


def oidc_chain(sim: Simulator, tmp_path: Path, token: str) -> CredentialsProvider:
    token_file = tmp_path / "token"
    token_file.write_text(token, encoding="utf-8")
    return credentials_chain(
        config=ChainSettings(
            role_arn=DEFAULT_ROLE_ARN,
            oidc_provider_arn=DEFAULT_OIDC_PROVIDER_ARN,
            oidc_token_file=str(token_file),
            metadata_disabled=True,
        ),
        sources=sources(sim, tmp_path),
    )


def test_oidc_exchanges_the_token_file_and_ecs_accepts_the_keys(
    sim: Simulator, tmp_path: Path
) -> None:
    provider = oidc_chain(sim, tmp_path, jwt("sa"))
    assert isinstance(provider, OidcRoleArnCredentialsProvider)
    credentials = provider.get()
    issued = sim.sts.lookup(credentials.access_key_id)
    assert issued is not None
    assert (issued.via, issued.role_arn, issued.session_name) == (
        "AssumeRoleWithOIDC",
        DEFAULT_ROLE_ARN,
        "test-session",
    )
    assert credentials.security_token == issued.security_token
    assert describes(sim, provider) == 2


def test_refreshed_before_expiry_rereading_the_rotated_token(
    sim: Simulator, tmp_path: Path
) -> None:
    assert isinstance(sim.clock, ManualClock)
    provider = oidc_chain(sim, tmp_path, jwt("first"))
    first = provider.get()
    sim.clock.advance(44 * 60)  # 16 minutes left of the hour: still cached
    assert provider.get() == first
    rotated = jwt("second")
    (tmp_path / "token").write_text(rotated, encoding="utf-8")
    sim.sts.configure(oidc_tokens=[rotated])  # the old token is no longer accepted
    sim.clock.advance(2 * 60)  # 14 minutes left: refreshed with the new token
    second = provider.get()
    assert second.access_key_id != first.access_key_id
    assert len(sim.calls.of("AssumeRoleWithOIDC")) == 2
    assert describes(sim, provider) == 2


def test_failed_refresh_keeps_valid_keys_but_never_signs_with_expired_ones(
    sim: Simulator, tmp_path: Path
) -> None:
    assert isinstance(sim.clock, ManualClock)
    provider = oidc_chain(sim, tmp_path, jwt("sa"))
    first = provider.get()
    sim.sts.configure(role_arns=[])  # STS now refuses: EntityNotExist.Role
    sim.clock.advance(50 * 60)
    assert provider.get() == first  # 10 minutes left: still usable
    sim.clock.advance(9 * 60 + 30)  # 30 s left: too close to expiry
    with pytest.raises(CredentialsError, match=r"EntityNotExist\.Role"):
        provider.get()


def test_concurrent_callers_share_one_sts_exchange(sim: Simulator, tmp_path: Path) -> None:
    provider = oidc_chain(sim, tmp_path, jwt("sa"))
    seen: list[str] = []
    threads = [
        threading.Thread(target=lambda: seen.append(provider.get().access_key_id)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1
    assert len(seen) == 8
    assert len(sim.calls.of("AssumeRoleWithOIDC")) == 1


def test_role_arn_on_environment_keys_assumes_the_role_signed_with_them(
    sim: Simulator, tmp_path: Path
) -> None:
    provider = credentials_chain(
        config=ChainSettings(
            access_key_id=sim.access_key_id,
            access_key_secret=sim.access_key_secret,
            role_arn=DEFAULT_ROLE_ARN,
            role_session_name="ops-bot",
        ),
        sources=sources(sim, tmp_path),
    )
    assert isinstance(provider, RamRoleArnCredentialsProvider)
    credentials = provider.get()
    assert credentials.access_key_id.startswith("STS.")
    issued = sim.sts.lookup(credentials.access_key_id)
    assert issued is not None
    assert (issued.via, issued.session_name) == ("AssumeRole", "ops-bot")
    call = sim.calls.of("AssumeRole")[0]
    assert (call.status, call.signature_version) == (200, "v1")
    assert describes(sim, provider) == 2


def test_assume_role_with_a_wrong_base_secret_is_refused_without_echoing_it(
    sim: Simulator, tmp_path: Path
) -> None:
    provider = RamRoleArnCredentialsProvider(
        StaticCredentialsProvider(sim.access_key_id, "NotTheSecret0123"),
        DEFAULT_ROLE_ARN,
        target=StsTarget(endpoint=sim.endpoint),
        clock=sim.clock,
    )
    with pytest.raises(CredentialsError) as caught:
        provider.get()
    assert "NotTheSecret0123" not in str(caught.value)
    assert "refused" in str(caught.value)


def write_cli_config(home: Path, current: str, profiles: list[dict[str, object]]) -> None:
    (home / ".aliyun").mkdir(parents=True, exist_ok=True)
    config = {"current": current, "profiles": profiles}
    (home / ".aliyun" / "config.json").write_text(json.dumps(config), encoding="utf-8")


def test_cli_profile_modes(sim: Simulator, tmp_path: Path) -> None:
    key, secret = sim.access_key_id, sim.access_key_secret
    write_cli_config(
        tmp_path,
        "ak",
        [
            {"name": "ak", "mode": "AK", "access_key_id": key, "access_key_secret": secret},
            {
                "name": "sts",
                "mode": "StsToken",
                "access_key_id": "STS.k",
                "access_key_secret": "s",
                "sts_token": "tok",
            },
            {
                "name": "role",
                "mode": "RamRoleArn",
                "access_key_id": key,
                "access_key_secret": secret,
                "ram_role_arn": DEFAULT_ROLE_ARN,
                "ram_session_name": "cli-role",
                "expired_seconds": 900,
            },
            {"name": "odd", "mode": "CloudSSO"},
        ],
    )

    def chain(profile: str | None) -> CredentialsProvider:
        return credentials_chain(
            config=ChainSettings(profile=profile, metadata_disabled=True),
            sources=sources(sim, tmp_path),
        )

    assert describes(sim, chain(None)) == 2  # "current" is the AK profile
    sts = chain("sts").get()
    assert (sts.access_key_id, sts.security_token) == ("STS.k", "tok")
    role = chain("role")
    credentials = role.get()
    issued = sim.sts.lookup(credentials.access_key_id)
    assert issued is not None
    assert (issued.via, issued.session_name) == ("AssumeRole", "cli-role")
    assert sim.calls.of("AssumeRole")[0].params["DurationSeconds"] == "900"
    with pytest.raises(CredentialsError, match="CloudSSO"):
        chain("odd")


def test_cli_profile_ecs_ram_role_reads_metadata(
    metadata: tuple[str, MetadataState],  # noqa: F811
    sim: Simulator,
    tmp_path: Path,
) -> None:
    url, state = metadata
    write_cli_config(
        tmp_path, "ecs", [{"name": "ecs", "mode": "EcsRamRole", "ram_role_name": ROLE}]
    )
    provider = credentials_chain(config=ChainSettings(), sources=sources(sim, tmp_path, url))
    assert isinstance(provider, EcsRamRoleCredentialsProvider)
    assert provider.get().access_key_id == "STS.key1"
    # The role was named: no discovery GET, and the IMDSv2 token went first.
    assert [(m, p) for m, p, _ in state.requests] == [
        ("PUT", "/latest/api/token"),
        ("GET", f"/latest/meta-data/ram/security-credentials/{ROLE}"),
    ]


def test_credentials_file_sections(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "credentials.ini"
    path.write_text(
        "[default]\ntype = access_key\n"
        f"access_key_id = {sim.access_key_id}\naccess_key_secret = {sim.access_key_secret}\n"
        "[deploy]\ntype = ram_role_arn\n"
        f"access_key_id = {sim.access_key_id}\naccess_key_secret = {sim.access_key_secret}\n"
        f"role_arn = {DEFAULT_ROLE_ARN}\nrole_session_name = from-file\n",
        encoding="utf-8",
    )

    def chain(profile: str | None) -> CredentialsProvider:
        return credentials_chain(
            config=ChainSettings(
                credentials_file=str(path), profile=profile, metadata_disabled=True
            ),
            sources=sources(sim, tmp_path),
        )

    assert describes(sim, chain(None)) == 2
    deployed = chain("deploy").get()
    issued = sim.sts.lookup(deployed.access_key_id)
    assert issued is not None
    assert issued.session_name == "from-file"
    # The default path, under HOME, is found too.
    (tmp_path / ".alibabacloud").mkdir()
    path.rename(tmp_path / ".alibabacloud" / "credentials.ini")
    provider = credentials_chain(
        config=ChainSettings(metadata_disabled=True), sources=sources(sim, tmp_path)
    )
    assert describes(sim, provider) == 2


class _UriHandler(BaseHTTPRequestHandler):
    body = ""
    hits: list[str]

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self.hits.append(self.path)
        data = self.body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def credentials_uri(sim: Simulator) -> Iterator[tuple[str, list[str]]]:
    issued = sim.sts.issue(DEFAULT_ROLE_ARN, "uri-session")
    body = json.dumps(
        {
            "Code": "Success",
            "AccessKeyId": issued.access_key_id,
            "AccessKeySecret": issued.access_key_secret,
            "SecurityToken": issued.security_token,
            "Expiration": issued.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    hits: list[str] = []
    handler = type("Handler", (_UriHandler,), {"body": body, "hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/creds?token=abc", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_credentials_uri_alone_and_after_an_absent_metadata_service(
    sim: Simulator, tmp_path: Path, credentials_uri: tuple[str, list[str]]
) -> None:
    uri, hits = credentials_uri
    alone = credentials_chain(
        config=ChainSettings(credentials_uri=uri, metadata_disabled=True),
        sources=sources(sim, tmp_path),
    )
    assert isinstance(alone, CredentialsUriProvider)
    assert describes(sim, alone) == 2
    # Metadata enabled but nothing listens there: the chain falls through to the URI.
    fallback = credentials_chain(
        config=ChainSettings(credentials_uri=uri), sources=sources(sim, tmp_path)
    )
    assert describes(sim, fallback) == 2
    assert hits == ["/creds?token=abc", "/creds?token=abc"]


def test_half_oidc_settings_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="ALIBABA_CLOUD_OIDC_TOKEN_FILE"):
        credentials_chain(
            config=ChainSettings(
                role_arn=DEFAULT_ROLE_ARN, oidc_provider_arn=DEFAULT_OIDC_PROVIDER_ARN
            ),
            sources=Sources(home=tmp_path),
        )


def test_unreadable_token_file_names_the_setting(sim: Simulator, tmp_path: Path) -> None:
    provider = OidcRoleArnCredentialsProvider(
        DEFAULT_ROLE_ARN,
        DEFAULT_OIDC_PROVIDER_ARN,
        str(tmp_path / "absent"),
        target=StsTarget(endpoint=sim.endpoint),
        clock=sim.clock,
    )
    with pytest.raises(CredentialsError, match="ALIBABA_CLOUD_OIDC_TOKEN_FILE"):
        provider.get()


def test_nothing_configured_names_every_way(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="ALIBABA_CLOUD_OIDC_PROVIDER_ARN"):
        credentials_chain(
            config=ChainSettings(metadata_disabled=True), sources=Sources(home=tmp_path)
        )


def test_stale_grace_is_shorter_than_the_refresh_margin() -> None:
    from bot.ecs.credentials import REFRESH_MARGIN, STALE_GRACE

    assert timedelta(0) < STALE_GRACE < REFRESH_MARGIN / 4


# --- the official alibabacloud-credentials chain as an oracle ------------------------------
#
# For the same environment variables and files, the official library's default chain and
# ours must pick the same source and so the same identity. The official library reads the
# environment when it is imported, so it runs in a child process (one for all cases, its
# environment module reloaded per case), never in the test process. Sources that need the
# network (STS, instance metadata) are left out: the official chain would reach the real
# cloud; each case disables the metadata service on both sides.

_ORACLE = """
import importlib, json, os, sys
from alibabacloud_credentials.utils import auth_constant, auth_util
from alibabacloud_credentials.provider.default import DefaultCredentialsProvider
base = dict(os.environ)
answers = []
for case in json.load(sys.stdin):
    os.environ.clear()
    os.environ.update(base)
    os.environ.update(case)
    importlib.reload(auth_util)
    importlib.reload(auth_constant)
    try:
        found = DefaultCredentialsProvider().get_credentials()
    except Exception as error:
        answers.append({"error": type(error).__name__})
        continue
    answers.append({
        "provider": found.get_provider_name(),
        "access_key_id": found.get_access_key_id(),
        "access_key_secret": found.get_access_key_secret(),
        "security_token": found.get_security_token(),
    })
print(json.dumps(answers))
"""


def official_chain(cases: list[dict[str, str]]) -> list[dict[str, str | None]]:
    """What the official default chain finds for each environment (HOME included)."""
    import os
    import subprocess
    import sys

    environment = {"PATH": os.environ.get("PATH", "")}
    finished = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _ORACLE],
        input=json.dumps(cases),
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answers = json.loads(finished.stdout)
    assert isinstance(answers, list)
    return answers


def our_chain(home: Path, case: dict[str, str]) -> dict[str, str | None]:
    from bot.bootstrap import chain_settings
    from bot.settings import load_settings

    try:
        provider = credentials_chain(
            config=chain_settings(load_settings(**case)), sources=Sources(home=home)
        )
        found = provider.get()
    except CredentialsError:
        return {"error": "CredentialException"}
    return {
        "access_key_id": found.access_key_id,
        "access_key_secret": found.access_key_secret,
        "security_token": found.security_token,
    }


def test_our_chain_picks_what_the_official_chain_picks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    write_cli_config(
        home,
        "main",
        [
            {"name": "main", "mode": "AK", "access_key_id": "AKcliMain", "access_key_secret": "s1"},
            {
                "name": "other",
                "mode": "AK",
                "access_key_id": "AKcliOther",
                "access_key_secret": "s2",
            },
            {
                "name": "sts",
                "mode": "StsToken",
                "access_key_id": "STS.cli",
                "access_key_secret": "s3",
                "sts_token": "cli-token",
            },
        ],
    )
    ini = home / ".alibabacloud" / "credentials.ini"
    ini.parent.mkdir()
    ini.write_text(
        "[default]\ntype = access_key\naccess_key_id = AKiniDefault\naccess_key_secret = s4\n"
        "[work]\ntype = access_key\naccess_key_id = AKiniWork # the team key\n"
        "access_key_secret = s5\n",
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere.ini"
    elsewhere.write_text(
        "[default]\ntype = access_key\naccess_key_id = AKelsewhere\naccess_key_secret = s6\n",
        encoding="utf-8",
    )
    bare = tmp_path / "bare"
    bare.mkdir()
    only_ini = tmp_path / "only-ini"
    (only_ini / ".alibabacloud").mkdir(parents=True)
    (only_ini / ".alibabacloud" / "credentials.ini").write_text(
        ini.read_text(encoding="utf-8"), encoding="utf-8"
    )
    off = {"ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
    env_keys = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "AKenv", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s0"}
    cases: list[tuple[Path, dict[str, str]]] = [
        (bare, env_keys),  # the environment alone
        (home, env_keys | {"ALIBABA_CLOUD_SECURITY_TOKEN": "env-token"}),  # beats files
        (home, {}),  # the CLI profile's "current"
        (home, {"ALIBABA_CLOUD_PROFILE": "other"}),
        (home, {"ALIBABA_CLOUD_PROFILE": "sts"}),
        (home, {"ALIBABA_CLOUD_PROFILE": "work"}),  # not a CLI profile: the INI section
        (only_ini, {}),  # no CLI config: the INI default section
        (bare, {"ALIBABA_CLOUD_CREDENTIALS_FILE": str(elsewhere)}),
        (home, {"ALIBABA_CLOUD_PROFILE": "nosuch"}),  # in neither file: nothing
        (bare, {}),  # nothing at all
    ]
    # One difference is deliberate and so not compared: half an environment key pair is
    # an error naming the missing half here, where the official chain quietly moves on
    # to the files (docs/decisions/0007).
    answers = official_chain([case | off | {"HOME": str(where)} for where, case in cases])
    for (where, case), official in zip(cases, answers, strict=True):
        ours = our_chain(where, case | off)
        if "error" in official:
            assert ours == {"error": "CredentialException"}, case
            continue
        official.pop("provider")
        assert ours == official, case
