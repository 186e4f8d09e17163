"""The simulated instances: pure state, no I/O, no sleeping.

A reboot only records when it started; the status (``Stopping`` → ``Starting`` →
``Running``) is derived from the clock at each read, so tests drive it with a
``ManualClock`` and benchmarks with the real one. Instances are kept per region in a
dict (lookups by id are O(1)) plus a list that fixes their order for paging, and two
tag indexes (``(key, value)`` → ids, ``key`` → ids) so that a tag filter over 10,000
instances touches only the matching ones.

Per instance, beyond status, name, zone and tags: its operation locks (``LOCK_REASONS``),
whether RAM denies reboots of it (``ram_denied``), and its Cloud Assistant agent: installed
or not (about 10 % are not, by seed), offline from the moment a reboot starts until
``agent_seconds`` after the instance is ``Running`` again; while online its last
heartbeat is "now". An instance that never comes back never heartbeats again.

Why one file of about 550 lines: the instance table, its two tag indexes and the state
derived from the clock change together; every method keeps the indexes in step.
"""

from __future__ import annotations

import random
import re
import string
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.simulator.clock import Clock, utc_now

INSTANCE_ID_PATTERN = re.compile(r"i-[a-z0-9]{8,30}")
STATUSES = ("Pending", "Running", "Starting", "Stopping", "Stopped")
# ``OperationLocks.LockReason[].LockReason`` values DescribeInstances documents.
LOCK_REASONS = ("financial", "security", "recycling", "dedicatedhostfinancial", "refunded")
OS_TYPES = ("Linux", "Windows")
AGENT_VERSIONS = {"Linux": "2.2.3.857", "Windows": "2.1.3.857"}

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
_Random = random.Random  # _Region's field "random" shadows the module in its body


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
    lock_reasons: tuple[str, ...]
    never_returns: bool
    instance_type: str
    ram_denied: bool = False
    cloud_assistant: bool = True  # the agent is installed
    os_type: str = "Linux"
    agent_online: bool = False  # CloudAssistantStatus "true"
    last_heartbeat: datetime | None = None
    reboots: int = 0

    @property
    def security_lock(self) -> bool:
        return "security" in self.lock_reasons

    @property
    def expired(self) -> bool:
        """In arrears: the ``financial`` lock."""
        return "financial" in self.lock_reasons

    @property
    def agent_version(self) -> str:
        return AGENT_VERSIONS.get(self.os_type, "") if self.cloud_assistant else ""


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
    locks: list[str]
    never_returns: bool
    instance_type: str = "ecs.g7.large"
    ram_denied: bool = False
    cloud_assistant: bool = True
    os_type: str = "Linux"
    last_heartbeat: datetime | None = None
    agent_back: datetime | None = None  # the agent is offline until then
    reboot_started: datetime | None = None
    reboots: int = 0


@dataclass
class _Region:
    # One generator per region, so adding a region never changes another's ids.
    random: random.Random
    # A second generator for traits added later (agent, OS), so ids stay as they were.
    traits: _Random
    instances: dict[str, _Instance] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    position: dict[str, int] = field(default_factory=dict)
    by_tag: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    by_key: dict[str, set[str]] = field(default_factory=dict)

    def index(self, instance_id: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.by_tag.setdefault((key, value), set()).add(instance_id)
            self.by_key.setdefault(key, set()).add(instance_id)

    def unindex(self, instance_id: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.by_tag.get((key, value), set()).discard(instance_id)
            self.by_key.get(key, set()).discard(instance_id)


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
        agent_seconds: float = 2.0,
        namespace: str = "",
    ) -> None:
        """``namespace`` (an account name) seeds a fleet of its own: another account's
        fleet with the same seed and regions holds different ids."""
        if stop_seconds < 0 or start_seconds < 0 or agent_seconds < 0:
            raise ValueError("stop_seconds, start_seconds and agent_seconds must not be negative")
        self.clock = clock
        self.stop_duration = timedelta(seconds=stop_seconds)
        self.start_duration = timedelta(seconds=start_seconds)
        # How long the Cloud Assistant agent takes to report again once Running.
        self.agent_duration = timedelta(seconds=agent_seconds)
        # The home fleet keeps the plain seed, so its ids stay what they always were.
        self._seed = f"{seed}/{namespace}" if namespace else str(seed)
        self._lock = threading.RLock()
        self._regions: dict[str, _Region] = {}
        # Told of every reboot through the API: (region, ids, moment of the call).
        self.reboot_listeners: list[Callable[[str, list[str], datetime], None]] = []
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
                self._regions[region] = _Region(
                    random.Random(f"{self._seed}/{region}"),
                    random.Random(f"{self._seed}/{region}/traits"),
                )

    def populate(self, region: str, count: int) -> list[str]:
        """Add ``count`` generated instances.

        Names go ``web-01`` … ``web-20``, ``api-01`` … (20 per role, roles ``web``, ``api``,
        ``db``, ``cache``, ``worker``); tags ``app`` (= the role), ``env`` and ``team``;
        zones round-robin over ``{region}-h``, ``-i``, ``-j``, ``-k``.
        """
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
        locks: Iterable[str] = (),
        ram_denied: bool = False,
        cloud_assistant: bool | None = None,
        os_type: str | None = None,
    ) -> str:
        """Add one instance (the region is created if new) and return its id.

        Anything not given is generated from the seed, so a fleet built the same way
        twice holds the same ids, names and tags. ``locks`` are lock reasons
        (``LOCK_REASONS``); ``security_lock`` adds ``security``, ``expired`` adds
        ``financial``. ``cloud_assistant`` None: about 90 % get the agent, by seed.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        reasons = _lock_list(locks, security_lock, expired)
        if os_type is not None and os_type not in OS_TYPES:
            raise ValueError(f"unknown os_type {os_type!r}; one of {', '.join(OS_TYPES)}")
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
                "app": role,
                "env": "prod" if rnd.random() < 0.7 else "staging",
                "team": rnd.choice(_TEAMS),
            }
            rnd.choice(_ZONE_LETTERS)  # drawn as before, so later ids stay the same
            default_zone = f"{region}-{_ZONE_LETTERS[(number - 1) % len(_ZONE_LETTERS)]}"
            traits = bucket.traits
            has_agent = traits.random() >= 0.1
            default_os = "Windows" if traits.random() < 0.15 else "Linux"
            chosen_tags = dict(tags) if tags is not None else default_tags
            bucket.instances[instance_id] = _Instance(
                instance_id=instance_id,
                region=region,
                name=name if name is not None else f"{role}-{(number - 1) % 20 + 1:02d}",
                zone=zone if zone is not None else default_zone,
                status=status,
                start_time=start_time,
                creation_time=creation_time,
                tags=chosen_tags,
                locks=reasons,
                never_returns=never_returns,
                ram_denied=ram_denied,
                cloud_assistant=has_agent if cloud_assistant is None else cloud_assistant,
                os_type=os_type or default_os,
                last_heartbeat=start_time + self.agent_duration,
            )
            bucket.position[instance_id] = len(bucket.order)
            bucket.order.append(instance_id)
            bucket.index(instance_id, chosen_tags)
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
        locks: Iterable[str] | None = None,
        ram_denied: bool | None = None,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        cloud_assistant: bool | None = None,
        os_type: str | None = None,
        start_time: datetime | None = None,
    ) -> InstanceView:
        """Change an instance by hand (a status set here cancels a reboot in flight).

        ``locks`` replaces the lock reasons; then ``security_lock`` / ``expired`` add or
        remove ``security`` / ``financial``. ``tags`` replaces all tags. ``start_time``
        says when it last started (an aware datetime; e.g. moments ago).
        """
        if start_time is not None and start_time.tzinfo is None:
            raise ValueError("start_time must be timezone-aware")
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if os_type is not None and os_type not in OS_TYPES:
            raise ValueError(f"unknown os_type {os_type!r}; one of {', '.join(OS_TYPES)}")
        new_locks = None if locks is None else _lock_list(locks, False, False)
        with self._lock:
            instance = self._find(region, instance_id)
            if instance is None:
                raise KeyError(f"{region}/{instance_id}")
            if status is not None:
                instance.status = status
                instance.reboot_started = None
            if new_locks is not None:
                instance.locks = new_locks
            for flag, reason in ((security_lock, "security"), (expired, "financial")):
                if flag is True and reason not in instance.locks:
                    instance.locks.append(reason)
                elif flag is False and reason in instance.locks:
                    instance.locks.remove(reason)
            if never_returns is not None:
                instance.never_returns = never_returns
            if ram_denied is not None:
                instance.ram_denied = ram_denied
            if name is not None:
                instance.name = name
            if tags is not None:
                bucket = self._regions[region]
                bucket.unindex(instance_id, instance.tags)
                instance.tags = {str(k): str(v) for k, v in tags.items()}
                bucket.index(instance_id, instance.tags)
            if cloud_assistant is not None:
                instance.cloud_assistant = cloud_assistant
            if os_type is not None:
                instance.os_type = os_type
            if start_time is not None:
                instance.start_time = start_time
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

    def reboot_counts(self, region: str) -> dict[str, int]:
        """Every instance of the region rebooted at least once → how many times."""
        with self._lock:
            bucket = self._regions.get(region)
            if bucket is None:
                return {}
            return {
                i: bucket.instances[i].reboots for i in bucket.order if bucket.instances[i].reboots
            }

    def find(
        self,
        region: str,
        *,
        instance_ids: list[str] | None = None,
        tags: Iterable[tuple[str, str | None]] = (),
        name: str | None = None,
    ) -> list[str]:
        """Ids of the instances that pass every filter (AND), in fleet order.

        ``instance_ids``: only these (kept in the given order; unknown ones dropped).
        ``tags``: ``(key, value)`` pairs that must all hold; a ``None`` value matches any
        value of the key. ``name``: the instance name, ``*`` matching any run of
        characters (no ``*``: the exact name).
        """
        with self._lock:
            bucket = self._regions.get(region)
            if bucket is None:
                return []
            candidates: set[str] | None = None
            for key, value in sorted(tags, key=lambda tag: tag[1] is None):
                ids = bucket.by_key.get(key) if value is None else bucket.by_tag.get((key, value))
                ids = ids or set()
                candidates = set(ids) if candidates is None else candidates & ids
                if not candidates:
                    return []
            if instance_ids is not None:
                ordered = [
                    i
                    for i in dict.fromkeys(instance_ids)
                    if i in bucket.instances and (candidates is None or i in candidates)
                ]
            elif candidates is not None:
                ordered = sorted(candidates, key=bucket.position.__getitem__)
            else:
                ordered = list(bucket.order)
            if name is not None:
                matches = name_matcher(name)
                ordered = [i for i in ordered if matches(bucket.instances[i].name)]
            return ordered

    # --- the reboot -----------------------------------------------------------------

    def reboot(
        self,
        region: str,
        instance_ids: list[str],
        *,
        delay: float = 0.0,
        at: datetime | None = None,
        platform: bool = False,
    ) -> list[tuple[str, str, str]]:
        """Start rebooting each instance; ``(id, previous, current)`` status per id.

        The caller has checked that each one exists and is ``Running``. With ``delay``
        the reboot is "still in flight": the instance stays ``Running`` for ``delay``
        seconds and only then starts stopping (the count goes up at once).

        ``platform``: the platform's own maintenance reboot (``events.py``), started at
        ``at`` (its ``NotBefore``, possibly past): not counted in ``reboots`` (the
        API's reboots) and not told to ``reboot_listeners``, which hear of every API
        reboot (after the fleet's lock is released) to avoid the instance's events.
        """
        if delay < 0:
            raise ValueError("delay must not be negative")
        with self._lock:
            now = self.clock()
            start = (at if at is not None else now) + timedelta(seconds=delay)
            result = []
            for instance_id in instance_ids:
                instance = self._find(region, instance_id)
                if instance is None:
                    raise KeyError(f"{region}/{instance_id}")
                previous = self._status(instance, now)
                self._agent(instance, now, previous)  # a last heartbeat before going down
                instance.reboot_started = start
                instance.agent_back = None
                if not platform:
                    instance.reboots += 1
                result.append((instance_id, previous, self._status(instance, now)))
        if not platform:
            for listener in list(self.reboot_listeners):
                listener(region, list(instance_ids), now)
        return result

    # --- internals ------------------------------------------------------------------

    def _find(self, region: str, instance_id: str) -> _Instance | None:
        bucket = self._regions.get(region)
        return None if bucket is None else bucket.instances.get(instance_id)

    def _status(self, instance: _Instance, now: datetime) -> str:
        started = instance.reboot_started
        if started is None or started > now:  # none, or one still in flight
            return instance.status
        elapsed = now - started
        if elapsed < self.stop_duration:
            return "Stopping"
        if instance.never_returns or elapsed < self.stop_duration + self.start_duration:
            return "Starting"
        # Back up: settle the reboot so later reads need no arithmetic.
        instance.status = "Running"
        instance.start_time = started + self.stop_duration + self.start_duration
        instance.agent_back = instance.start_time + self.agent_duration
        instance.reboot_started = None
        return "Running"

    def _agent(
        self, instance: _Instance, now: datetime, status: str
    ) -> tuple[bool, datetime | None]:
        """(online, last heartbeat) of the instance's Cloud Assistant agent."""
        if not instance.cloud_assistant:
            return False, None
        back = instance.agent_back
        if status != "Running" or (back is not None and now < back):
            return False, instance.last_heartbeat
        heartbeat = now.replace(microsecond=0)
        instance.last_heartbeat = heartbeat
        return True, heartbeat

    def _view(self, instance: _Instance, now: datetime) -> InstanceView:
        status = self._status(instance, now)
        online, heartbeat = self._agent(instance, now, status)
        return InstanceView(
            instance_id=instance.instance_id,
            region=instance.region,
            name=instance.name,
            zone=instance.zone,
            status=status,
            start_time=instance.start_time,
            creation_time=instance.creation_time,
            tags=dict(instance.tags),
            lock_reasons=tuple(instance.locks),
            never_returns=instance.never_returns,
            instance_type=instance.instance_type,
            ram_denied=instance.ram_denied,
            cloud_assistant=instance.cloud_assistant,
            os_type=instance.os_type,
            agent_online=online,
            last_heartbeat=heartbeat,
            reboots=instance.reboots,
        )

    def _new_id(self, region: str) -> str:
        prefix = _ID_PREFIXES.get(region) or _derived_prefix(region)
        bucket = self._regions[region]
        while True:
            candidate = "i-" + prefix + "".join(bucket.random.choices(_ALNUM, k=17))
            if candidate not in bucket.instances:
                return candidate


def name_matcher(pattern: str) -> Callable[[str], bool]:
    """A test for ``InstanceName``: ``*`` is a wildcard, everything else is literal."""
    if "*" not in pattern:
        return pattern.__eq__
    regex = re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)
    return lambda name: regex.fullmatch(name) is not None


def _lock_list(locks: Iterable[str], security: bool, expired: bool) -> list[str]:
    if isinstance(locks, str):
        raise ValueError("locks must be a list of lock reasons")
    reasons = list(dict.fromkeys(locks))
    unknown = [reason for reason in reasons if reason not in LOCK_REASONS]
    if unknown:
        raise ValueError(f"unknown lock reasons {unknown}; known: {', '.join(LOCK_REASONS)}")
    for flag, reason in ((security, "security"), (expired, "financial")):
        if flag and reason not in reasons:
            reasons.append(reason)
    return reasons


def _derived_prefix(region: str) -> str:
    rnd = random.Random(region)
    return "".join(rnd.choices(_ALNUM, k=3))
