"""Counts for ``/metrics``: requests by state and instances by outcome."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine, func, select

from bot.db.tables import RebootInstanceRow, RebootRequestRow


def state_and_outcome_counts(engine: Engine) -> tuple[Mapping[str, int], Mapping[str, int]]:
    with engine.connect() as connection:
        states = connection.execute(
            select(RebootRequestRow.state, func.count()).group_by(RebootRequestRow.state)
        ).all()
        outcomes = connection.execute(
            select(RebootInstanceRow.outcome, func.count()).group_by(RebootInstanceRow.outcome)
        ).all()
    return {str(s): int(n) for s, n in states}, {str(o): int(n) for o, n in outcomes}
