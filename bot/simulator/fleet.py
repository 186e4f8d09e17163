"""The simulated instances: pure state, no I/O, no sleeping.

A reboot only records when it started; the status (``Stopping`` → ``Starting`` →
``Running``) is derived from the clock at each read, so tests drive it with a
``ManualClock`` and benchmarks with the real one. Instances are kept per region in a
dict (lookups by id are O(1)) plus a list that fixes their order for paging.
"""

from __future__ import annotations

import random
import re
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.simulator.clock import Clock, utc_now

INSTANCE_ID_PATTERN = re.compile(r"i-[a-z0-9]{8,30}")
STATUSES = ("Pending", "Running", "Starting", "Stopping", "Stopped")

# Real ECS ids start with a region-specific prefix (i-bp1… in Hangzhou, i-uf6… in
# Shanghai); ids from other regions get a prefix derived from the region name.
_ID_PREFIXES = {
    "cn-hangzhou": "bp1",
    "cn-shanghai": "uf6",
    "cn-beijing": "2ze",
    "cn-shenzhen": "wz9",
    "cn-qingdao": "m5e",
    "cn-zhangjiakou": "8vb",
    "cn-hongkong": "j6c",
    "ap-southeast-1": "t4n",
    "us-west-1": "rj9",
    "us-east-1": "0xi",
    "eu-central-1": "gw8",
}
_ZONE_LETTERS = ("h", "i", "j", "k")
_ROLES = ("web", "api", "db", "cache", "worker")
_TEAMS = ("platform", "payments", "search")
_ALNUM = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class InstanceView:
    """One instance as seen at one moment (what ``Fleet.get`` returns)."""

    instance_id: str
    region: str
    name: str
    zone: str
    status: str
    start_time: datetime
    creation_time: datetime
    tags: Mapping[str, str]
    security_lock: bool
    expired: bool
    never_returns: bool
    instance_type: str


@dataclass
class _Instance:
    instance_id: str
    region: str
    name: str
    zone: str
    status: str
    start_time: datetime
    creation_time: datetime
    tags: dict[str, str]
    security_lock: bool
    expired: bool
    never_returns: bool
    instance_type: str = "ecs.g7.large"
    reboot_started: datetime | None = None
    reboots: int = 0


@dataclass
class _Region:
    # One generator per region, so adding a region never changes another's ids.
    random: random.Random
    instances: dict[str, _Instance] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)


class Fleet:
    """Instances per region and their state machine; thread-safe."""

    def __init__(
        self,
        regions: tuple[str, ...] | list[str] = ("cn-hangzhou",),
        *,
        clock: Clock = utc_now,
        stop_seconds: float = 2.0,
        start_seconds: float = 3.0,
        seed: int = 0,
    ) -> None:
        if stop_seconds < 0 or start_seconds < 0:
            raise ValueError("stop_seconds and start_seconds must not be negative")
        self.clock = clock
        self.stop_duration = timedelta(seconds=stop_seconds)
        self.start_duration = timedelta(seconds=start_seconds)
        self._seed = seed
        self._lock = threading.RLock()
        self._regions: dict[str, _Region] = {}
        for region in regions:
            self.add_region(region)

    # --- set-up ---------------------------------------------------------------------

    @property
    def regions(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._regions)

    def has_region(self, region: str) -> bool:
        return region in self._regions

    def add_region(self, region: str) -> None:
        with self._lock:
            if region not in self._regions:
                self._regions[region] = _Region(random.Random(f"{self._seed}/{region}"))

    def populate(self, region: str, count: int) -> list[str]:
        """Add ``count`` generated instances (names ``web-01``…, a few tags)."""
        return [self.add_instance(region) for _ in range(count)]

    def add_instance(
        self,
        region: str,
        instance_id: str | None = None,
        *,
        name: str | None = None,
        status: str = "Running",
        tags: Mapping[str, str] | None = None,
        zone: str | None = None,
        security_lock: bool = False,
        expired: bool = False,
        never_returns: bool = False,
    ) -> str:
        """Add one instance (the region is created if new) and return its id.

        Anything not given is generated from the seed, so a fleet built the same way
        twice holds the same ids, names and tags.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        with self._lock:
            self.add_region(region)
            bucket = self._regions[region]
            if instance_id is None:
                instance_id = self._new_id(region)
            elif not INSTANCE_ID_PATTERN.fullmatch(instance_id):
                raise ValueError(f"malformed instance id {instance_id!r}")
            if instance_id in bucket.instances:
                raise ValueError(f"instance {instance_id} already exists in {region}")
            number = len(bucket.order) + 1
            rnd = bucket.random
            now = self.clock()
            start_time = (now - timedelta(hours=rnd.randint(1, 2000))).replace(
                second=0, microsecond=0
            )
            creation_time = start_time - timedelta(days=rnd.randint(0, 700))
            role = _ROLES[(number - 1) // 20 % len(_ROLES)]
            default_tags = {
                "env": "prod" if rnd.random() < 0.7 else "staging",
                "team": rnd.choice(_TEAMS),
            }
            bucket.instances[instance_id] = _Instance(
                instance_id=instance_id,
                region=region,
                name=name if name is not None else f"{role}-{(number - 1) % 20 + 1:02d}",
                zone=zone if zone is not None else f"{region}-{rnd.choice(_ZONE_LETTERS)}",
                status=status,
                start_time=start_time,
                creation_time=creation_time,
                tags=dict(tags) if tags is not None else default_tags,
                security_lock=security_lock,
                expired=expired,
                never_returns=never_returns,
            )
            bucket.order.append(instance_id)
            return instance_id

    def update(
        self,
        region: str,
        instance_id: str,
        *,
        status: str | None = None,
        security_lock: bool | None = None,
        expired: bool | None = None,
        never_returns: bool | None = None,
    ) -> InstanceView:
        """Change an instance by hand (a status set here cancels a reboot in flight)."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._lock:
            instance = self._find(region, instance_id)
            if instance is None:
                raise KeyError(f"{region}/{instance_id}")
            if status is not None:
                instance.status = status
                instance.reboot_started = None
            if security_lock is not None:
                instance.security_lock = security_lock
            if expired is not None:
                instance.expired = expired
            if never_returns is not None:
                instance.never_returns = never_returns
            return self._view(instance, self.clock())

    # --- reads ----------------------------------------------------------------------

    def ids(self, region: str) -> list[str]:
        with self._lock:
            bucket = self._regions.get(region)
            return list(bucket.order) if bucket else []

    def count(self, region: str) -> int:
        with self._lock:
            bucket = self._regions.get(region)
            return len(bucket.order) if bucket else 0

    def get(self, region: str, instance_id: str) -> InstanceView | None:
        """The instance as it is now, or None when the region does not hold it."""
        with self._lock:
            instance = self._find(region, instance_id)
            return None if instance is None else self._view(instance, self.clock())

    def get_many(self, region: str, instance_ids: list[str]) -> list[InstanceView | None]:
        """Several lookups under one lock and one clock reading."""
        with self._lock:
            now = self.clock()
            result: list[InstanceView | None] = []
            for instance_id in instance_ids:
                instance = self._find(region, instance_id)
                result.append(None if instance is None else self._view(instance, now))
            return result

    def page(self, region: str, offset: int, limit: int) -> list[InstanceView]:
        """Instances ``offset`` … ``offset + limit - 1`` in the order they were added."""
        with self._lock:
            bucket = self._regions.get(region)
            if bucket is None:
                return []
            now = self.clock()
            return [
                self._view(bucket.instances[i], now) for i in bucket.order[offset : offset + limit]
            ]

    def reboot_count(self, region: str, instance_id: str) -> int:
        """How many reboots were applied to the instance (tests use it to spot doubles)."""
        with self._lock:
            instance = self._find(region, instance_id)
            return 0 if instance is None else instance.reboots

    # --- the reboot -----------------------------------------------------------------

    def reboot(self, region: str, instance_ids: list[str]) -> list[tuple[str, str, str]]:
        """Start rebooting each instance; ``(id, previous, current)`` status per id.

        The caller has checked that each one exists and is ``Running``.
        """
        with self._lock:
            now = self.clock()
            result = []
            for instance_id in instance_ids:
                instance = self._find(region, instance_id)
                if instance is None:
                    raise KeyError(f"{region}/{instance_id}")
                previous = self._status(instance, now)
                instance.reboot_started = now
                instance.reboots += 1
                result.append((instance_id, previous, self._status(instance, now)))
            return result

    # --- internals ------------------------------------------------------------------

    def _find(self, region: str, instance_id: str) -> _Instance | None:
        bucket = self._regions.get(region)
        return None if bucket is None else bucket.instances.get(instance_id)

    def _status(self, instance: _Instance, now: datetime) -> str:
        started = instance.reboot_started
        if started is None:
            return instance.status
        elapsed = now - started
        if elapsed < self.stop_duration:
            return "Stopping"
        if instance.never_returns or elapsed < self.stop_duration + self.start_duration:
            return "Starting"
        # Back up: settle the reboot so later reads need no arithmetic.
        instance.status = "Running"
        instance.start_time = started + self.stop_duration + self.start_duration
        instance.reboot_started = None
        return "Running"

    def _view(self, instance: _Instance, now: datetime) -> InstanceView:
        status = self._status(instance, now)
        return InstanceView(
            instance_id=instance.instance_id,
            region=instance.region,
            name=instance.name,
            zone=instance.zone,
            status=status,
            start_time=instance.start_time,
            creation_time=instance.creation_time,
            tags=dict(instance.tags),
            security_lock=instance.security_lock,
            expired=instance.expired,
            never_returns=instance.never_returns,
            instance_type=instance.instance_type,
        )

    def _new_id(self, region: str) -> str:
        prefix = _ID_PREFIXES.get(region) or _derived_prefix(region)
        bucket = self._regions[region]
        while True:
            candidate = "i-" + prefix + "".join(bucket.random.choices(_ALNUM, k=17))
            if candidate not in bucket.instances:
                return candidate


def _derived_prefix(region: str) -> str:
    rnd = random.Random(region)
    return "".join(rnd.choices(_ALNUM, k=3))
