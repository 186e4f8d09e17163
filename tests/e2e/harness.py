"""The end-to-end tests' bot: ``bot.testing``'s offline stack, under the names the
tests use. Everything lives in ``bot.testing``; this module only gathers it."""

from bot.testing.settings import (
    ADMIN,
    BOT_TOKEN,
    CHANNEL,
    NOTIFY,
    OPERATOR,
    REGION,
    SIGNING_SECRET,
    STRANGER,
    VIEWER,
)
from bot.testing.slack_api import Message
from bot.testing.stack import Harness, buttons, request_id_of, running_bot, text_of

__all__ = [
    "ADMIN",
    "BOT_TOKEN",
    "CHANNEL",
    "NOTIFY",
    "OPERATOR",
    "REGION",
    "SIGNING_SECRET",
    "STRANGER",
    "VIEWER",
    "Harness",
    "Message",
    "buttons",
    "request_id_of",
    "running_bot",
    "text_of",
]
