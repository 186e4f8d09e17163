"""The Bolt app: a WebClient pointed at ``SLACK_API_URL``, our listeners, and pools
sized so that acks never wait behind slow work."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot import metrics
from bot.services.context import Context
from bot.services.event_watch import EventWatch
from bot.slack.event_listeners import register_events
from bot.slack.jobs import Jobs
from bot.slack.listeners import register
from bot.slack.surfaces import Forms, register_surfaces

log = logging.getLogger(__name__)


class CountingRateLimitHandler(RateLimitErrorRetryHandler):
    """Slack's 429 handling (sleep ``Retry-After``, then retry), counted for /metrics."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        limited = super()._can_retry(state=state, request=request, response=response, error=error)
        if limited:
            method = request.url.rstrip("/").rsplit("/", 1)[-1]
            metrics.SLACK_RATE_LIMITED.labels(method=method).inc()
        return limited


def make_web_client(token: str, base_url: str, *, timeout: int = 10) -> WebClient:
    """A WebClient that honours 429 ``Retry-After`` and retries connection faults.

    The retry handlers sleep the calling thread, which is always a worker or the
    poller, never the thread that acks.
    """
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            CountingRateLimitHandler(max_retry_count=5),
        ],
    )


def build_app(
    *,
    client: WebClient,
    signing_secret: str | None,
    ctx: Context,
    jobs: Jobs,
    events: EventWatch | None = None,
) -> App:
    """The Bolt ``App`` with every listener registered.

    Authorization is a fixed result built from our own token, so Bolt never calls
    ``auth.test`` on the path that acks (single-workspace app).
    """
    token = client.token or ""

    def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token=token)

    app = App(
        # Bolt takes the token from ``authorize``; its own client carries none, so it
        # does not warn that one of the two is ignored.
        client=WebClient(
            base_url=client.base_url, timeout=client.timeout, retry_handlers=client.retry_handlers
        ),
        signing_secret=signing_secret,
        authorize=authorize,
        # Our listeners only parse, read the database and queue work, so they run on
        # the HTTP thread itself: no hop to a listener pool and no polling for the ack.
        # Everything slow goes to ``jobs``.
        process_before_response=True,
        logger=logging.getLogger("bot.slack.bolt"),
    )
    # The form's private_metadata is sealed with a key only this bot holds.
    forms = Forms(ctx, jobs, key=token.encode(), events=events)
    # First: ``/ecs-reboot events`` is answered there, everything else falls through.
    register_events(app, ctx, jobs, forms, events)
    register(app, ctx, jobs, forms)
    register_surfaces(app, forms)
    return app
