"""Prometheus metrics (``GET /metrics``). One registry per process; names are stable."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

ECS_CALLS = Counter(
    "ecsbot_ecs_calls_total", "ECS OpenAPI calls by action and result code", ["action", "code"]
)
ECS_CALL_SECONDS = Histogram("ecsbot_ecs_call_seconds", "ECS OpenAPI call latency", ["action"])
SLACK_CALLS = Counter("ecsbot_slack_calls_total", "Slack Web API calls by method", ["method"])
SLACK_RATE_LIMITED = Counter(
    "ecsbot_slack_rate_limited_total", "Slack answers of HTTP 429 by method", ["method"]
)
POLL_SECONDS = Histogram("ecsbot_poll_seconds", "Duration of one poller tick")
ACK_SECONDS = Histogram(
    "ecsbot_ack_seconds",
    "Time from a Slack request's arrival to its acknowledgement",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0),
)
EVENTS = Gauge(
    "ecsbot_platform_events",
    "Platform maintenance events the bot knows: pending, avoided, executed by the platform",
    ["state"],
)
POLLER_REQUESTS = Gauge("ecsbot_poller_requests", "Requests advanced by this process's last tick")


def record_ecs_call(action: str, region: str, code: str | None, seconds: float) -> None:
    """The ``EcsClient`` ``on_call`` hook."""
    ECS_CALLS.labels(action=action, code=code or "OK").inc()
    ECS_CALL_SECONDS.labels(action=action).observe(seconds)


class DatabaseCollector:
    """Requests by state and instances by outcome, read from the database at scrape
    time, so every replica reports the same truth however the work was shared."""

    def __init__(self, counts: Callable[[], tuple[Mapping[str, int], Mapping[str, int]]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        try:
            states, outcomes = self._counts()
        except Exception:  # a scrape must not fail because the database is away
            return
        by_state = GaugeMetricFamily(
            "ecsbot_requests", "Reboot requests by state", labels=["state"]
        )
        for state, count in sorted(states.items()):
            by_state.add_metric([state], count)
        yield by_state
        by_outcome = GaugeMetricFamily(
            "ecsbot_instances", "Instances of reboot requests by outcome", labels=["outcome"]
        )
        for outcome, count in sorted(outcomes.items()):
            by_outcome.add_metric([outcome], count)
        yield by_outcome


def register_database_collector(
    counts: Callable[[], tuple[Mapping[str, int], Mapping[str, int]]],
) -> DatabaseCollector:
    collector = DatabaseCollector(counts)
    REGISTRY.register(collector)
    return collector
