"""Packaging hook: the wheel carries the Alembic scripts.

The migrations live at the top of the repository (``migrations/``, where ``alembic``
and reviewers expect them), outside the ``bot`` package. A regular install must still
be able to migrate, so building the package copies them into it as
``bot/migrations``; ``bot.db.migrate`` looks there first and falls back to the
checkout's folder (an editable install). Everything else is in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class BuildWithMigrations(build_py):
    """``build_py`` that also copies ``migrations/`` into the built ``bot`` package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install reads them from the checkout
        shutil.copytree(
            MIGRATIONS,
            Path(self.build_lib) / "bot" / "migrations",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )


setup(cmdclass={"build_py": BuildWithMigrations})
