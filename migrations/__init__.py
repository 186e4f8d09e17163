"""The Alembic scripts, installed as the package ``bot.migrations``.

The folder stays at the top of the repository (``alembic`` by hand finds it through
``alembic.ini``); ``pyproject.toml`` maps it into the ``bot`` package, so a wheel and an
editable install both import it as ``bot.migrations`` and ``bot.db.migrate`` finds it
the same way in both. See docs/decisions/0009-migrations-in-the-package.md.
"""
