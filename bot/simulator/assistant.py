"""``DescribeCloudAssistantStatus``: is the Cloud Assistant agent on each instance up?

Parameters as the API page and the official SDK's request model give them: ``RegionId``,
``InstanceId.N`` (at most 50), ``OSType`` (``Windows``, ``Linux``, ``FreeBSD``), and
paging by ``MaxResults`` (1..50, default 10) + ``NextToken``, or the older ``PageSize``
(1..50) + ``PageNumber``. With ``InstanceId.N`` given, paging does not apply: every named
instance the region holds is answered at once (unknown ids are left out).

Per instance: ``InstanceId``, ``CloudAssistantStatus`` (``"true"`` while the agent
heartbeats), ``CloudAssistantVersion``, ``OSType``, ``LastHeartbeatTime`` (ISO 8601, UTC;
absent for an instance without the agent), ``ActiveTaskCount``, ``InvocationCount``,
``SupportSessionManager``. The agent model is ``fleet.py``'s.
"""

from __future__ import annotations

from bot.simulator.api import (
    Body,
    Params,
    decode_token,
    encode_token,
    indexed_instance_ids,
    integer_param,
    iso_second,
)
from bot.simulator.errors import invalid_parameter
from bot.simulator.fleet import Fleet, InstanceView

MAX_IDS = 50
OS_TYPES = ("Windows", "Linux", "FreeBSD")


def describe_cloud_assistant_status(fleet: Fleet, region: str, params: Params) -> Body:
    ids = indexed_instance_ids(params)
    if len(ids) > MAX_IDS:
        raise invalid_parameter("InstanceId", f"It can hold at most {MAX_IDS} instance ids.")
    os_type = params.get("OSType") or None
    if os_type is not None:
        known = {name.lower(): name for name in OS_TYPES}
        if os_type.lower() not in known:
            raise invalid_parameter("OSType", f"Valid values: {', '.join(OS_TYPES)}.")
        os_type = known[os_type.lower()]
    paged_by_number = "MaxResults" not in params and (
        "PageNumber" in params or "PageSize" in params
    )
    if paged_by_number:
        page_size = integer_param(params, "PageSize", default=10, low=1, high=50)
        page_number = integer_param(params, "PageNumber", default=1, low=1, high=10**9)
        offset = (page_number - 1) * page_size
    else:
        page_size = integer_param(params, "MaxResults", default=10, low=1, high=50)
        offset = decode_token(params.get("NextToken") or "")

    matched = fleet.find(region, instance_ids=ids or None)
    if os_type is not None:
        matched = [v.instance_id for v in _views(fleet, region, matched) if v.os_type == os_type]
    if ids:  # paging does not apply to a list of ids
        offset, page_size = 0, max(len(matched), 1)
    total = len(matched)
    views = _views(fleet, region, matched[offset : offset + page_size])
    next_offset = offset + len(views)
    return {
        "InstanceCloudAssistantStatusSet": {
            "InstanceCloudAssistantStatus": [_status_json(view) for view in views]
        },
        "TotalCount": total,
        "PageNumber": offset // page_size + 1,
        "PageSize": page_size,
        "NextToken": encode_token(next_offset) if next_offset < total else "",
    }


def _views(fleet: Fleet, region: str, ids: list[str]) -> list[InstanceView]:
    return [view for view in fleet.get_many(region, ids) if view is not None]


def _status_json(view: InstanceView) -> Body:
    status: Body = {
        "InstanceId": view.instance_id,
        "CloudAssistantStatus": "true" if view.agent_online else "false",
        "OSType": view.os_type,
        "ActiveTaskCount": 0,
        "InvocationCount": 0,
        "SupportSessionManager": view.cloud_assistant,
    }
    if view.cloud_assistant:
        status["CloudAssistantVersion"] = view.agent_version
    if view.last_heartbeat is not None:
        status["LastHeartbeatTime"] = iso_second(view.last_heartbeat)
    return status
