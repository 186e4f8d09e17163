"""CloudMonitor's alarm callback over HTTP (docs/PRODUCT.md §5.12):
``POST /hooks/cloudmonitor/<ECSBOT_ALERT_TOKEN>``.

CloudMonitor signs nothing the bot can check (docs/ECS-API.md), so the secret path
segment is the authentication: any other path answers 404, exactly as a path that does
not exist, and records nothing. A body is checked before anything is recorded (413
over 64 KiB, 400 naming the bad field); the card is recorded in the database while
CloudMonitor waits, and drawn in Slack after the answer, on the worker pool. Several
callbacks for one card while it is being drawn make one more drawing, not one each: a
flood updates a card, it never multiplies work or messages.
"""

from __future__ import annotations

import hmac
import logging
import threading
from dataclasses import dataclass
from urllib.parse import parse_qsl

from bot.domain.alarms import MAX_BODY_BYTES, AlarmProblem, parse_alarm
from bot.domain.errors import StoreUnavailable
from bot.services import alarms as alarms_service
from bot.services.context import Context
from bot.slack.jobs import Jobs

log = logging.getLogger(__name__)

PATH_PREFIX = "/hooks/cloudmonitor/"
_MAX_FIELDS = 64
_ACTOR = "cloudmonitor"


@dataclass(frozen=True)
class HookAnswer:
    status: int
    text: str


NOT_FOUND = HookAnswer(404, "Not Found")


class CloudMonitorHook:
    """Takes CloudMonitor's callbacks for one token and one alarm channel."""

    def __init__(self, ctx: Context, jobs: Jobs, *, token: str, channel: str) -> None:
        self._ctx = ctx
        self._jobs = jobs
        self._token = token.encode()
        self._channel = channel
        self._drawing: set[str] = set()
        self._lock = threading.Lock()

    def authentic(self, token: str) -> bool:
        """Whether a path's last segment is the token (in constant time)."""
        return hmac.compare_digest(token.encode(), self._token)

    def handle(self, token: str, body: bytes, content_type: str) -> HookAnswer:
        """Answer one callback whose path carried ``token``."""
        if not self.authentic(token):
            return NOT_FOUND
        if len(body) > MAX_BODY_BYTES:
            return HookAnswer(413, f"body over {MAX_BODY_BYTES // 1024} KiB")
        if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            return HookAnswer(415, "expected application/x-www-form-urlencoded")
        try:
            pairs = parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FIELDS
            )
        except (UnicodeDecodeError, ValueError):
            return HookAnswer(400, "body: not a form of at most 64 UTF-8 fields")
        alarm = parse_alarm(dict(pairs))
        if isinstance(alarm, AlarmProblem):
            return HookAnswer(400, str(alarm))
        try:
            received = alarms_service.receive(self._ctx, alarm, channel=self._channel)
        except StoreUnavailable as error:
            # CloudMonitor sends a callback again when it is not answered with 200.
            log.error("alarm %s not recorded: %s", alarm.trans_id, error)
            return HookAnswer(503, "database unavailable; send again later")
        if received.card is not None:
            self._draw_later(received.card.id)
        if received.repeated_delivery:
            return HookAnswer(200, "repeated delivery; nothing changed")
        return HookAnswer(200, "ok")

    def _draw_later(self, card_id: str) -> None:
        with self._lock:
            if card_id in self._drawing:
                return  # the drawing queued already reads the card as it will stand
            self._drawing.add(card_id)

        def draw() -> None:
            with self._lock:
                self._drawing.discard(card_id)
            alarms_service.show_card(self._ctx, card_id)

        self._jobs.submit(draw, channel=self._channel, user=_ACTOR)
