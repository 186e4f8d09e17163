"""Shared pytest configuration. Fixtures live in topic modules loaded as plugins, so
each area of the bot adds its own module here instead of growing this file."""

pytest_plugins = ["tests.fixtures_db"]
