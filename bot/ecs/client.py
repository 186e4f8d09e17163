"""The ECS OpenAPI client: ``EcsGateway`` over httpx, signed with V3 or V1.

Use :class:`EcsClient` wherever the services need ECS; bootstrap builds one per process
(its ``httpx.Client`` pools connections) and closes it at shutdown.

Retries differ by what a repeat could do (docs/ECS-API.md, "Throttling and
retries"):

* read-only actions and the dry run: ``Throttling*``, ``ServiceUnavailable``,
  ``InternalError``, HTTP 5xx and connection faults are retried with exponential
  backoff and full jitter, then ``EcsTransientError``;
* the real ``RebootInstances`` call has no ClientToken, so it is re-sent only when it
  certainly did nothing: a ``Throttling*`` refusal or a failure to connect. A timeout,
  a dropped connection or a 5xx after it was sent raises ``EcsOutcomeUnknown``.
"""

from __future__ import annotations

import json
import logging
import os
import random as _random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Literal, TypeVar

import httpx

from bot.domain.ecs_values import (
    MAX_AGENT_IDS_PER_CALL,
    MAX_IDS_PER_CALL,
    AgentStatus,
    DryRunBatch,
    FoundInstances,
    InstanceInfo,
    InstanceStatus,
    RebootResult,
)
from bot.domain.errors import (
    EcsError,
    EcsOutcomeUnknown,
    EcsTransientError,
    RoleNotAssumable,
)
from bot.domain.events import PlatformEvent
from bot.ecs import catalogue, platform_events, signing
from bot.ecs.account_credentials import (
    DEFAULT_ACCOUNT,
    READ_SESSION,
    AccountCredentials,
    credentials_for_call,
    session_name_for,
)
from bot.ecs.credentials import CredentialsProvider
from bot.ecs.sender import Origin, Sender
from bot.ecs.wire import (
    Answer,
    Params,
    RequestMaybeSent,
    RequestNotSent,
    RetryPolicy,
    api_timestamp,
    as_int,
    decode,
    error_from_answer,
    id_batches,
    indexed,
    list_at,
    parse_instance,
    parse_reboot_results,
    parse_start_time,
    parse_statuses,
    reboot_params,
    transient_from_fault,
)

logger = logging.getLogger(__name__)


def _parse_instances(body: dict[str, Any], region: str) -> list[InstanceInfo]:
    return [parse_instance(item, region) for item in list_at(body, "Instances", "Instance")]


# What a describe reads of each instance: all of it, or what a poll needs.
_Described = TypeVar("_Described", InstanceInfo, InstanceStatus)

API_VERSION: Final = "2014-05-26"
DEFAULT_ENDPOINT: Final = "https://ecs.{region}.aliyuncs.com"

SignatureVersion = Literal["v3", "v1"]
Clock = Callable[[], datetime]
OnCall = Callable[[str, str, str | None, float], None]
"""``on_call(action, region, code_or_none, seconds)``: called once per HTTP attempt;
the code is None for a 2xx answer, the API's code for an error answer, or one of the
``CLIENT_*`` codes below for a transport failure."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Signer:
    """Whose credentials sign a call: the account it acts in and the role session
    (``ecs-reboot-bot`` for reads, ``slack-<user>`` on a person's behalf)."""

    account: str = DEFAULT_ACCOUNT
    session_name: str = READ_SESSION


_READS = _Signer()


class EcsClient:
    """``EcsGateway`` over the ECS OpenAPI (2014-05-26) with httpx.

    ``endpoint`` is a template: ``{region}`` is replaced by the region id (the simulator
    and tests pass ``http://127.0.0.1:PORT``). ``sleep`` and ``random`` are injectable so
    tests run the retry paths without waiting; ``clock`` stamps the signatures.

    ``credentials``: the bot's own identity (one account, ``default``), or an
    ``AccountCredentials`` that assumes each account's role per session. Every method
    takes ``account`` (default ``default``); the DryRun and the reboot also take
    ``acting_user``, the Slack user on whose behalf they go out (the session
    ``slack-<user>`` that ActionTrail shows; None: the bot's own ``ecs-reboot-bot``).
    """

    def __init__(
        self,
        *,
        credentials: CredentialsProvider | AccountCredentials,
        endpoint: str = DEFAULT_ENDPOINT,
        signature_version: SignatureVersion = "v3",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        transport: httpx.BaseTransport | None = None,
        clock: Clock = _utc_now,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        on_call: OnCall | None = None,
    ) -> None:
        if signature_version not in ("v3", "v1"):
            raise ValueError("signature_version must be 'v3' or 'v1'")
        self._credentials = (
            credentials
            if isinstance(credentials, AccountCredentials)
            else AccountCredentials(credentials)
        )
        self._endpoint = endpoint.rstrip("/")
        self._signature_version = signature_version
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._random = random
        self._clock = clock
        self._on_call = on_call
        self._origins: dict[str, Origin] = {}
        # One sender for the process: keep-alive connections are reused across calls.
        # Explicit timeouts: a reboot that hangs must become "outcome unknown", not a
        # stuck Slack thread.
        self._sender = Sender(
            transport=transport, timeout=httpx.Timeout(read_timeout, connect=connect_timeout)
        )

    # --- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        """Close the pooled connections."""
        self._sender.close()

    def __enter__(self) -> EcsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- EcsGateway -------------------------------------------------------------------

    def describe_instances(
        self, region: str, instance_ids: Sequence[str], *, account: str = DEFAULT_ACCOUNT
    ) -> list[InstanceInfo]:
        """Instances among ``instance_ids`` that exist and that the caller may see, in the
        API's order; missing ids are simply absent. ≤100 ids per call, paged by
        ``MaxResults``/``NextToken``."""
        return self._describe(region, instance_ids, account, _parse_instances)

    def describe_statuses(
        self, region: str, instance_ids: Sequence[str], *, account: str = DEFAULT_ACCOUNT
    ) -> list[InstanceStatus]:
        """The same calls as :meth:`describe_instances`, reading only each instance's
        status and ``StartTime``."""
        return self._describe(region, instance_ids, account, parse_statuses)

    def _describe(
        self,
        region: str,
        instance_ids: Sequence[str],
        account: str,
        parse: Callable[[dict[str, Any], str], list[_Described]],
    ) -> list[_Described]:
        signer = _Signer(account)
        found: list[_Described] = []
        for batch in id_batches(instance_ids):
            next_token = ""
            while True:
                params: Params = {
                    "RegionId": region,
                    "InstanceIds": json.dumps(list(batch)),
                    "MaxResults": str(MAX_IDS_PER_CALL),
                }
                if next_token:
                    params["NextToken"] = next_token
                body = self._call_idempotent("DescribeInstances", region, params, signer)
                found.extend(parse(body, region))
                next_token = str(body.get("NextToken") or "")
                if not next_token:
                    break
        return found

    def describe_agents(
        self, region: str, instance_ids: Sequence[str], *, account: str = DEFAULT_ACCOUNT
    ) -> list[AgentStatus]:
        """``DescribeCloudAssistantStatus`` for ``instance_ids``, ≤50 per call (with ids
        given, the API answers every named instance at once: no paging)."""
        found: list[AgentStatus] = []
        ids = tuple(instance_ids)
        for start in range(0, len(ids), MAX_AGENT_IDS_PER_CALL):
            batch = ids[start : start + MAX_AGENT_IDS_PER_CALL]
            params: Params = {"RegionId": region, **indexed("InstanceId", batch)}
            body = self._call_idempotent(
                "DescribeCloudAssistantStatus", region, params, _Signer(account)
            )
            for item in list_at(
                body, "InstanceCloudAssistantStatusSet", "InstanceCloudAssistantStatus"
            ):
                heartbeat = item.get("LastHeartbeatTime")
                found.append(
                    AgentStatus(
                        instance_id=str(item.get("InstanceId")),
                        online=str(item.get("CloudAssistantStatus")).lower() == "true",
                        # No version and no heartbeat ever: the agent is not installed.
                        installed=bool(item.get("CloudAssistantVersion") or heartbeat),
                        last_heartbeat=parse_start_time(heartbeat),
                    )
                )
        return found

    def find_instances(
        self,
        region: str,
        *,
        tags: Sequence[tuple[str, str]],
        name: str | None,
        account: str = DEFAULT_ACCOUNT,
    ) -> FoundInstances:
        """Instances matching ``Tag.N.Key``/``Tag.N.Value`` and ``InstanceName`` filters
        (AND), every page (``MaxResults`` 100, ``NextToken``). ``TotalCount`` comes back
        with it, so a tag filter cut at 1,000 matches can be told apart."""
        found: list[InstanceInfo] = []
        filters: Params = {"RegionId": region, "MaxResults": str(MAX_IDS_PER_CALL)}
        for number, (key, value) in enumerate(tags, start=1):
            filters[f"Tag.{number}.Key"] = key
            filters[f"Tag.{number}.Value"] = value
        if name is not None:
            filters["InstanceName"] = name
        total = 0
        next_token = ""
        while True:
            params = dict(filters)
            if next_token:
                params["NextToken"] = next_token
            body = self._call_idempotent("DescribeInstances", region, params, _Signer(account))
            for item in list_at(body, "Instances", "Instance"):
                found.append(parse_instance(item, region))
            total = max(total, as_int(body.get("TotalCount")))
            next_token = str(body.get("NextToken") or "")
            if not next_token:
                break
        return FoundInstances(region, tuple(found), total, tag_filtered=bool(tags))

    def dry_run_reboot(
        self,
        region: str,
        instance_ids: Sequence[str],
        *,
        force: bool,
        account: str = DEFAULT_ACCOUNT,
        acting_user: str | None = None,
    ) -> list[DryRunBatch]:
        """One ``DryRunBatch`` per ≤100 ids (``DryRun=true``, ``AllTogether``, so one
        refused instance fails its batch with the reason). A refusal is returned, not
        raised; transient failures that outlive the retries raise ``EcsTransientError``."""
        verdicts: list[DryRunBatch] = []
        signer = _Signer(account, session_name_for(acting_user))
        for batch in id_batches(instance_ids):
            params = reboot_params(region, batch, force=force, dry_run=True)
            try:
                self._call_idempotent("RebootInstances", region, params, signer)
            except EcsTransientError:
                raise
            except EcsError as refusal:
                error = None if catalogue.is_dry_run_pass(refusal.code) else refusal
                verdicts.append(
                    DryRunBatch(
                        region,
                        tuple(batch),
                        error,
                        # A role that cannot be assumed refuses the call, not an
                        # instance: halving would only ask STS again.
                        per_instance=not isinstance(refusal, RoleNotAssumable)
                        and catalogue.names_one_instance(refusal.code),
                    )
                )
                continue
            # A 2xx to a dry run should not happen; it would mean the flag was ignored
            # and the instances rebooted. Say so loudly rather than call it a pass.
            raise EcsOutcomeUnknown(
                catalogue.CLIENT_UNEXPECTED_RESPONSE,
                "RebootInstances with DryRun=true answered 2xx",
                explanation=catalogue.explain(catalogue.CLIENT_UNEXPECTED_RESPONSE),
                http_status=200,
                kind=catalogue.kind_of(catalogue.CLIENT_UNEXPECTED_RESPONSE),
            )
        return verdicts

    def reboot(
        self,
        region: str,
        instance_ids: Sequence[str],
        *,
        force: bool,
        account: str = DEFAULT_ACCOUNT,
        acting_user: str | None = None,
    ) -> list[RebootResult]:
        """ONE real ``RebootInstances`` call (``SuccessFirst``) for at most 100 ids; one
        ``RebootResult`` per id. Re-sent only after ``Throttling*`` or a failure to
        connect; after a timeout, dropped answer or 5xx it raises ``EcsOutcomeUnknown``.
        A call-level refusal (e.g. a bad signature) raises ``EcsError``."""
        ids = tuple(instance_ids)
        if not ids:
            return []
        if len(ids) > MAX_IDS_PER_CALL:
            raise ValueError(
                f"reboot takes at most {MAX_IDS_PER_CALL} ids per call, got {len(ids)}"
            )
        params = reboot_params(region, ids, force=force, dry_run=False)
        signer = _Signer(account, session_name_for(acting_user))
        body = self._call_once("RebootInstances", region, params, signer)
        return parse_reboot_results(body, region, ids)

    def describe_events(
        self,
        region: str,
        *,
        states: Sequence[str] = (),
        types: Sequence[str] = (),
        event_ids: Sequence[str] = (),
        account: str = DEFAULT_ACCOUNT,
    ) -> list[PlatformEvent]:
        """``DescribeInstanceHistoryEvents``, every page (``PageSize`` 100; the API's
        default is 10). ``states`` (``InstanceEventCycleStatus.N``): without them ECS
        answers the finished events only. ``event_ids``: only those, ≤100 a call,
        batched here. Events of a state or type the bot does not know are skipped."""
        signer = _Signer(account)

        def call(params: Params) -> dict[str, Any]:
            return self._call_idempotent("DescribeInstanceHistoryEvents", region, params, signer)

        return platform_events.read_events(
            call, region, account, states=states, types=types, event_ids=event_ids
        )

    # --- calls and retries ------------------------------------------------------------

    def _call_idempotent(
        self, action: str, region: str, params: Params, signer: _Signer = _READS
    ) -> dict[str, Any]:
        """A call that is safe to repeat: retried on every transient failure."""
        attempts = self._retry.max_attempts
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                answer = self._attempt(action, region, params, signer)
            except (RequestNotSent, RequestMaybeSent) as fault:
                if last:
                    raise transient_from_fault(action, fault) from None
                self._back_off(attempt, throttled=False, retry_after=None)
                continue
            if answer.code is None:
                return answer.body
            if catalogue.is_transient(answer.code, answer.status) and not last:
                self._back_off(
                    attempt,
                    throttled=catalogue.is_throttling(answer.code),
                    retry_after=answer.retry_after,
                )
                continue
            raise error_from_answer(answer)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _call_once(
        self, action: str, region: str, params: Params, signer: _Signer = _READS
    ) -> dict[str, Any]:
        """A call with effects and no ClientToken: re-sent only when it certainly did
        nothing (throttled, or never connected)."""
        attempts = self._retry.max_attempts
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                answer = self._attempt(action, region, params, signer)
            except RequestNotSent as fault:
                if last:
                    raise transient_from_fault(action, fault) from None
                self._back_off(attempt, throttled=False, retry_after=None)
                continue
            except RequestMaybeSent as fault:
                raise EcsOutcomeUnknown(
                    fault.code,
                    f"{action} was sent but no answer came back ({fault})",
                    explanation=catalogue.OUTCOME_UNKNOWN,
                    kind=catalogue.kind_of(fault.code),
                ) from None
            if answer.code is None:
                return answer.body
            if catalogue.is_throttling(answer.code):
                if last:
                    raise error_from_answer(answer)
                self._back_off(attempt, throttled=True, retry_after=answer.retry_after)
                continue
            if catalogue.is_transient(answer.code, answer.status):
                raise EcsOutcomeUnknown(
                    answer.code,
                    answer.message,
                    explanation=catalogue.OUTCOME_UNKNOWN,
                    request_id=answer.request_id,
                    http_status=answer.status,
                    kind=catalogue.kind_of(answer.code),
                )
            raise error_from_answer(answer)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _back_off(self, attempt: int, *, throttled: bool, retry_after: float | None) -> None:
        self._sleep(
            self._retry.delay(
                attempt, throttled=throttled, random=self._random, retry_after=retry_after
            )
        )

    def _attempt(self, action: str, region: str, params: Params, signer: _Signer) -> Answer:
        """Sign and send one request; report it to ``on_call``. Each attempt asks for
        credentials again, so a retry after a long backoff is never signed with a token
        that expired in the meantime."""
        origin = self._origin(region)
        encoded_query, headers = self._sign(action, origin.host, params, signer)
        started = time.monotonic()
        code: str | None = None
        try:
            try:
                response = self._sender.post(origin, encoded_query, headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached the server: no connection was ever made for this one.
                code = catalogue.CLIENT_CONNECTION_FAILED
                raise RequestNotSent(code, type(exc).__name__) from None
            except httpx.TimeoutException as exc:
                code = catalogue.CLIENT_TIMEOUT
                raise RequestMaybeSent(code, type(exc).__name__) from None
            except httpx.TransportError as exc:
                code = catalogue.CLIENT_CONNECTION_LOST
                raise RequestMaybeSent(code, type(exc).__name__) from None
            answer = decode(response)
            code = answer.code
            return answer
        finally:
            self._report(action, region, code, time.monotonic() - started)

    def _report(self, action: str, region: str, code: str | None, seconds: float) -> None:
        if self._on_call is None:
            return
        try:
            self._on_call(action, region, code, seconds)
        except Exception:
            # A broken metrics hook must not turn a sent reboot into a lost answer; it
            # is logged with its traceback, not hidden.
            logger.exception("on_call hook failed for %s in %s", action, region)

    # --- signing ----------------------------------------------------------------------

    def _sign(
        self, action: str, host: str, params: Params, signer: _Signer = _READS
    ) -> tuple[str, dict[str, str]]:
        """The encoded query and the headers of one signed request."""
        credentials = credentials_for_call(self._credentials, signer.account, signer.session_name)
        timestamp = api_timestamp(self._clock())
        # 128 random bits as 32 hex digits, what uuid4().hex carried, without the UUID.
        nonce = os.urandom(16).hex()
        return signing.signed_request(
            action,
            host,
            params,
            credentials,
            api_version=API_VERSION,
            timestamp=timestamp,
            nonce=nonce,
            scheme=self._signature_version,
        )

    def _origin(self, region: str) -> Origin:
        # Once per region: httpx parses a URL character by character.
        origin = self._origins.get(region)
        if origin is None:
            origin = self._sender.origin(self._endpoint.replace("{region}", region))
            self._origins[region] = origin
        return origin
