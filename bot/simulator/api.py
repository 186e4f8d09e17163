"""The ECS actions (``RebootInstances``, ``DescribeInstances``, ``DescribeInstanceStatus``;
``DescribeCloudAssistantStatus`` lives in ``assistant.py``), as
``docs/ECS-API.md`` and ``ecs-notes.md`` describe them: parameters in, a
JSON body out, an ``ApiError`` for every refusal.

No HTTP here: the server has already checked the signature; this module sees only the
action name and the flat RPC parameters (``InstanceId.1``, ``DryRun=true``, …).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.simulator.errors import ApiError, invalid_parameter, missing_parameter
from bot.simulator.fleet import INSTANCE_ID_PATTERN, Fleet, InstanceView

API_VERSION = "2014-05-26"
MAX_IDS = 100
MAX_TAGS = 20
# "If you use tags to filter resources, the number of resources with these tags cannot
# exceed 1,000" (the SDK's DescribeInstances notes). What the API does beyond that is
# not documented; this simulator answers the first 1,000 matches (TotalCount 1000, no
# NextToken after them).
TAG_FILTER_LIMIT = 1000
FORBIDDEN_RAM_MESSAGE = (
    "User not authorized to operate on the specified resource, or this API doesn't support RAM."
)
_INDEXED_ID = re.compile(r"InstanceId\.(\d+)")
_TAG_PARAM = re.compile(r"Tag\.(\d+)\.(Key|Value)")
_MINUTE = "%Y-%m-%dT%H:%MZ"

Params = Mapping[str, str]
Body = dict[str, Any]


def dry_run_success() -> ApiError:
    return ApiError(
        400, "DRYRUN.SUCCESS", "This request is a dryrun request with successful result."
    )


def indexed_instance_ids(params: Params) -> list[str]:
    """``InstanceId.1`` … ``InstanceId.N`` in index order, duplicates dropped."""
    indexed = []
    for name, value in params.items():
        match = _INDEXED_ID.fullmatch(name)
        if match:
            indexed.append((int(match.group(1)), value))
    return list(dict.fromkeys(value for _, value in sorted(indexed)))


def json_instance_ids(params: Params) -> list[str] | None:
    """The ``InstanceIds`` JSON array of DescribeInstances; None when absent."""
    raw = params.get("InstanceIds")
    if raw is None or raw == "":
        return None
    try:
        decoded = json.loads(raw)
    except ValueError:
        raise invalid_parameter("InstanceIds", "It must be a JSON array of strings.") from None
    if not isinstance(decoded, list) or not all(isinstance(item, str) for item in decoded):
        raise invalid_parameter("InstanceIds", "It must be a JSON array of strings.")
    return list(dict.fromkeys(decoded))


def summarize(action: str, params: Params) -> tuple[tuple[str, ...], bool]:
    """The instance ids a call names and whether it is a DryRun, for the call log.

    Never raises: a malformed call is still recorded.
    """
    if action == "DescribeInstances":
        try:
            ids = json_instance_ids(params) or []
        except ApiError:
            ids = []
    else:
        ids = indexed_instance_ids(params)
    return tuple(ids), params.get("DryRun", "").lower() == "true"


class EcsApi:
    """Dispatch an action to its handler. ``call`` returns the body without RequestId."""

    def __init__(self, fleet: Fleet) -> None:
        from bot.simulator.assistant import describe_cloud_assistant_status

        self.fleet = fleet
        self._actions: dict[str, Callable[[str, Params], Body]] = {
            "RebootInstances": self._reboot_instances,
            "DescribeInstances": self._describe_instances,
            "DescribeInstanceStatus": self._describe_instance_status,
            "DescribeCloudAssistantStatus": functools.partial(
                describe_cloud_assistant_status, fleet
            ),
        }

    def add_actions(self, actions: Mapping[str, Callable[[str, Params], Body]]) -> None:
        """Serve more actions (``events.py``'s), each given the region and the params."""
        self._actions.update(actions)

    def call(self, action: str, params: Params, *, reboot_delay: float = 0.0) -> Body:
        """Answer one call. ``reboot_delay`` > 0 holds a reboot "in flight" that long."""
        handler = self._actions.get(action)
        if handler is None:
            raise ApiError(
                404,
                "InvalidAction.NotFound",
                f"Specified api {action!r} is not found, please check your url and method.",
            )
        region = self._region(params)
        if action == "RebootInstances":
            return self._reboot_instances(region, params, delay=reboot_delay)
        return handler(region, params)

    def respond(self, action: str, params: Params, request_id: str) -> tuple[int, Body]:
        """``call`` as an HTTP status and a complete JSON body (errors included)."""
        try:
            body = self.call(action, params)
        except ApiError as error:
            return error.status, error.body(request_id, "ecs.aliyuncs.com")
        return 200, {"RequestId": request_id, **body}

    def _region(self, params: Params) -> str:
        region = params.get("RegionId")
        if not region:
            raise missing_parameter("RegionId")
        if not self.fleet.has_region(region):
            raise ApiError(
                404, "InvalidRegionId.NotFound", "The specified RegionId does not exist."
            )
        return region

    # --- RebootInstances ------------------------------------------------------------

    def _reboot_instances(self, region: str, params: Params, *, delay: float = 0.0) -> Body:
        ids = indexed_instance_ids(params)
        if not ids:
            raise ApiError(403, "InvalidInstanceId.NotFound", "InstanceId should not be null.")
        if len(ids) > MAX_IDS:
            raise ApiError(
                403, "InvalidParameter.TooManyInstanceIds", "Instance ids cannot be more than 100."
            )
        if not all(INSTANCE_ID_PATTERN.fullmatch(i) for i in ids):
            raise ApiError(
                403, "Abs.InvalidInstanceIds.MalFormed", "The specified instanceIds is not valid."
            )
        dry_run = _boolean(params, "DryRun")
        _boolean(params, "ForceReboot")  # validated; a force reboot plays out the same here
        mode = params.get("BatchOptimization") or "AllTogether"
        if mode not in ("AllTogether", "SuccessFirst"):
            raise invalid_parameter("BatchOptimization", "Valid values: AllTogether, SuccessFirst.")

        views = self.fleet.get_many(region, ids)
        refusals = [
            _refusal(view, instance_id) for instance_id, view in zip(ids, views, strict=True)
        ]

        if mode == "SuccessFirst":
            if dry_run:
                # The real API answers DRYRUN.SUCCESS here whatever the checks found.
                raise dry_run_success()
            ok = [i for i, refusal in zip(ids, refusals, strict=True) if refusal is None]
            applied = {
                i: (prev, cur) for i, prev, cur in self.fleet.reboot(region, ok, delay=delay)
            }
            responses = []
            for instance_id, view, refusal in zip(ids, views, refusals, strict=True):
                if refusal is None:
                    previous, current = applied[instance_id]
                    responses.append(
                        _instance_response(instance_id, "200", "success", previous, current)
                    )
                else:
                    status = view.status if view is not None else None
                    responses.append(
                        _instance_response(
                            instance_id, refusal.code, refusal.message, status, status
                        )
                    )
            return {"InstanceResponses": {"InstanceResponse": responses}}

        first_refusal = next((r for r in refusals if r is not None), None)
        if first_refusal is not None:
            raise first_refusal
        if dry_run:
            raise dry_run_success()
        responses = [
            _instance_response(instance_id, "200", "success", previous, current)
            for instance_id, previous, current in self.fleet.reboot(region, ids, delay=delay)
        ]
        return {"InstanceResponses": {"InstanceResponse": responses}}

    # --- DescribeInstances ----------------------------------------------------------

    def _describe_instances(self, region: str, params: Params) -> Body:
        """Filters ``InstanceIds``, ``Tag.N.Key``/``Tag.N.Value`` and ``InstanceName``
        (``*`` wildcard) hold together (AND); paging by ``MaxResults`` + ``NextToken``
        (or the older ``PageSize`` + ``PageNumber``). A tag filter yields at most the
        first ``TAG_FILTER_LIMIT`` (1,000) matches, and ``TotalCount`` says 1,000 then.
        """
        ids = json_instance_ids(params)
        if ids is not None and len(ids) > MAX_IDS:
            raise invalid_parameter("InstanceIds", "It can hold at most 100 instance ids.")
        tags = tag_filters(params)
        name = params.get("InstanceName") or None
        paged_by_number = "MaxResults" not in params and (
            "PageNumber" in params or "PageSize" in params
        )
        if paged_by_number:
            page_size = integer_param(params, "PageSize", default=10, low=1, high=100)
            offset = (
                integer_param(params, "PageNumber", default=1, low=1, high=10**9) - 1
            ) * page_size
        else:
            page_size = integer_param(params, "MaxResults", default=10, low=1, high=100)
            offset = decode_token(params.get("NextToken") or "")

        if ids is None and not tags and name is None:
            total = self.fleet.count(region)
            views = self.fleet.page(region, offset, page_size)
        else:
            matched = self.fleet.find(region, instance_ids=ids, tags=tags, name=name)
            if tags:
                matched = matched[:TAG_FILTER_LIMIT]
            total = len(matched)
            views = [
                v
                for v in self.fleet.get_many(region, matched[offset : offset + page_size])
                if v is not None
            ]

        next_offset = offset + len(views)
        body: Body = {
            "Instances": {"Instance": [_instance_json(view) for view in views]},
            "TotalCount": total,
            "NextToken": encode_token(next_offset) if next_offset < total else "",
        }
        if paged_by_number:
            body["PageNumber"] = offset // page_size + 1
            body["PageSize"] = page_size
        return body

    # --- DescribeInstanceStatus -----------------------------------------------------

    def _describe_instance_status(self, region: str, params: Params) -> Body:
        ids = indexed_instance_ids(params)
        if len(ids) > MAX_IDS:
            raise invalid_parameter("InstanceId", "It can hold at most 100 instance ids.")
        page_size = integer_param(params, "PageSize", default=10, low=1, high=50)
        page_number = integer_param(params, "PageNumber", default=1, low=1, high=10**9)
        offset = (page_number - 1) * page_size
        if ids:
            found = [v for v in self.fleet.get_many(region, ids) if v is not None]
            total = len(found)
            views = found[offset : offset + page_size]
        else:
            total = self.fleet.count(region)
            views = self.fleet.page(region, offset, page_size)
        return {
            "InstanceStatuses": {
                "InstanceStatus": [
                    {"InstanceId": view.instance_id, "Status": view.status} for view in views
                ]
            },
            "TotalCount": total,
            "PageNumber": page_number,
            "PageSize": page_size,
        }


# --- helpers ----------------------------------------------------------------------------


def _refusal(view: InstanceView | None, instance_id: str) -> ApiError | None:
    """Why this instance cannot be rebooted now, or None when it can."""
    if view is None:
        return ApiError(
            404,
            "InvalidInstanceId.NotFound",
            f"The specified InstanceId {instance_id} does not exist.",
        )
    if view.ram_denied:
        return ApiError(403, "Forbidden.RAM", FORBIDDEN_RAM_MESSAGE)
    lock = _lock_refusal(view, instance_id)
    if lock is not None:
        return lock
    if view.status != "Running":
        return ApiError(
            403,
            "IncorrectInstanceStatus",
            f"The current status of instance {instance_id} ({view.status}) does not support "
            "this operation.",
        )
    return None


def _lock_refusal(view: InstanceView, instance_id: str) -> ApiError | None:
    """The refusal for a locked instance; ``security`` first, then money, then the rest.

    The page documents two lock codes. ``security`` → ``InstanceLockedForSecurity``;
    ``financial`` (arrears) and ``dedicatedhostfinancial`` (the dedicated host in arrears)
    → ``InstanceExpiredOrInArrears``; ``recycling`` (an expired subscription in the
    recycle bin) → ``InstanceExpiredOrInArrears`` too, the closest documented code for an
    expired instance; ``refunded`` (a refunded subscription waiting to be released) →
    ``IncorrectInstanceStatus``, as the instance is no longer in a state that can reboot.
    """
    reasons = view.lock_reasons
    if not reasons:
        return None
    if "security" in reasons:
        return ApiError(
            403,
            "InstanceLockedForSecurity",
            f"The instance {instance_id} is locked for security reasons.",
        )
    if any(r in reasons for r in ("financial", "dedicatedhostfinancial", "recycling")):
        return ApiError(
            403,
            "InstanceExpiredOrInArrears",
            f"The instance {instance_id} has expired or your account is in arrears.",
        )
    return ApiError(
        403,
        "IncorrectInstanceStatus",
        f"The instance {instance_id} is locked ({', '.join(reasons)}) and does not support "
        "this operation.",
    )


def tag_filters(params: Params) -> list[tuple[str, str | None]]:
    """``Tag.N.Key`` / ``Tag.N.Value`` (N = 1..20) as ``(key, value or None)`` pairs."""
    keys: dict[int, str] = {}
    values: dict[int, str] = {}
    for name, value in params.items():
        match = _TAG_PARAM.fullmatch(name)
        if match is None:
            continue
        number = int(match.group(1))
        if not 1 <= number <= MAX_TAGS:
            raise invalid_parameter(f"Tag.{number}.{match.group(2)}", "N must be from 1 to 20.")
        (keys if match.group(2) == "Key" else values)[number] = value
    for number in values:
        if not keys.get(number):
            raise invalid_parameter(f"Tag.{number}.Key", "A tag value needs its key.")
    return [(keys[n], values.get(n) or None) for n in sorted(keys) if keys[n]]


def _instance_response(
    instance_id: str, code: str, message: str, previous: str | None, current: str | None
) -> Body:
    response: Body = {"Code": code, "Message": message, "InstanceId": instance_id}
    # An unknown instance has no status; the field is left out, as ECS leaves out nulls.
    if current is not None:
        response["CurrentStatus"] = current
    if previous is not None:
        response["PreviousStatus"] = previous
    return response


def _instance_json(view: InstanceView) -> Body:
    locks = [{"LockReason": reason} for reason in view.lock_reasons]
    return {
        "InstanceId": view.instance_id,
        "InstanceName": view.name,
        "HostName": view.name,
        "Status": view.status,
        "StartTime": _minute(view.start_time),
        "CreationTime": _minute(view.creation_time),
        "RegionId": view.region,
        "ZoneId": view.zone,
        "InstanceType": view.instance_type,
        "InstanceChargeType": "PostPaid",
        "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in view.tags.items()]},
        "OperationLocks": {"LockReason": locks},
    }


@functools.lru_cache(maxsize=4096)
def _minute(moment: datetime) -> str:
    """``yyyy-MM-ddTHH:mmZ``, as documented; cached, as strftime dominated big pages."""
    return moment.strftime(_MINUTE)


def iso_second(moment: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ssZ`` (UTC), as ECS writes heartbeat and expiry times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _boolean(params: Params, name: str) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return False
    lowered = raw.lower()  # the SDK sends True/False, curl users true/false
    if lowered not in ("true", "false"):
        raise invalid_parameter(name, "Valid values: true, false.")
    return lowered == "true"


def integer_param(params: Params, name: str, *, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_parameter(name, f"It must be an integer from {low} to {high}.") from None
    if not low <= value <= high:
        raise invalid_parameter(name, f"It must be an integer from {low} to {high}.")
    return value


# NextToken is opaque to clients; here it is the offset of the next page, base64-wrapped
# so that nobody is tempted to compute it.
def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sim:{offset}".encode()).decode("ascii")


def decode_token(token: str) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        raise invalid_parameter("NextToken") from None
    prefix, _, number = text.partition(":")
    if prefix != "sim" or not number.isdigit():
        raise invalid_parameter("NextToken")
    return int(number)
