"""What a repository works in: the unit of work's one connection."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import Connection


class ConnectionSource(Protocol):
    """Gives the connection of the unit of work in hand (its transaction begun on first
    use); a SQLAlchemy ``Session`` is one too."""

    def connection(self) -> Connection: ...
