"""Repositories: the only code that reads and writes the tables.

Every repository works inside the caller's ``Session`` and never commits: the
:class:`~bot.db.unit_of_work.UnitOfWork` decides when a change becomes durable. All of
them speak SQLAlchemy Core on the session's connection (docs/decisions/0006).

What goes in and out is always a frozen snapshot, never a row:
:class:`~bot.domain.request.RebootRequest` (with its ``PlannedInstance`` tuple, ordered
by the position the user gave), :class:`~bot.domain.policy.Binding` (or
:class:`BindingRecord` when who granted it matters) and :class:`AuditEntry`; changes go
in as :class:`~bot.services.ports.RequestUpdate` and ``InstanceUpdate``. Nothing
outside ``bot.db`` can therefore lazily load, mutate or accidentally flush a row.

Writes that decide who acts (``transition``, ``claim``, ``expire_due``, ``grant``)
are conditional statements whose result says who won, so they are race-free across
threads, processes and replicas at the default isolation level. No method reads the
clock: ``now`` is passed in.

* ``requests``: requests and their instances (``RequestRepository``)
* ``leases``: who advances which executing request (``LeaseRepository``)
* ``roles``: role bindings (``RoleRepository``)
* ``audit``: the audit trail (``AuditRepository``)
* ``alarms``: CloudMonitor alarm cards (``AlarmRepository``)
* ``events``: platform events, their cards and the watch's lease (``EventRepository``)
* ``rows``: the row shapes, one column list per table
"""

from bot.db.repositories.alarms import AlarmRepository
from bot.db.repositories.audit import AuditEntry, AuditRepository
from bot.db.repositories.events import EventRepository
from bot.db.repositories.leases import LeaseRepository
from bot.db.repositories.requests import RequestRepository
from bot.db.repositories.roles import BindingRecord, RoleRepository
from bot.db.repositories.rows import INSTANCE_FIELDS, REQUEST_FIELDS

__all__ = [
    "INSTANCE_FIELDS",
    "REQUEST_FIELDS",
    "AlarmRepository",
    "AuditEntry",
    "AuditRepository",
    "BindingRecord",
    "EventRepository",
    "LeaseRepository",
    "RequestRepository",
    "RoleRepository",
]
