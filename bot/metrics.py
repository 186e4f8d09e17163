"""Prometheus metrics (``GET /metrics``). One registry per process; names are stable."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ECS_CALLS = Counter(
    "ecsbot_ecs_calls_total", "ECS OpenAPI calls by action and result code", ["action", "code"]
)
ECS_CALL_SECONDS = Histogram("ecsbot_ecs_call_seconds", "ECS OpenAPI call latency", ["action"])
SLACK_CALLS = Counter("ecsbot_slack_calls_total", "Slack Web API calls by method", ["method"])
SLACK_RATE_LIMITED = Counter(
    "ecsbot_slack_rate_limited_total", "Slack answers of HTTP 429 by method", ["method"]
)
REQUESTS = Counter("ecsbot_requests_total", "Reboot requests reaching a state", ["state"])
INSTANCE_OUTCOMES = Counter(
    "ecsbot_instance_outcomes_total", "Instances reaching a final outcome", ["outcome"]
)
POLL_SECONDS = Histogram("ecsbot_poll_seconds", "Duration of one poller tick")
ACK_SECONDS = Histogram(
    "ecsbot_ack_seconds",
    "Time from a Slack request's arrival to its acknowledgement",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0),
)
IN_FLIGHT = Gauge("ecsbot_requests_in_flight", "Requests this process is advancing now")


def record_ecs_call(action: str, region: str, code: str | None, seconds: float) -> None:
    """The ``EcsClient`` ``on_call`` hook."""
    ECS_CALLS.labels(action=action, code=code or "OK").inc()
    ECS_CALL_SECONDS.labels(action=action).observe(seconds)
