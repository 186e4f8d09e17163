"""The in-memory stores (requests and leases, roles, audit trail, alarm cards), each
reading and writing one unit of work's copy of the tables (:mod:`bot.testing.memory_rows`).

Their promises are the ones the SQL repositories keep, held to the same tests
(``tests/integration/store/``, run on this fake, SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.db.repositories import AuditEntry, BindingRecord
from bot.domain.alarms import AlarmCard, CardState
from bot.domain.model import InstanceOutcome, RequestState
from bot.domain.policy import Binding
from bot.domain.request import Approval, PlannedInstance, RebootRequest, may_follow
from bot.services.ports import Lease, RequestUpdate
from bot.testing.memory_rows import StoredRequest, _key, _Rows, _Tables


def _claimable(stored: StoredRequest, owner: str, now: datetime) -> bool:
    """The claim conditions of ``LeaseRepository``: running (or scheduled, at its
    reminder and start, §5.10), free or ours or expired, and due."""
    return (
        (stored.request.state.is_running or stored.request.state is RequestState.SCHEDULED)
        and (
            stored.lease_owner is None
            or stored.lease_owner == owner
            or (stored.lease_expires_at is not None and stored.lease_expires_at <= now)
        )
        and (stored.next_poll_at is None or stored.next_poll_at <= now)
    )


class MemoryRequestStore:
    """``RequestStore`` and ``LeaseStore`` on one unit of work's copy of the tables."""

    def __init__(self, rows: _Rows) -> None:
        self._rows = rows
        self._tables = rows.tables

    # RequestStore

    def add(self, request: RebootRequest) -> None:
        if self._rows.request_for_write(request.id) is not None:
            raise ValueError(f"request {request.id} exists already")
        # Stored as read back: the instances in the order the user gave them.
        instances = tuple(sorted(request.instances, key=lambda i: i.position))
        self._put(StoredRequest(_with_instances(request, instances)))

    def get(self, request_id: str) -> RebootRequest | None:
        stored = self._tables.requests.get(request_id)
        return None if stored is None else stored.request

    def transition(
        self,
        request_id: str,
        from_states: RequestState | Collection[RequestState],
        to_state: RequestState,
        changes: RequestUpdate | None = None,
        *,
        lease: Lease | None = None,
        unstopped: bool = False,
    ) -> bool:
        sources = [from_states] if isinstance(from_states, RequestState) else list(from_states)
        if not sources:
            raise ValueError("transition needs at least one state to move from")
        for source in sources:
            if not may_follow(source, to_state):
                raise ValueError(f"a request cannot move from {source} to {to_state}")
        stored = self._rows.request_for_write(request_id)
        if stored is None or stored.request.state not in sources:
            return False
        if unstopped and stored.request.stop_reason is not None:
            return False
        stored = self._updated(stored, changes or RequestUpdate())
        request = dataclasses.replace(stored.request, state=to_state)
        if lease is not None:
            stored = dataclasses.replace(
                stored, lease_owner=lease.owner, lease_expires_at=lease.expires_at
            )
        if to_state.is_final:
            request = dataclasses.replace(request, message_redraw_due=True)
            stored = dataclasses.replace(
                stored, lease_owner=None, lease_expires_at=None, next_poll_at=None
            )
        self._put(dataclasses.replace(stored, request=request))
        return True

    def set_fields(
        self,
        request_id: str,
        changes: RequestUpdate,
        *,
        owner: str | None = None,
        while_in: RequestState | None = None,
    ) -> bool:
        stored = self._held(request_id, owner)
        if stored is None or (while_in is not None and stored.request.state is not while_in):
            return False
        self._put(self._updated(stored, changes))
        return True

    def save_instances(
        self, request_id: str, instances: Sequence[PlannedInstance], *, owner: str | None = None
    ) -> bool:
        stored = self._held(request_id, owner)
        if stored is None:
            return False
        saved = {instance.ref: instance for instance in instances}
        current = stored.request.instances
        merged = tuple(
            dataclasses.replace(saved[i.ref], position=i.position) if i.ref in saved else i
            for i in current
        )
        self._put(dataclasses.replace(stored, request=_with_instances(stored.request, merged)))
        return set(saved) <= {i.ref for i in current}

    def skip_pending(self, request_id: str) -> None:
        stored = self._rows.request_for_write(request_id)
        if stored is None:
            return
        instances = tuple(
            dataclasses.replace(i, outcome=InstanceOutcome.SKIPPED)
            if i.outcome is InstanceOutcome.PENDING and i.reboot_sent_at is None
            else i
            for i in stored.request.instances
        )
        self._put(dataclasses.replace(stored, request=_with_instances(stored.request, instances)))

    def list_recent(
        self,
        limit: int = 20,
        *,
        state: RequestState | None = None,
        user: str | None = None,
        since: datetime | None = None,
    ) -> list[RebootRequest]:
        requests = [
            r
            for r in (stored.request for stored in self._tables.requests.values())
            if (state is None or r.state is state)
            and (user is None or r.requester == user)
            and (since is None or r.created_at >= since)
        ]
        requests.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return requests[:limit]

    def expire_due(self, now: datetime) -> list[str]:
        expired = []
        for request_id in self._rows.request_ids():
            # As the UPDATE: find the rows that match, then lock each and check again.
            found = self._rows.latest_request(request_id)
            if found is None or not found.request.is_expired(now):
                continue
            stored = self._rows.request_for_write(request_id)
            if stored is None or not stored.request.is_expired(now):
                continue
            request = dataclasses.replace(
                stored.request,
                state=RequestState.EXPIRED,
                finished_at=now,
                message_redraw_due=True,
            )
            self._put(dataclasses.replace(stored, request=request))
            expired.append(request_id)
        return sorted(expired)

    def add_approval(self, request_id: str, user: str, at: datetime) -> bool | None:
        # Locking the row first counts concurrent approvals one after the other.
        stored = self._rows.request_for_write(request_id)
        if stored is None or stored.request.state is not RequestState.AWAITING_APPROVAL:
            return None
        if any(approval.user == user for approval in stored.request.approvals):
            return False
        approvals = (*stored.request.approvals, Approval(user, at))
        self._put(
            dataclasses.replace(
                stored, request=dataclasses.replace(stored.request, approvals=approvals)
            )
        )
        return True

    def claim_retry(self, request_id: str, retry_id: str) -> bool:
        stored = self._rows.request_for_write(request_id)
        if stored is None or stored.request.retried_by_request is not None:
            return False
        request = dataclasses.replace(stored.request, retried_by_request=retry_id)
        self._put(dataclasses.replace(stored, request=request))
        return True

    def release_retry(self, request_id: str, retry_id: str) -> None:
        stored = self._rows.request_for_write(request_id)
        if stored is not None and stored.request.retried_by_request == retry_id:
            request = dataclasses.replace(stored.request, retried_by_request=None)
            self._put(dataclasses.replace(stored, request=request))

    def redraw_due(
        self, finished_before: datetime, finished_after: datetime, limit: int = 20
    ) -> list[str]:
        return self._due("message_redraw_due", finished_before, finished_after, limit)

    def notify_end_due(
        self, finished_before: datetime, finished_after: datetime, limit: int = 20
    ) -> list[str]:
        return self._due("notify_end_due", finished_before, finished_after, limit)

    # LeaseStore

    def peek_due(self, owner: str, now: datetime, limit: int) -> list[str]:
        candidates = [
            stored
            for stored in map(self._rows.latest_request, self._rows.request_ids())
            if stored is not None and _claimable(stored, owner, now)
        ]
        # Most overdue first; never-polled requests before all (as the real claim).
        candidates.sort(
            key=lambda s: (
                s.next_poll_at is not None,
                s.next_poll_at or now,
                s.request.created_at,
                s.request.id,
            )
        )
        return [stored.request.id for stored in candidates[:limit]]

    def claim(self, request_id: str, owner: str, now: datetime, lease_seconds: float) -> bool:
        # SKIP LOCKED: a row another unit is writing is passed over, not waited for.
        stored = self._rows.request_for_write(request_id, wait=False)
        if stored is None or not _claimable(stored, owner, now):
            return False
        expires = now + timedelta(seconds=lease_seconds)
        self._put(dataclasses.replace(stored, lease_owner=owner, lease_expires_at=expires))
        return True

    def renew_lease(self, request_id: str, owner: str, now: datetime, lease_seconds: float) -> bool:
        stored = self._held(request_id, owner)
        if stored is None:
            return False
        expires = now + timedelta(seconds=lease_seconds)
        self._put(dataclasses.replace(stored, lease_expires_at=expires))
        return True

    def release(self, request_id: str, owner: str, *, next_poll_at: datetime | None = None) -> bool:
        stored = self._held(request_id, owner)
        if stored is None:
            return False
        stored = dataclasses.replace(stored, lease_owner=None, lease_expires_at=None)
        if next_poll_at is not None:
            stored = dataclasses.replace(stored, next_poll_at=next_poll_at)
        self._put(stored)
        return True

    # helpers

    def _held(self, request_id: str, owner: str | None) -> StoredRequest | None:
        """The row locked for a write, when it exists and (with ``owner``) that owner
        holds its lease."""
        stored = self._rows.request_for_write(request_id)
        if stored is None or (owner is not None and stored.lease_owner != owner):
            return None
        return stored

    @staticmethod
    def _updated(stored: StoredRequest, changes: RequestUpdate) -> StoredRequest:
        next_poll_at = changes.changes().get("next_poll_at", stored.next_poll_at)
        return dataclasses.replace(
            stored, request=changes.applied_to(stored.request), next_poll_at=next_poll_at
        )

    def _put(self, stored: StoredRequest) -> None:
        stored = dataclasses.replace(stored, version=stored.version + 1)
        self._tables.requests[stored.request.id] = stored
        self._rows.changes.requests[stored.request.id] = None

    def _due(
        self, flag: str, finished_before: datetime, finished_after: datetime, limit: int
    ) -> list[str]:
        due = [
            r
            for r in (stored.request for stored in self._tables.requests.values())
            if getattr(r, flag)
            and r.finished_at is not None
            and finished_after <= r.finished_at <= finished_before
        ]
        due.sort(key=lambda r: (r.finished_at, r.id))
        return [r.id for r in due[:limit]]


def _with_instances(
    request: RebootRequest, instances: tuple[PlannedInstance, ...]
) -> RebootRequest:
    return dataclasses.replace(request, instances=instances)


class MemoryRoleStore:
    """``RoleStore`` on one unit of work's copy of the tables."""

    def __init__(self, rows: _Rows) -> None:
        self._rows = rows
        self._tables = rows.tables

    def grant(self, binding: Binding, *, by: str, now: datetime) -> bool:
        if binding.tag_value and not binding.tag_key:
            raise ValueError("a tag value needs a tag key")
        key = _key(binding)
        # Locked as the unique index locks it: of concurrent grants, one inserts.
        if self._rows.binding_for_write(key) is not None:
            return False
        self._tables.bindings[key] = BindingRecord(binding, created_by=by, created_at=now)
        self._rows.changes.bindings[key] = None
        return True

    def revoke(self, binding: Binding) -> bool:
        key = _key(binding)
        if self._rows.binding_for_write(key) is None:
            return False
        del self._tables.bindings[key]
        self._rows.changes.bindings[key] = None
        return True

    def bindings_with_groups(self, user_id: str) -> list[Binding]:
        return [
            record.binding
            for record in self._tables.bindings.values()
            if record.binding.subject == user_id or record.binding.subject.startswith("S")
        ]

    def list_all(self) -> list[Binding]:
        return [record.binding for record in self.list_records()]

    def list_records(self) -> list[BindingRecord]:
        return [self._tables.bindings[key] for key in sorted(self._tables.bindings)]


class MemoryAuditLog:
    """``AuditLog`` on one unit of work's copy of the tables."""

    def __init__(self, tables: _Tables) -> None:
        self._tables = tables

    def append(
        self,
        at: datetime,
        actor: str,
        action: str,
        request_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        entry = AuditEntry(
            id=len(self._tables.audit) + 1,
            at=at,
            actor=actor,
            action=action,
            request_id=request_id,
            detail=dict(detail or {}),
        )
        self._tables.audit.append(entry)

    def list(self, request_id: str | None = None, limit: int = 100) -> builtins.list[AuditEntry]:
        entries = [e for e in self._tables.audit if request_id in (None, e.request_id)]
        return entries[-limit:]


class MemoryAlarmStore:
    """``AlarmStore`` on one unit of work's copy of the tables. Its writes lock their rows
    (a card, a delivery, a rule and instance's open slot), so concurrent units decide on
    them as they are now, as the SQL store's ``ON CONFLICT`` and ``UPDATE … WHERE`` do."""

    def __init__(self, rows: _Rows) -> None:
        self._rows = rows
        self._tables = rows.tables
        self._changes = rows.changes

    def first_delivery(self, trans_id: str, *, now: datetime) -> bool:
        if self._rows.delivered_for_write(trans_id):
            return False
        self._tables.deliveries[trans_id] = None
        self._changes.deliveries.add(trans_id)
        return True

    def link_delivery(self, trans_id: str, card_id: str) -> None:
        if self._rows.delivered_for_write(trans_id):
            self._tables.deliveries[trans_id] = card_id
            self._changes.deliveries.add(trans_id)

    def open_card(self, rule: str, instance_id: str) -> AlarmCard | None:
        found = self._rows.open_card_now(rule, instance_id)
        if found is None:
            return None
        # Locked and read again, as PostgreSQL's SELECT … FOR UPDATE does: a repeat waits
        # for the unit counting the last one, and finds nothing if that one closed it.
        card = self._rows.card_for_write(found.id)
        return card if card is not None and card.state is CardState.OPEN else None

    def get(self, card_id: str) -> AlarmCard | None:
        return self._rows.latest_card(card_id)

    def add(self, card: AlarmCard) -> bool:
        if card.state is CardState.OPEN:
            self._rows.lock_open_slot(card.rule, card.instance_id)
            if self._rows.open_card_now(card.rule, card.instance_id) is not None:
                return False
        if self._rows.card_for_write(card.id) is not None:
            raise ValueError(f"alarm card {card.id} exists already")
        self._write(card)
        return True

    def save(self, card: AlarmCard) -> bool:
        stored = self._rows.card_for_write(card.id)
        if stored is None:
            return False
        if CardState.OPEN in (stored.state, card.state):
            self._rows.lock_open_slot(card.rule, card.instance_id)
        self._write(card)
        return True

    def claim_post(self, card_id: str) -> bool:
        card = self._rows.card_for_write(card_id)
        if card is None or card.message_ts is not None:
            return False
        self._write(dataclasses.replace(card, message_ts=""))
        return True

    def release_post(self, card_id: str) -> None:
        card = self._rows.card_for_write(card_id)
        if card is not None and card.message_ts == "":
            self._write(dataclasses.replace(card, message_ts=None))

    def set_shown(
        self,
        card_id: str,
        *,
        message_ts: str | None = None,
        instance_name: str | None = None,
        instance_status: str | None = None,
    ) -> None:
        card = self._rows.card_for_write(card_id)
        if card is None:
            return
        self._write(
            dataclasses.replace(
                card,
                message_ts=message_ts or card.message_ts,
                instance_name=instance_name or card.instance_name,
                instance_status=instance_status or card.instance_status,
            )
        )

    def _write(self, card: AlarmCard) -> None:
        """``card`` over its row, which this unit has locked."""
        self._tables.alarm_cards[card.id] = card
        self._changes.alarm_cards.add(card.id)
