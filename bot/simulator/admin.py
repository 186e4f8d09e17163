"""The ``/_sim/`` admin surface, for users in another process (console, benchmarks,
acceptance suites) that cannot reach ``Simulator.fleet`` / ``.faults`` / ``.calls``.

No signature is asked: this is a test fixture on loopback, not part of the ECS API.

    GET    /_sim/state       the regions, their instances (status now) and the clock
                             (``?account=prod``: that member account's)
    GET    /_sim/calls       every call recorded, each with its ``account`` and
                             ``session_name`` (``?action=RebootInstances``,
                             ``?account=prod``, ``?session_name=slack-U1`` filter)
    DELETE /_sim/calls       forget them
    GET    /_sim/faults      the faults waiting to fire
    POST   /_sim/faults      {"kind": "throttle"|"fail"|"drop_connection"|
                              "timeout_after_apply"|"latency"|"clear", "action": …, …}
    DELETE /_sim/faults      clear them
    POST   /_sim/faults      … also "hang_then_drop" {"seconds"}, "timeout_after_apply"
                              {"mode": "error"|"drop"|"slow", "seconds"?}, "in_flight"
                              {"delay", "mode"?}
    POST   /_sim/instances   {"region": …, "instance_id"?, "name"?, "status"?, "tags"?,
                              "zone"?, "locks"?, "security_lock"?, "expired"?,
                              "ram_denied"?, "never_returns"?, "cloud_assistant"?,
                              "os_type"?}
                             → 201 {"instance_id": …}; with "update": true, changes an
                             existing instance instead (the PATCH fields below)
    GET    /_sim/instances/{region}/{instance_id}
                             the instance (status, locks, agent, reboot_count …)
    PATCH  /_sim/instances/{region}/{instance_id}
                             {"status"?, "name"?, "tags"? (replaces all), "locks"?
                              (replaces all: ["security", "financial", …]),
                              "security_lock"?, "expired"?, "ram_denied"?,
                              "never_returns"?, "cloud_assistant"?, "os_type"?,
                              "start_time"? (ISO 8601 with a zone: when it last started)}
                             → 200 the instance
    GET    /_sim/reboots     {"reboots": {region: {instance_id: count}}} (instances
                             rebooted at least once; ``?region=`` narrows)
    GET    /_sim/sts         accepted role ARNs, OIDC provider ARNs, OIDC tokens (null:
                             any JWT-shaped one), max duration, issued credentials
    POST   /_sim/sts         {"role_arns"?, "oidc_provider_arns"?, "oidc_tokens"? (null:
                             any JWT-shaped), "max_duration_seconds"?} → the settings
    POST   /_sim/sts/credentials
                             {"role_arn"?, "session_name"?, "duration_seconds"?} → 201
                             {"access_key_id", "access_key_secret", "security_token",
                              "expiration"}: temporary keys without an STS call
    POST   /_sim/clock       {"advance": seconds} or {"set": ISO 8601}; only when the
                             simulator runs on a ManualClock (409 otherwise)
    GET    /_sim/accounts    {"accounts": {name: {"account_id", "role_arn", "role_exists",
                              "trusted_account_ids"}}} (member accounts)
    PATCH  /_sim/accounts/{name}
                             {"role_exists"?: bool (false deletes the role: AssumeRole
                              answers EntityNotExist.Role), "trusted_account_ids"?: [uid]
                              (the role's trust policy; [] trusts nobody: NoPermission)}

Instance routes take the account too: ``"account"`` in a POST body, ``?account=`` on
GET/PATCH ``/_sim/instances/…`` and ``/_sim/reboots``; without it, the home account.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.simulator.accounts import Account
from bot.simulator.calls import CallLog
from bot.simulator.clock import Clock, ManualClock
from bot.simulator.faults import Faults, add_from_json
from bot.simulator.fleet import Fleet, InstanceView
from bot.simulator.server import HttpRequest, Reply
from bot.simulator.sts import DEFAULT_ROLE_ARN, StsService

_ADD_FIELDS = {
    "instance_id",
    "name",
    "status",
    "tags",
    "zone",
    "security_lock",
    "expired",
    "never_returns",
    "locks",
    "ram_denied",
    "cloud_assistant",
    "os_type",
}
_UPDATE_FIELDS = {
    "status",
    "security_lock",
    "expired",
    "never_returns",
    "locks",
    "ram_denied",
    "name",
    "tags",
    "cloud_assistant",
    "os_type",
    "start_time",
}
_INSTANCE_PREFIX = "/_sim/instances/"
_ACCOUNT_PREFIX = "/_sim/accounts/"


def instance_json(view: InstanceView) -> dict[str, Any]:
    return {
        "instance_id": view.instance_id,
        "name": view.name,
        "status": view.status,
        "start_time": view.start_time.isoformat(),
        "creation_time": view.creation_time.isoformat(),
        "zone": view.zone,
        "tags": dict(view.tags),
        "lock_reasons": list(view.lock_reasons),
        "security_lock": view.security_lock,
        "expired": view.expired,
        "ram_denied": view.ram_denied,
        "never_returns": view.never_returns,
        "cloud_assistant": view.cloud_assistant,
        "os_type": view.os_type,
        "agent_online": view.agent_online,
        "last_heartbeat": view.last_heartbeat.isoformat() if view.last_heartbeat else None,
        "reboot_count": view.reboots,
    }


class AdminRoutes:
    def __init__(
        self,
        fleet: Fleet,
        calls: CallLog,
        faults: Faults,
        clock: Clock,
        describe: Callable[[], dict[str, Any]],
        sts: StsService | None = None,
        *,
        accounts: Callable[[str | None], Account] | None = None,
        members: Callable[[], dict[str, Account]] | None = None,
    ) -> None:
        self._sts = sts
        self._fleet = fleet
        self._accounts = accounts
        self._members = members or dict
        self._calls = calls
        self._faults = faults
        self._clock = clock
        self._describe = describe
        self._routes: dict[tuple[str, str], Callable[[HttpRequest], Reply]] = {
            ("GET", "/_sim/state"): self._state,
            ("GET", "/_sim/calls"): self._list_calls,
            ("DELETE", "/_sim/calls"): self._clear_calls,
            ("GET", "/_sim/faults"): self._list_faults,
            ("POST", "/_sim/faults"): self._add_fault,
            ("DELETE", "/_sim/faults"): self._clear_faults,
            ("POST", "/_sim/instances"): self._add_instance,
            ("POST", "/_sim/clock"): self._move_clock,
            ("GET", "/_sim/reboots"): self._reboots,
            ("GET", "/_sim/sts"): self._sts_settings,
            ("POST", "/_sim/sts"): self._configure_sts,
            ("POST", "/_sim/sts/credentials"): self._issue_credentials,
            ("GET", "/_sim/instances/{region}/{instance_id}"): self._get_instance,
            ("PATCH", "/_sim/instances/{region}/{instance_id}"): self._patch_instance,
            ("GET", "/_sim/accounts"): self._list_accounts,
            ("PATCH", "/_sim/accounts/{name}"): self._patch_account,
        }

    def _fleet_for(self, name: object) -> Fleet:
        """The fleet of the account named (None: home). KeyError when unknown."""
        if name is None or self._accounts is None:
            if name not in (None, "home"):
                raise KeyError(f"no account {name!r}")
            return self._fleet
        return self._accounts(str(name)).fleet

    def __call__(self, request: HttpRequest) -> Reply:
        path = request.path.rstrip("/")
        if path.startswith(_INSTANCE_PREFIX):
            path = "/_sim/instances/{region}/{instance_id}"
        elif path.startswith(_ACCOUNT_PREFIX):
            path = "/_sim/accounts/{name}"
        route = self._routes.get((request.method, path))
        if route is None:
            known = sorted(f"{method} {path}" for method, path in self._routes)
            return Reply(
                404, {"error": f"no route {request.method} {request.path}", "routes": known}
            )
        try:
            return route(request)
        except LookupError as error:
            if isinstance(error, KeyError):
                return Reply(400, {"error": str(error)})
            return Reply(409, {"error": str(error)})
        except (ValueError, TypeError) as error:
            return Reply(400, {"error": str(error)})

    def _state(self, request: HttpRequest) -> Reply:
        fleet = self._fleet_for(request.query.get("account"))
        regions = {
            region: [instance_json(view) for view in fleet.page(region, 0, fleet.count(region))]
            for region in fleet.regions
        }
        return Reply(
            200, {**self._describe(), "now": self._clock().isoformat(), "regions": regions}
        )

    def _list_calls(self, request: HttpRequest) -> Reply:
        action = request.query.get("action")
        calls = self._calls.of(action) if action else self._calls.all()
        account = request.query.get("account")
        if account:
            calls = [call for call in calls if call.account == account]
        session = request.query.get("session_name")
        if session:
            calls = [call for call in calls if call.session_name == session]
        return Reply(200, {"calls": [call.to_json() for call in calls]})

    def _clear_calls(self, request: HttpRequest) -> Reply:
        self._calls.clear()
        return Reply(200, {"calls": []})

    def _list_faults(self, request: HttpRequest) -> Reply:
        return Reply(200, self._faults.active())

    def _add_fault(self, request: HttpRequest) -> Reply:
        spec = _object(request)
        return Reply(201, add_from_json(self._faults, spec))

    def _clear_faults(self, request: HttpRequest) -> Reply:
        self._faults.clear()
        return Reply(200, self._faults.active())

    def _add_instance(self, request: HttpRequest) -> Reply:
        spec = _object(request)
        region = spec.pop("region", None)
        fleet = self._fleet_for(spec.pop("account", None))
        if not isinstance(region, str) or not region:
            raise ValueError("region (a string) is required")
        if spec.pop("update", False):
            instance_id = spec.pop("instance_id", None)
            _only(spec, _UPDATE_FIELDS)
            if not isinstance(instance_id, str):
                raise ValueError("instance_id is required with update")
            view = fleet.update(region, instance_id, **_update_values(spec))
            return Reply(200, instance_json(view))
        _only(spec, _ADD_FIELDS)
        instance_id = fleet.add_instance(region, **spec)
        return Reply(201, {"instance_id": instance_id, "region": region})

    def _instance_key(self, request: HttpRequest) -> tuple[str, str]:
        parts = request.path.rstrip("/").removeprefix(_INSTANCE_PREFIX).split("/")
        if len(parts) != 2 or not all(parts):
            raise ValueError("the path is /_sim/instances/{region}/{instance_id}")
        return parts[0], parts[1]

    def _get_instance(self, request: HttpRequest) -> Reply:
        region, instance_id = self._instance_key(request)
        view = self._fleet_for(request.query.get("account")).get(region, instance_id)
        if view is None:
            return Reply(404, {"error": f"no instance {instance_id} in {region}"})
        return Reply(200, {**instance_json(view), "region": region})

    def _patch_instance(self, request: HttpRequest) -> Reply:
        region, instance_id = self._instance_key(request)
        spec = _object(request)
        _only(spec, _UPDATE_FIELDS)
        fleet = self._fleet_for(request.query.get("account"))
        if fleet.get(region, instance_id) is None:
            return Reply(404, {"error": f"no instance {instance_id} in {region}"})
        view = fleet.update(region, instance_id, **_update_values(spec))
        return Reply(200, {**instance_json(view), "region": region})

    def _reboots(self, request: HttpRequest) -> Reply:
        only = request.query.get("region")
        fleet = self._fleet_for(request.query.get("account"))
        regions = [only] if only else list(fleet.regions)
        return Reply(200, {"reboots": {region: fleet.reboot_counts(region) for region in regions}})

    def _account_json(self, account: Account) -> dict[str, Any]:
        sts = self._sts_or_409()
        settings = sts.settings()
        trusted = settings["trust"].get(account.role_arn)
        return {
            "account_id": account.account_id,
            "role_arn": account.role_arn,
            "role_exists": account.role_arn in settings["role_arns"],
            "trusted_account_ids": trusted,
        }

    def _list_accounts(self, request: HttpRequest) -> Reply:
        members = self._members()
        return Reply(
            200, {"accounts": {name: self._account_json(a) for name, a in members.items()}}
        )

    def _patch_account(self, request: HttpRequest) -> Reply:
        name = request.path.rstrip("/").removeprefix(_ACCOUNT_PREFIX)
        account = self._members().get(name)
        if account is None:
            return Reply(404, {"error": f"no member account {name!r}"})
        sts = self._sts_or_409()
        spec = _object(request)
        _only(spec, {"role_exists", "trusted_account_ids"})
        if "role_exists" in spec:
            if not isinstance(spec["role_exists"], bool):
                raise ValueError("role_exists must be true or false")
            if spec["role_exists"]:
                sts.add_role(account.role_arn)
            else:
                sts.remove_role(account.role_arn)
        if "trusted_account_ids" in spec:
            trusted = spec["trusted_account_ids"]
            if not isinstance(trusted, list):
                raise ValueError("trusted_account_ids must be a list of account uids")
            sts.configure(trust={account.role_arn: [str(uid) for uid in trusted]})
        return Reply(200, {"name": name, **self._account_json(account)})

    def _sts_or_409(self) -> StsService:
        if self._sts is None:
            raise LookupError("this simulator serves no STS")
        return self._sts

    def _sts_settings(self, request: HttpRequest) -> Reply:
        return Reply(200, self._sts_or_409().settings())

    def _configure_sts(self, request: HttpRequest) -> Reply:
        sts = self._sts_or_409()
        spec = _object(request)
        _only(spec, {"role_arns", "oidc_provider_arns", "oidc_tokens", "max_duration_seconds"})
        tokens = spec.get("oidc_tokens")
        sts.configure(
            role_arns=spec.get("role_arns"),
            oidc_provider_arns=spec.get("oidc_provider_arns"),
            oidc_tokens=tokens,
            any_oidc_token="oidc_tokens" in spec and tokens is None,
            max_duration_seconds=spec.get("max_duration_seconds"),
        )
        return Reply(200, sts.settings())

    def _issue_credentials(self, request: HttpRequest) -> Reply:
        sts = self._sts_or_409()
        spec = _object(request)
        _only(spec, {"role_arn", "session_name", "duration_seconds"})
        credentials = sts.issue(
            str(spec.get("role_arn", DEFAULT_ROLE_ARN)),
            str(spec.get("session_name", "simulator")),
            int(spec.get("duration_seconds", 3600)),
            via="admin",
        )
        return Reply(
            201,
            {
                "access_key_id": credentials.access_key_id,
                "access_key_secret": credentials.access_key_secret,
                "security_token": credentials.security_token,
                "expiration": credentials.expiration.isoformat(),
            },
        )

    def _move_clock(self, request: HttpRequest) -> Reply:
        if not isinstance(self._clock, ManualClock):
            return Reply(409, {"error": "the simulator runs on the real clock"})
        spec = _object(request)
        if "advance" in spec:
            self._clock.advance(float(spec["advance"]))
        elif "set" in spec:
            self._clock.set(datetime.fromisoformat(str(spec["set"])))
        else:
            raise ValueError('give "advance" (seconds) or "set" (ISO 8601)')
        return Reply(200, {"now": self._clock().isoformat()})


def _object(request: HttpRequest) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _only(spec: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")


def _update_values(spec: dict[str, Any]) -> dict[str, Any]:
    """The PATCH fields as ``Fleet.update`` takes them: ``start_time`` parsed."""
    start_time = spec.get("start_time")
    if start_time is None:
        return spec
    if not isinstance(start_time, str):
        raise ValueError("start_time must be an ISO 8601 string")
    return {**spec, "start_time": datetime.fromisoformat(start_time)}
