"""``Simulator``: the fleet, the API, the signature checks and the faults behind one
HTTP server on loopback. This is the simulator's composition root."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from bot.simulator.admin import AdminRoutes
from bot.simulator.api import API_VERSION, EcsApi, summarize
from bot.simulator.auth import Authenticator, Caller
from bot.simulator.calls import Call, CallLog
from bot.simulator.clock import Clock, utc_now
from bot.simulator.errors import ApiError, missing_parameter
from bot.simulator.faults import Faults
from bot.simulator.fleet import Fleet
from bot.simulator.server import HttpRequest, Reply, SimulatorHTTPServer

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
    ) -> None:
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
        )
        for region in self.fleet.regions:
            self.fleet.populate(region, instances_per_region)
        self.faults = Faults()
        self.calls = CallLog()
        self.api = EcsApi(self.fleet)
        self.auth = Authenticator({access_key_id: access_key_secret}, self.clock, security_token)
        self.admin = AdminRoutes(self.fleet, self.calls, self.faults, self.clock, self.describe)
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; returns the endpoint ``http://HOST:PORT``."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        server = SimulatorHTTPServer((host, port), self.handle_rpc, self.admin)
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

    def describe(self) -> dict[str, Any]:
        """What a client needs to connect: endpoint, key pair and instance ids."""
        return {
            "endpoint": self.endpoint if self._server is not None else None,
            "access_key_id": self.access_key_id,
            "access_key_secret": self.access_key_secret,
            "instances": {region: self.fleet.ids(region) for region in self.fleet.regions},
        }

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
        try:
            if request.path != "/":
                raise ApiError(404, "InvalidAction.NotFound", "RPC calls are served on / only.")
            if not action:
                raise missing_parameter("Action")
            caller = self._authenticate(request, params, is_v3)
            if not version:
                raise missing_parameter("Version")
            if version != API_VERSION:
                raise ApiError(400, "InvalidVersion", "Specified parameter Version is not valid.")
            plan = self.faults.for_call(action)
            if plan.latency:
                time.sleep(plan.latency)  # injected latency: a real wait, in this thread only
            fault = plan.fault
            if fault is not None and fault.kind == "drop_connection":
                self._record(
                    action,
                    params,
                    caller,
                    dry_run,
                    ids,
                    0,
                    "ConnectionDropped",
                    request_id,
                    applied,
                )
                return Reply(0, drop=True)
            if fault is not None and fault.kind in ("throttle", "fail"):
                if fault.retry_after_ms:
                    reply_headers["x-acs-retry-after"] = str(fault.retry_after_ms)
                raise ApiError(fault.status, fault.code, fault.message)
            body = self.api.call(action, params)  # raises before changing anything
            applied = _applied(body)
            if fault is not None and fault.kind == "timeout_after_apply":
                if fault.mode == "drop":
                    self._record(
                        action,
                        params,
                        caller,
                        dry_run,
                        ids,
                        0,
                        "ConnectionDropped",
                        request_id,
                        applied,
                    )
                    return Reply(0, drop=True)
                raise ApiError(fault.status, fault.code, fault.message)
        except ApiError as error:
            self._record(
                action, params, caller, dry_run, ids, error.status, error.code, request_id, applied
            )
            host_id = headers.get("host", "ecs.aliyuncs.com")
            return Reply(error.status, error.body(request_id, host_id), reply_headers)
        self._record(action, params, caller, dry_run, ids, 200, None, request_id, applied)
        return Reply(200, {"RequestId": request_id, **body}, reply_headers)

    def _authenticate(self, request: HttpRequest, params: dict[str, str], is_v3: bool) -> Caller:
        if is_v3:
            return self.auth.verify_v3(
                request.method, request.path, request.query, request.headers, request.body
            )
        return self.auth.verify_v1(request.method, params)

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
        self.calls.record(
            Call(
                action=action,
                region=params.get("RegionId", ""),
                params=params,
                signature_version=caller.signature_version if caller else None,
                dry_run=dry_run,
                ids=ids,
                status=status,
                code=code,
                request_id=request_id,
                at=self.clock(),
                applied=applied,
            )
        )


def _applied(body: dict[str, Any]) -> bool:
    """Whether a successful answer rebooted something (SuccessFirst may reboot none)."""
    responses = body.get("InstanceResponses", {}).get("InstanceResponse", [])
    return any(response.get("Code") == "200" for response in responses)
