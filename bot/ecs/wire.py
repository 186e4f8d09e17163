"""The ECS OpenAPI's wire format, as the client speaks it: request parameters, an HTTP
answer decoded into a body or an error code, the errors built from it (with the
catalogue's sentence and kind), the results of a real ``RebootInstances`` call, and
the retry policy with the two transport faults it tells apart (never sent, maybe
sent)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from bot.domain.ecs_values import MAX_IDS_PER_CALL, InstanceInfo, InstanceStatus, RebootResult
from bot.domain.errors import EcsError, EcsTransientError
from bot.ecs import catalogue

Params = dict[str, str]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter (seconds).

    ``max_attempts`` counts the first try. Throttling waits longer than other faults:
    ECS throttles per minute, so hammering it sooner only burns attempts.
    """

    max_attempts: int = 4
    throttling_base: float = 0.5
    error_base: float = 0.1
    cap: float = 20.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def delay(
        self,
        retry: int,
        *,
        throttled: bool,
        random: Callable[[], float],
        retry_after: float | None = None,
    ) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry).

        A positive server hint (``x-acs-retry-after``) wins over the computed backoff,
        still capped, because the server knows when its window reopens.
        """
        if retry_after is not None and retry_after > 0:
            return min(retry_after, self.cap)
        base = self.throttling_base if throttled else self.error_base
        return random() * min(self.cap, base * 2.0 ** (retry - 1))


class RequestNotSent(Exception):
    """The request never left: connecting failed. Safe to send again, even a reboot."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class RequestMaybeSent(Exception):
    """The request may have reached ECS, but no answer came back."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def transient_from_fault(
    action: str, fault: RequestNotSent | RequestMaybeSent
) -> EcsTransientError:
    return EcsTransientError(
        fault.code,
        f"{action}: {fault}",
        explanation=catalogue.explain(fault.code),
        kind=catalogue.kind_of(fault.code),
    )


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, decoded."""

    status: int
    body: dict[str, Any]
    retry_after: float | None

    @property
    def code(self) -> str | None:
        if 200 <= self.status < 300:
            return None
        return str(self.body.get("Code") or catalogue.CLIENT_UNEXPECTED_RESPONSE)

    @property
    def message(self) -> str:
        return str(self.body.get("Message") or "")

    @property
    def request_id(self) -> str | None:
        value = self.body.get("RequestId")
        return str(value) if value else None


# --- request helpers --------------------------------------------------------------------


def api_timestamp(moment: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ssZ`` in UTC, as both signature versions want it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def id_batches(ids: Sequence[str]) -> Iterator[tuple[str, ...]]:
    items = tuple(ids)
    for start in range(0, len(items), MAX_IDS_PER_CALL):
        yield items[start : start + MAX_IDS_PER_CALL]


def indexed(name: str, values: Sequence[str]) -> Params:
    """RPC lists: ``Name.1``, ``Name.2``, …"""
    return {f"{name}.{index}": value for index, value in enumerate(values, start=1)}


def flag(value: bool) -> str:
    return "true" if value else "false"


def reboot_params(region: str, ids: Sequence[str], *, force: bool, dry_run: bool) -> Params:
    return {
        "RegionId": region,
        "DryRun": flag(dry_run),
        "ForceReboot": flag(force),
        # A dry run with SuccessFirst always says DRYRUN.SUCCESS (the API page), so only
        # AllTogether gives a real verdict; the real call is per instance.
        "BatchOptimization": "AllTogether" if dry_run else "SuccessFirst",
        **indexed("InstanceId", ids),
    }


# --- answer helpers ---------------------------------------------------------------------


def decode(response: httpx.Response) -> Answer:
    retry_after = retry_after_seconds(response.headers.get("x-acs-retry-after"))
    try:
        # orjson: a 50-instance answer decodes in a third of the stdlib's time. ECS sends
        # UTF-8 JSON; anything orjson refuses is "not a JSON object" below, as before.
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        # A proxy's HTML error page or a truncated body: keep the status so that a 5xx
        # is still treated as transient.
        return Answer(
            status=response.status_code if response.status_code >= 300 else 502,
            body={
                "Code": catalogue.CLIENT_UNEXPECTED_RESPONSE,
                "Message": f"HTTP {response.status_code} with a body that is not a JSON object",
            },
            retry_after=retry_after,
        )
    return Answer(response.status_code, body, retry_after)


def retry_after_seconds(raw: str | None) -> float | None:
    # The official SDK reads x-acs-retry-after as whole milliseconds; only a positive
    # value is a usable hint.
    if not raw:
        return None
    try:
        millis = int(raw.strip())
    except ValueError:
        return None
    return millis / 1000 if millis > 0 else None


def error_from_answer(answer: Answer) -> EcsError:
    code = answer.code or catalogue.CLIENT_UNEXPECTED_RESPONSE
    meaning = catalogue.entry(code, answer.message)
    error = EcsTransientError if catalogue.is_transient(code, answer.status) else EcsError
    return error(
        code,
        answer.message,
        explanation=meaning.sentence,
        request_id=answer.request_id,
        http_status=answer.status,
        kind=meaning.kind,
    )


def list_at(body: Mapping[str, Any], outer: str, inner: str) -> list[dict[str, Any]]:
    """``body[outer][inner]`` as a list of objects; ECS wraps every list this way."""
    wrapper = body.get(outer)
    items = wrapper.get(inner) if isinstance(wrapper, dict) else None
    if not items or not isinstance(items, list):
        return []
    # JSON objects decode to dict: checking for dict rather than the Mapping ABC keeps
    # this cheap for the thousands of nested objects a poll reads.
    return [item for item in items if isinstance(item, dict)]


def parse_reboot_results(
    body: Mapping[str, Any], region: str, ids: Sequence[str]
) -> list[RebootResult]:
    request_id = str(body["RequestId"]) if body.get("RequestId") else None
    by_id: dict[str, RebootResult] = {}
    for item in list_at(body, "InstanceResponses", "InstanceResponse"):
        instance_id = str(item.get("InstanceId"))
        # Documented as a string, sampled as the number 200: compare as text.
        code = str(item.get("Code", "")).strip()
        message = str(item.get("Message") or "")
        ok = code == "200"
        by_id[instance_id] = RebootResult(
            instance_id=instance_id,
            region=region,
            ok=ok,
            code=code,
            message=message,
            explanation="" if ok else catalogue.explain(code, message),
            request_id=request_id,
            current_status=optional_str(item.get("CurrentStatus")),
            previous_status=optional_str(item.get("PreviousStatus")),
            kind=None if ok else catalogue.kind_of(code),
        )
    results: list[RebootResult] = []
    for instance_id in ids:
        result = by_id.get(instance_id)
        if result is None:
            # The call was accepted but says nothing of this instance: we cannot tell
            # whether it reboots, so say so instead of guessing.
            result = RebootResult(
                instance_id=instance_id,
                region=region,
                ok=False,
                code=catalogue.CLIENT_NO_INSTANCE_RESULT,
                message="The answer held no result for this instance.",
                explanation=catalogue.explain(catalogue.CLIENT_NO_INSTANCE_RESULT),
                request_id=request_id,
                kind=catalogue.kind_of(catalogue.CLIENT_NO_INSTANCE_RESULT),
            )
        results.append(result)
    return results


def as_int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def optional_str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


# --- instances as DescribeInstances lists them --------------------------------------


def parse_start_time(value: object) -> datetime | None:
    """``StartTime`` as an aware UTC datetime. ECS documents ``yyyy-MM-ddTHH:mmZ``; some
    answers carry seconds, so both are accepted. None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    return _start_time(value)


# An instance keeps its StartTime from poll to poll, so most lookups are hits; datetimes
# are immutable, so sharing one is safe. Bounded, and large enough for the 10,000
# instances in flight a poller is sized for: polled in the same order tick after tick, a
# fleet one larger than the cache would miss every time.
@functools.lru_cache(maxsize=16_384)
def _start_time(value: str) -> datetime | None:
    fast = _fast_start_time(value)
    if fast is not None:
        return fast
    for pattern in ("%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _fast_start_time(value: str) -> datetime | None:
    """The two documented shapes with plain digits, without ``strptime``; None sends
    anything else to the slow, strict path, which decides."""
    if len(value) == 17 and value[16] == "Z":  # yyyy-MM-ddTHH:mmZ
        second = "00"
    elif len(value) == 20 and value[19] == "Z" and value[16] == ":":  # …:ssZ
        second = value[17:19]
    else:
        return None
    if value[4] != "-" or value[7] != "-" or value[10] != "T" or value[13] != ":":
        return None
    parts = (value[0:4], value[5:7], value[8:10], value[11:13], value[14:16], second)
    if not all(part.isascii() and part.isdigit() for part in parts):
        return None
    try:
        year, month, day, hour, minute, sec = (int(part) for part in parts)
        return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)
    except ValueError:
        return None


def parse_instance(item: Mapping[str, Any], region: str) -> InstanceInfo:
    zone = item.get("ZoneId")
    return InstanceInfo(
        instance_id=str(item.get("InstanceId")),
        region=str(item.get("RegionId") or region),
        name=str(item.get("InstanceName") or ""),
        status=str(item.get("Status") or ""),
        zone=str(zone) if zone else None,
        tags=_tags(item),
        start_time=parse_start_time(item.get("StartTime")),
        operation_locks=(locks := _operation_locks(item)),
        lock_code=catalogue.lock_code(locks) if locks else None,
    )


def parse_statuses(body: Mapping[str, Any], region: str) -> list[InstanceStatus]:
    """Only what a poll reads of each entry a DescribeInstances answer lists (id, status,
    ``StartTime`` as :func:`parse_start_time` reads it): a seventh of
    :func:`parse_instance`'s cost. One loop with no call per entry, and the tuples made
    without ``InstanceStatus.__new__``'s Python frame: a poll reads 10,000 entries a
    tick, and those calls cost more than the reading."""
    new = tuple.__new__
    start_time = _start_time
    return [
        new(
            InstanceStatus,
            (
                str(item.get("InstanceId")),
                str(item.get("Status") or ""),
                start_time(text)
                if isinstance(text := item.get("StartTime"), str) and text
                else None,
            ),
        )
        for item in list_at(body, "Instances", "Instance")
    ]


def _tags(item: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(key): str(tag.get("TagValue") or "")
        for tag in list_at(item, "Tags", "Tag")
        if (key := tag.get("TagKey"))
    }


def _operation_locks(item: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(reason)
        for lock in list_at(item, "OperationLocks", "LockReason")
        if (reason := lock.get("LockReason"))
    )
