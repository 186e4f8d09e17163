"""``Simulator``: the fleet, the ECS API, STS, the signature checks and the faults behind
one HTTP server on loopback. This is the simulator's composition root."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any

from bot.simulator.accounts import (
    HOME,
    HOME_ACCOUNT_ID,
    Account,
    account_id_of_arn,
    member_account_id,
    parse_account_names,
)
from bot.simulator.admin import AdminRoutes
from bot.simulator.api import API_VERSION, EcsApi, summarize
from bot.simulator.auth import Authenticator, Caller
from bot.simulator.calls import Call, CallLog
from bot.simulator.clock import Clock, utc_now
from bot.simulator.errors import ApiError, missing_parameter
from bot.simulator.events import SystemEvents, event_json
from bot.simulator.events_admin import EventAdminRoutes
from bot.simulator.faults import Faults
from bot.simulator.fleet import Fleet
from bot.simulator.server import HttpRequest, Reply, SimulatorHTTPServer
from bot.simulator.sts import DEFAULT_OIDC_PROVIDER_ARN, DEFAULT_ROLE_ARN, STS_VERSION, StsService

DEFAULT_ACCESS_KEY_ID = "LTAI5tEcsSimulator000001"
# A published test key pair: the simulator guards nothing, and the console, the
# benchmarks and the acceptance suites need to know it in advance.
DEFAULT_ACCESS_KEY_SECRET = "EcsSimulatorSecretNotForProduction"  # noqa: S105


class Simulator:
    """An ECS OpenAPI endpoint on loopback that plays a fleet of instances.

    Use it as a context manager (``with Simulator() as sim: client(sim.endpoint)``),
    or ``start()`` / ``stop()``. Tests drive time with a ``ManualClock`` passed as
    ``clock``; note that request timestamps are checked against that clock too.
    """

    def __init__(
        self,
        regions: Iterable[str] = ("cn-hangzhou",),
        instances_per_region: int = 10,
        seed: int = 0,
        clock: Clock | None = None,
        access_key_id: str = DEFAULT_ACCESS_KEY_ID,
        access_key_secret: str = DEFAULT_ACCESS_KEY_SECRET,
        security_token: str | None = None,
        stop_seconds: float = 2.0,
        start_seconds: float = 3.0,
        agent_seconds: float = 2.0,
        sts_role_arns: Iterable[str] = (DEFAULT_ROLE_ARN,),
        oidc_provider_arns: Iterable[str] = (DEFAULT_OIDC_PROVIDER_ARN,),
        oidc_tokens: Iterable[str] | None = None,
        sts_max_duration_seconds: int = 3600,
        accounts: Iterable[str] = (),
    ) -> None:
        """``agent_seconds``: how long after a reboot's ``Running`` the Cloud Assistant
        agent reports again. STS: ``sts_role_arns`` may be assumed, through
        ``oidc_provider_arns`` with OIDC; ``oidc_tokens`` None accepts any JWT-shaped token,
        a list accepts only those; DurationSeconds up to ``sts_max_duration_seconds``.
        ``accounts``: member account names (``accounts.py``), each with
        ``instances_per_region`` instances in every region and a role trusting home."""
        self.clock: Clock = clock if clock is not None else utc_now
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.security_token = security_token
        self.fleet = Fleet(
            tuple(regions),
            clock=self.clock,
            stop_seconds=stop_seconds,
            start_seconds=start_seconds,
            seed=seed,
            agent_seconds=agent_seconds,
        )
        for region in self.fleet.regions:
            self.fleet.populate(region, instances_per_region)
        self.faults = Faults()
        self.calls = CallLog()
        self.api = EcsApi(self.fleet)
        self.home = Account(HOME, HOME_ACCOUNT_ID, self.fleet, self.api)
        self.members: dict[str, Account] = {}
        for name in parse_account_names(tuple(accounts)):
            fleet = Fleet(
                tuple(regions),
                clock=self.clock,
                stop_seconds=stop_seconds,
                start_seconds=start_seconds,
                seed=seed,
                agent_seconds=agent_seconds,
                namespace=name,
            )
            for region in fleet.regions:
                fleet.populate(region, instances_per_region)
            self.members[name] = Account(name, member_account_id(name), fleet, EcsApi(fleet))
        self._by_uid = {a.account_id: a for a in (self.home, *self.members.values())}
        # The platform's system events (events.py), per account: three more actions, a
        # state machine driven by the same clock, and their own admin routes.
        self.events = SystemEvents(self.fleet, self.clock, seed=seed)
        self.api.add_actions(self.events.actions())
        self.member_events: dict[str, SystemEvents] = {}
        for name, member in self.members.items():
            member_events = SystemEvents(member.fleet, self.clock, seed=f"{seed}/{name}")
            member.api.add_actions(member_events.actions())
            self.member_events[name] = member_events
        self.event_admin = EventAdminRoutes({HOME: self.events, **self.member_events}, self.clock)
        self.sts = StsService(
            self.clock,
            role_arns=(*sts_role_arns, *(m.role_arn for m in self.members.values())),
            oidc_provider_arns=oidc_provider_arns,
            oidc_tokens=oidc_tokens,
            max_duration_seconds=sts_max_duration_seconds,
            trust={m.role_arn: [HOME_ACCOUNT_ID] for m in self.members.values()},
        )
        self.auth = Authenticator(
            {access_key_id: access_key_secret}, self.clock, security_token, self.sts.lookup
        )
        # Instances made special by mark_special (the CLI's --locked etc.).
        self.special: dict[str, list[str]] = {}
        self.admin = AdminRoutes(
            self.fleet,
            self.calls,
            self.faults,
            self.clock,
            self.describe,
            self.sts,
            accounts=self.account,
            members=lambda: dict(self.members),
        )
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; returns the endpoint ``http://HOST:PORT``."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        server = SimulatorHTTPServer((host, port), self.handle_rpc, self._admin)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"ecs-simulator:{server.server_address[1]}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self.endpoint

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Simulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """``http://HOST:PORT`` (what ``ECSBOT_ECS_ENDPOINT`` should be set to)."""
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host = str(self._server.server_address[0])
        return f"http://{host}:{self.port}"

    @property
    def address(self) -> str:
        """``HOST:PORT``, the form the official SDK's ``Config(endpoint=…)`` wants."""
        return self.endpoint.removeprefix("http://")

    def account(self, name: str | None = None) -> Account:
        """The account named (None or ``home``: the simulator's own); KeyError when
        unknown."""
        if name is None or name == HOME:
            return self.home
        found = self.members.get(name)
        if found is None:
            known = ", ".join([HOME, *self.members])
            raise KeyError(f"no account {name!r} (known: {known})")
        return found

    def fleet_of(self, account: str | None = None) -> Fleet:
        """The instances of one account (None: home, the same as ``fleet``)."""
        return self.account(account).fleet

    def role_arn(self, account: str) -> str:
        """The role the bot assumes in member ``account``."""
        return self.account(account).role_arn

    def describe(self) -> dict[str, Any]:
        """What a client needs to connect: endpoint, key pair and instance ids (and, once
        ``mark_special`` ran, ``special``: {"locked", "in_arrears", "ram_denied"}; with
        member accounts, ``accounts``: name → {"account_id", "role_arn", "instances"};
        ``instances`` itself is the home account's)."""
        info: dict[str, Any] = {
            "endpoint": self.endpoint if self._server is not None else None,
            "access_key_id": self.access_key_id,
            "access_key_secret": self.access_key_secret,
            "instances": {region: self.fleet.ids(region) for region in self.fleet.regions},
        }
        if self.special:
            info["special"] = {kind: list(ids) for kind, ids in self.special.items()}
        events = self.events.all()
        if events:
            info["events"] = [event_json(view) for view in events]
        if self.members:
            info["home_account_id"] = self.home.account_id
            info["accounts"] = {
                name: {
                    "account_id": member.account_id,
                    "role_arn": member.role_arn,
                    "instances": {
                        region: member.fleet.ids(region) for region in member.fleet.regions
                    },
                }
                for name, member in self.members.items()
            }
        return info

    def schedule_events(
        self,
        count: int,
        *,
        in_seconds: float = 86400.0,
        event_type: str = "SystemMaintenance.Reboot",
        region: str | None = None,
    ) -> list[str]:
        """Schedule ``event_type`` on the first ``count`` instances of ``region``
        (default the first), ``in_seconds`` from now; returns the event ids."""
        target = region or self.fleet.regions[0]
        ids = self.fleet.ids(target)
        if count > len(ids):
            raise ValueError(f"{count} events asked for, {target} holds {len(ids)} instances")
        when = self.clock() + timedelta(seconds=in_seconds)
        try:
            return self.events.create(target, ids[:count], event_type, when)
        except ApiError as error:
            raise ValueError(error.message) from None

    def mark_special(
        self,
        *,
        locked: int = 0,
        in_arrears: int = 0,
        ram_denied: int = 0,
        region: str | None = None,
        account: str | None = None,
    ) -> dict[str, list[str]]:
        """Lock ``locked`` instances for security, put ``in_arrears`` in arrears (the
        ``financial`` lock) and RAM-deny ``ram_denied``: distinct instances of ``region``
        (default the first) of ``account`` (default home), taken in fleet order, in that
        order. Returns (and keeps in ``special``) ``{"locked": [...], "in_arrears": [...],
        "ram_denied": [...]}``."""
        fleet = self.fleet_of(account)
        counts = {"locked": locked, "in_arrears": in_arrears, "ram_denied": ram_denied}
        if any(n < 0 for n in counts.values()):
            raise ValueError("counts must not be negative")
        target = region or fleet.regions[0]
        ids = fleet.ids(target)
        if sum(counts.values()) > len(ids):
            raise ValueError(
                f"{sum(counts.values())} special instances asked for, {target} holds {len(ids)}"
            )
        chosen: dict[str, list[str]] = {}
        start = 0
        for kind, count in counts.items():
            chosen[kind] = ids[start : start + count]
            start += count
        for instance_id in chosen["locked"]:
            fleet.update(target, instance_id, security_lock=True)
        for instance_id in chosen["in_arrears"]:
            fleet.update(target, instance_id, expired=True)
        for instance_id in chosen["ram_denied"]:
            fleet.update(target, instance_id, ram_denied=True)
        self.special = chosen
        return chosen

    def events_of_instance(self, region: str, instance_id: str) -> SystemEvents:
        """The system events of the account holding the instance (home if none does:
        creating the event then refuses the unknown instance as the API would)."""
        for name, member_events in self.member_events.items():
            if self.members[name].fleet.get(region, instance_id) is not None:
                return member_events
        return self.events

    def settle_events(self) -> None:
        """Play what the platform has done by now, in every account."""
        self.events.settle()
        for member_events in self.member_events.values():
            member_events.settle()

    def _admin(self, request: HttpRequest) -> Reply:
        """``/_sim/``: what the platform has done by now is played first, so the
        instances and events read there are as an API call would see them."""
        self.settle_events()
        if self.event_admin.handles(request.path):
            return self.event_admin(request)
        return self.admin(request)

    # --- one ECS API request ------------------------------------------------------------

    def handle_rpc(self, request: HttpRequest) -> Reply:
        """Check, (maybe) fault, apply and record one RPC call."""
        request_id = str(uuid.uuid4()).upper()
        params = {**request.query, **request.form()}
        headers = request.headers
        is_v3 = "authorization" in headers or (
            "x-acs-action" in headers and "Signature" not in params
        )
        if is_v3:
            action = headers.get("x-acs-action") or params.get("Action", "")
            version = headers.get("x-acs-version") or params.get("Version", "")
        else:
            action = params.get("Action", "")
            version = params.get("Version", "")
        ids, dry_run = summarize(action, params)
        caller: Caller | None = None
        applied = False
        reply_headers = {"x-acs-request-id": request_id}

        def dropped() -> Reply:
            self._record(
                action, params, caller, dry_run, ids, 0, "ConnectionDropped", request_id, applied
            )
            return Reply(0, drop=True)

        try:
            if request.path != "/":
                raise ApiError(404, "InvalidAction.NotFound", "RPC calls are served on / only.")
            if not action:
                raise missing_parameter("Action")
            # AssumeRoleWithOIDC is anonymous, as the real STS: the OIDC token is the proof.
            if not (version == STS_VERSION and action == "AssumeRoleWithOIDC"):
                caller = self._authenticate(request, params, is_v3)
            if not version:
                raise missing_parameter("Version")
            if version not in (API_VERSION, STS_VERSION):
                raise ApiError(400, "InvalidVersion", "Specified parameter Version is not valid.")
            plan = self.faults.for_call(action)
            if plan.latency:
                time.sleep(plan.latency)  # injected latency: a real wait, in this thread only
            fault = plan.fault
            kind = fault.kind if fault is not None else None
            if kind == "drop_connection":
                return dropped()
            if fault is not None and kind == "hang_then_drop":
                time.sleep(fault.seconds)
                return dropped()
            if fault is not None and kind in ("throttle", "fail"):
                if fault.retry_after_ms:
                    reply_headers["x-acs-retry-after"] = str(fault.retry_after_ms)
                raise ApiError(fault.status, fault.code, fault.message)
            in_flight = fault is not None and kind == "in_flight" and action == "RebootInstances"
            delay = fault.delay if fault is not None and in_flight else 0.0
            acting = self._acting_account(caller)
            if version == STS_VERSION:
                body = self.sts.call(action, params, acting.account_id if caller else None)
            else:  # raises before changing anything
                self.settle_events()  # the platform's reboots due by now happen first
                body = acting.api.call(action, params, reboot_delay=delay)
            applied = _applied(body)
            if fault is not None and in_flight:
                if fault.mode == "drop":
                    return dropped()
                raise ApiError(fault.status, fault.code, fault.message)
            if fault is not None and kind == "timeout_after_apply":
                if fault.seconds:
                    time.sleep(fault.seconds)
                if fault.mode == "drop":
                    return dropped()
                if fault.mode == "error":
                    raise ApiError(fault.status, fault.code, fault.message)
                # "slow": the real answer, late
        except ApiError as error:
            self._record(
                action, params, caller, dry_run, ids, error.status, error.code, request_id, applied
            )
            default_host = "sts.aliyuncs.com" if version == STS_VERSION else "ecs.aliyuncs.com"
            host_id = headers.get("host", default_host)
            return Reply(error.status, error.body(request_id, host_id), reply_headers)
        self._record(action, params, caller, dry_run, ids, 200, None, request_id, applied)
        return Reply(200, {"RequestId": request_id, **body}, reply_headers)

    def _authenticate(self, request: HttpRequest, params: dict[str, str], is_v3: bool) -> Caller:
        if is_v3:
            return self.auth.verify_v3(
                request.method, request.path, request.query, request.headers, request.body
            )
        return self.auth.verify_v1(request.method, params)

    def _acting_account(self, caller: Caller | None) -> Account:
        """The account a call acts in: that of the role its temporary keys were issued
        for, else (the key pair, or anonymous) home."""
        issued = self.sts.lookup(caller.access_key_id) if caller is not None else None
        if issued is None:
            return self.home
        return self._by_uid.get(account_id_of_arn(issued.role_arn) or "", self.home)

    def _record(
        self,
        action: str,
        params: dict[str, str],
        caller: Caller | None,
        dry_run: bool,
        ids: tuple[str, ...],
        status: int,
        code: str | None,
        request_id: str,
        applied: bool,
    ) -> None:
        issued = self.sts.lookup(caller.access_key_id) if caller is not None else None
        self.calls.record(
            Call(
                action=action,
                region=params.get("RegionId", ""),
                params=_redacted(params),
                signature_version=caller.signature_version if caller else None,
                dry_run=dry_run,
                ids=ids,
                status=status,
                code=code,
                request_id=request_id,
                at=self.clock(),
                applied=applied,
                account=self._acting_account(caller).name if caller is not None else None,
                session_name=issued.session_name if issued is not None else None,
            )
        )


def _redacted(params: dict[str, str]) -> dict[str, str]:
    """The parameters without the OIDC token (a bearer credential) for the call log."""
    if "OIDCToken" not in params:
        return params
    return {**params, "OIDCToken": "***"}


def _applied(body: dict[str, Any]) -> bool:
    """Whether a successful answer rebooted something (SuccessFirst may reboot none)."""
    responses = body.get("InstanceResponses", {}).get("InstanceResponse", [])
    return any(response.get("Code") == "200" for response in responses)
