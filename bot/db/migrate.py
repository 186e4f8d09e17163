"""Schema migrations, run from code (``ecs-reboot-bot migrate``, start-up on SQLite,
the test fixtures) with the same Alembic scripts as the ``alembic`` command."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from bot.db.engine import is_sqlite, make_engine
from bot.db.tables import metadata

# ``migrations/`` ships as the package ``bot.migrations`` (pyproject.toml maps it), in a
# wheel as in an editable install, so one lookup finds it. pip installs packages as
# folders, never zipped, so the resource is a real directory Alembic can read.
MIGRATIONS_DIR = Path(str(files("bot.migrations")))


def _scripts_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def alembic_config(url: str) -> Config:
    """An Alembic configuration built in code, targeting ``url``.

    ``migrations/env.py`` uses this URL instead of reading the settings.
    """
    config = _scripts_config()
    # The config is a ConfigParser: a bare "%" (as in "%3D" or a password) would be
    # read as interpolation.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_to_head(url: str) -> None:
    """Bring the database at ``url`` to the latest revision (``alembic upgrade head``).

    Idempotent: on an up-to-date database it does nothing.
    """
    command.upgrade(alembic_config(url), "head")


def head_revision() -> str | None:
    """The newest revision in ``migrations/`` (what :func:`upgrade_to_head` reaches)."""
    return ScriptDirectory.from_config(_scripts_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None when it was never migrated. Start-up
    compares it with :func:`head_revision` to refuse an out-of-date schema."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_models_match(url: str) -> list[Any]:
    """The autogenerate diff between the (migrated) database at ``url`` and the
    models; empty when they agree (what ``alembic check`` tests)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "target_metadata": metadata}
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "check_models_match",
    "current_revision",
    "head_revision",
    "is_sqlite",
    "upgrade_to_head",
]
