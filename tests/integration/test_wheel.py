"""A regular install migrates: the wheel carries the Alembic scripts.

The wheel is built from a copy of what the Dockerfile builds from (``pyproject.toml``,
``README.md``, ``bot/``, ``migrations/``) in a temporary folder, so the build leaves no
``build/`` or ``*.egg-info`` in the checkout, and is installed into a new virtualenv,
without the checkout on ``sys.path`` and without an editable install; the dependencies come
from the test run's own environment (appended after the new venv's own packages, so
the ``bot`` that runs is the installed one). Then ``ecs-reboot-bot migrate`` and
``history --json`` run on a fresh SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# What the image's build stage copies (Dockerfile): the wheel is built from these alone.
SOURCES = ("pyproject.toml", "README.md", "bot", "migrations")


def _copy_sources(target: Path) -> Path:
    target.mkdir()
    for name in SOURCES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of a virtualenv holding only the built wheel."""
    root = tmp_path_factory.mktemp("wheel")
    wheels = root / "wheels"
    subprocess.run(  # noqa: S603 - pip of this interpreter on a copy of this checkout
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), "."],
        cwd=_copy_sources(root / "source"),
        check=True,
        timeout=300,
    )
    [wheel] = wheels.glob("ecs_reboot_bot-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "bot/migrations/env.py" in names
    assert "bot/migrations/script.py.mako" in names
    assert any(name.startswith("bot/migrations/versions/0001_") for name in names)
    target = root / "venv"
    venv.create(target, with_pip=False)
    bin_dir = target / "bin"
    subprocess.run(  # noqa: S603 - this interpreter's pip, installing into the new venv
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(bin_dir / "python"),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    # The dependencies: this environment's site-packages, after the venv's own.
    site = next((target / "lib").glob("python3.*/site-packages"))
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return bin_dir


def run_bot(bin_dir: Path, database_url: str, *args: str, cwd: Path) -> str:
    env = {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(cwd),
        "ECSBOT_DATABASE_URL": database_url,
    }
    finished = subprocess.run(  # noqa: S603 - the installed console script
        [str(bin_dir / "ecs-reboot-bot"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


def test_the_installed_package_is_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(  # noqa: S603 - the venv's interpreter
        [
            str(installed / "python"),
            "-c",
            "import bot, bot.db.migrate as m; print(m.MIGRATIONS_DIR)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed.parent), where
    assert Path(where, "versions").is_dir()


def test_a_regular_install_migrates_and_reads_history(
    installed: Path, database_url: str, tmp_path: Path
) -> None:
    run_bot(installed, database_url, "migrate", cwd=tmp_path)
    assert json.loads(run_bot(installed, database_url, "history", "--json", cwd=tmp_path)) == []
