"""Packaging from ``pyproject.toml`` alone: every package of ``bot/`` is listed, and
``migrations/`` is imported as ``bot.migrations`` from the checkout (this editable
install) as from a wheel (``tests/integration/test_wheel.py``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bot.db import migrate

REPO_ROOT = Path(__file__).resolve().parents[2]


def _setuptools() -> dict[str, object]:
    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        config: dict[str, object] = tomllib.load(file)["tool"]["setuptools"]
    return config


def test_every_package_of_bot_is_listed() -> None:
    on_disk = {
        ".".join(init.parent.relative_to(REPO_ROOT).parts)
        for init in (REPO_ROOT / "bot").rglob("__init__.py")
    }
    packages = _setuptools()["packages"]
    assert isinstance(packages, list)
    listed = set(packages)
    assert listed - on_disk == {"bot.migrations", "bot.migrations.versions"}
    assert on_disk <= listed, f"add {sorted(on_disk - listed)} to pyproject.toml's packages"


def test_the_migrations_ship_from_the_top_level_folder() -> None:
    assert _setuptools()["package-dir"] == {"bot.migrations": "migrations"}
    assert not (REPO_ROOT / "setup.py").exists()
    assert not (REPO_ROOT / "MANIFEST.in").exists()


def test_the_checkout_finds_its_migrations_as_the_package() -> None:
    assert migrate.MIGRATIONS_DIR == REPO_ROOT / "migrations"
    assert migrate.head_revision() is not None
