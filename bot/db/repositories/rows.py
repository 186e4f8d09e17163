"""The row shapes of a request and its instances, each spelled once.

A column list per table follows the snapshot's own fields (``RebootRequest`` without
its instances; ``InstanceRef``'s fields, then ``PlannedInstance`` after its
``ref``), and every insert, select, update and row mapper is built from it. A field
added to a snapshot (and its migration) is therefore stored and read back everywhere at
once; a field the table lacks fails at import, when the statements are built.
"""

from __future__ import annotations

import dataclasses
import operator
import secrets
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any, cast

import orjson
from sqlalchemy import Boolean, CursorResult, Table, Text, bindparam, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.sql.expression import type_coerce
from sqlalchemy.types import NullType

from bot.db.repositories.memo import TwoGenerations
from bot.db.tables import ApprovalRow, RebootInstanceRow, RebootRequestRow
from bot.db.types import UtcDateTime, utc_from_stored
from bot.domain.model import (
    AgentFinding,
    Happened,
    InstanceOutcome,
    InstanceRef,
    RequestSource,
    RequestState,
    StopReason,
    Verdict,
)
from bot.domain.request import Approval, PlannedInstance, RebootRequest
from bot.services.ports import InstanceUpdate, RequestUpdate

REQUESTS = cast(Table, RebootRequestRow.__table__)
INSTANCES = cast(Table, RebootInstanceRow.__table__)
APPROVALS = cast(Table, ApprovalRow.__table__)

# (snapshot value → column value, column value → snapshot value)
Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]

# Enum lookups by value, a dict away: three per instance row, 10,000 rows a tick.
_VERDICTS = {verdict.value: verdict for verdict in Verdict}
_OUTCOMES = {outcome.value: outcome for outcome in InstanceOutcome}
_HAPPENED = {happened.value: happened for happened in Happened}
_AGENT = {finding.value: finding for finding in AgentFinding}


# An enum member's stored value (a C call: four per instance written).
_value: Callable[[Enum], Any] = operator.attrgetter("value")


def _optional_value(member: Enum | None) -> Any:
    return None if member is None else member.value


def _optional_outcome(value: str | None) -> InstanceOutcome | None:
    return None if value is None else _OUTCOMES[value]


def _optional_happened(value: str | None) -> Happened | None:
    return None if value is None else _HAPPENED[value]


def _optional_agent(value: str | None) -> AgentFinding | None:
    return None if value is None else _AGENT[value]


def _optional_stop(value: str | None) -> StopReason | None:
    return None if value is None else StopReason(value)


def rowcount(result: object) -> int:
    return cast(CursorResult[Any], result).rowcount


# --- instances ---------------------------------------------------------------------------

# The columns that name an instance of a request (with ``request_id``): InstanceRef's
# fields, in its order.
INSTANCE_KEY = tuple(f.name for f in dataclasses.fields(InstanceRef))
# Every column a snapshot is read from, in ``PlannedInstance``'s field order after the
# key (so a row's values construct one positionally: much cheaper than by name, 100
# rows a request a poll).
INSTANCE_COLUMNS: tuple[str, ...] = (
    *INSTANCE_KEY,
    *(f.name for f in dataclasses.fields(PlannedInstance) if f.name != "ref"),
)
# The columns the executor and the poller may write: all but the key and ``position``,
# fixed when the request is added. The fields of ``InstanceUpdate``.
INSTANCE_FIELDS: tuple[str, ...] = INSTANCE_COLUMNS[len(INSTANCE_KEY) + 1 :]

# Columns stored differently from the snapshot's field; the rest are stored as they are.
_INSTANCE_CODECS: Mapping[str, Codec] = {
    "verdict": (_value, _VERDICTS.__getitem__),
    "tags": (dict, dict),
    "outcome": (_value, _OUTCOMES.__getitem__),
    "reported_outcome": (_optional_value, _optional_outcome),
    "happened": (_optional_value, _optional_happened),
    "agent": (_optional_value, _optional_agent),
}
_DECODE_AT = tuple(
    (index, _INSTANCE_CODECS[name][1])
    for index, name in enumerate(INSTANCE_COLUMNS[len(INSTANCE_KEY) :])
    if name in _INSTANCE_CODECS
)
_ENCODERS = tuple(
    (name, _INSTANCE_CODECS[name][0]) for name in INSTANCE_FIELDS if name in _INSTANCE_CODECS
)
_read_fields = operator.attrgetter(*INSTANCE_FIELDS)


def instance_from_row(values: Sequence[Any]) -> PlannedInstance:
    """The snapshot from the values of :data:`INSTANCE_COLUMNS`, in that order."""
    key = len(INSTANCE_KEY)
    rest = list(values[key:])
    for index, decode in _DECODE_AT:
        rest[index] = decode(rest[index])
    return PlannedInstance(InstanceRef(*values[:key]), *rest)


# --- reading instance rows as stored, decoded once --------------------------------------
#
# The poller reads every in-flight request every tick, and most of its rows are the same
# as the tick before (10,000 rows a tick, of which a handful changed). A snapshot is a
# pure function of the row as stored, so the rows are read undecoded (text, numbers:
# hashable) and each distinct row is decoded once, then found by its stored values.
# Nothing can be stale: a row that changed is a different key.


def _raw_column(name: str) -> Any:
    column = INSTANCES.c[name]
    if isinstance(column.type, UtcDateTime | Boolean) or name in _INSTANCE_CODECS:
        if name == "tags":
            # JSON as its text on both dialects (psycopg would hand back a dict).
            return sql_cast(column, Text).label(name)
        return type_coerce(column, NullType()).label(name)
    return column


def _raw_decoder(name: str) -> Callable[[Any], Any] | None:
    column_type = INSTANCES.c[name].type
    if name == "tags":
        return _tags_from_text
    if name in _INSTANCE_CODECS:
        return _INSTANCE_CODECS[name][1]
    if isinstance(column_type, UtcDateTime):
        return utc_from_stored
    if isinstance(column_type, Boolean):
        return _bool_from_stored
    return None


def _tags_from_text(value: str | None) -> dict[str, str]:
    return dict(orjson.loads(value) or {}) if value else {}


def _bool_from_stored(value: Any) -> bool:
    return bool(value)


_RAW_DECODE_AT = tuple(
    (index, decode)
    for index, name in enumerate(INSTANCE_COLUMNS[len(INSTANCE_KEY) :])
    if (decode := _raw_decoder(name)) is not None
)


def _decode_stored(values: tuple[Any, ...]) -> PlannedInstance:
    key = len(INSTANCE_KEY)
    rest = list(values[key:])
    for index, decode in _RAW_DECODE_AT:
        rest[index] = decode(rest[index])
    return PlannedInstance(InstanceRef(*values[:key]), *rest)


# Snapshots by their stored row (the whole row is the key: docs/decisions/0011); 10,000
# instances in flight fit in one generation.
_DECODED: TwoGenerations[tuple[Any, ...], PlannedInstance] = TwoGenerations(12_000)


def instance_from_stored(values: Sequence[Any]) -> PlannedInstance:
    """The snapshot from the stored values of :data:`INSTANCE_COLUMNS` as
    :data:`SELECT_STORED_INSTANCES` reads them."""
    key = tuple(values)
    found = _DECODED.get(key)
    if found is None:
        found = _decode_stored(key)
        _DECODED.put(key, found)
    return found


def instance_values(instance: PlannedInstance) -> dict[str, Any]:
    """The :data:`INSTANCE_FIELDS` columns from a snapshot."""
    values = dict(zip(INSTANCE_FIELDS, _read_fields(instance), strict=True))
    for name, encode in _ENCODERS:
        values[name] = encode(values[name])
    return values


def instance_row(request_id: str, instance: PlannedInstance) -> dict[str, Any]:
    """Every column of a new instance row."""
    return {
        "request_id": request_id,
        "region": instance.ref.region,
        "instance_id": instance.ref.instance_id,
        "account": instance.ref.account,
        "position": instance.position,
        **instance_values(instance),
    }


def instance_update_values(update: InstanceUpdate) -> dict[str, Any]:
    """The columns an ``InstanceUpdate`` writes."""
    return _encoded(update.changes(), _INSTANCE_CODECS)


# --- requests ----------------------------------------------------------------------------

# Every column a request snapshot is read from and a new request writes, in
# ``RebootRequest``'s field order. The table also holds the poller's bookkeeping
# (``next_poll_at``, the lease, ``version``), which no snapshot carries.
REQUEST_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(RebootRequest) if f.name not in ("instances", "approvals")
)
# The columns ``set_fields`` and ``transition`` may write: the fields of ``RequestUpdate``.
REQUEST_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RequestUpdate))

_REQUEST_CODECS: Mapping[str, Codec] = {
    "state": (_value, RequestState),
    "selectors": (list, tuple),
    "stop_reason": (_optional_value, _optional_stop),
    "source": (_value, RequestSource),
}


def request_from_row(
    values: Sequence[Any],
    instances: tuple[PlannedInstance, ...],
    approvals: tuple[Approval, ...] = (),
) -> RebootRequest:
    """The snapshot from the values of :data:`REQUEST_COLUMNS`, in that order."""
    fields = dict(zip(REQUEST_COLUMNS, values, strict=True))
    fields["state"] = RequestState(fields["state"])
    fields["selectors"] = tuple(fields["selectors"] or ())
    fields["stop_reason"] = _optional_stop(fields["stop_reason"])
    fields["source"] = RequestSource(fields["source"])
    return RebootRequest(instances=instances, approvals=approvals, **fields)


def request_row(request: RebootRequest) -> dict[str, Any]:
    """Every column of a new request row."""
    values = {name: getattr(request, name) for name in REQUEST_COLUMNS}
    return {
        **_encoded(values, _REQUEST_CODECS),
        "version": 0,
        "instances_token": new_instances_token(),
    }


def new_instances_token() -> str:
    """A fresh ``instances_token``: random, so that a token a rolled-back write set is
    never set again by another (docs/decisions/0015)."""
    return secrets.token_hex(8)


def request_update_values(update: RequestUpdate) -> dict[str, Any]:
    """The columns a ``RequestUpdate`` writes."""
    return update.changes()


def _encoded(values: dict[str, Any], codecs: Mapping[str, Codec]) -> dict[str, Any]:
    for name, (encode, _decode) in codecs.items():
        if name in values:
            values[name] = encode(values[name])
    return values


# --- the reads of a snapshot, built once -------------------------------------------------

SELECT_REQUEST = select(*(REQUESTS.c[name] for name in REQUEST_COLUMNS))
SELECT_INSTANCES = select(*(INSTANCES.c[name] for name in INSTANCE_COLUMNS))
# The same columns as stored, for ``instance_from_stored``.
SELECT_STORED_INSTANCES = select(*(_raw_column(name) for name in INSTANCE_COLUMNS))

# One request and its instances, by ``:request_id``; the request's row ends with the key
# of its instances as read (``version``, ``instances_token``: docs/decisions/0015).
GET_REQUEST = SELECT_REQUEST.add_columns(REQUESTS.c.version, REQUESTS.c.instances_token).where(
    REQUESTS.c.id == bindparam("request_id")
)
GET_INSTANCES = SELECT_STORED_INSTANCES.where(
    INSTANCES.c.request_id == bindparam("request_id")
).order_by(INSTANCES.c.position)

# The approvals of requests (``:request_ids``), oldest first; ``user`` and ``at`` are
# ``Approval``'s fields.
APPROVAL_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Approval))
SELECT_APPROVALS = (
    select(APPROVALS.c.request_id, *(APPROVALS.c[name] for name in APPROVAL_COLUMNS))
    .where(APPROVALS.c.request_id.in_(bindparam("request_ids", expanding=True)))
    .order_by(APPROVALS.c.at, APPROVALS.c.id)
)
