"""The Slack app manifest (YAML) for one-step app creation ("From a manifest")."""

from __future__ import annotations

from typing import Any

import yaml

from bot.slack.views import SHORTCUT_FROM_MESSAGE, SHORTCUT_OPEN

# Exactly what the bot uses, nothing more (least privilege).
BOT_SCOPES = ["commands", "chat:write", "chat:write.public", "usergroups:read", "users:read"]


def manifest(*, base_url: str, socket_mode: bool) -> dict[str, Any]:
    events_url = base_url.rstrip("/") + "/slack/events"
    command: dict[str, Any] = {
        "command": "/ecs-reboot",
        "description": "Reboot Alibaba Cloud ECS instances, with a preview and a confirm",
        "usage_hint": "[--region R] [--force] i-… i-… | (empty: the form) | help | status ID",
        # Mentions in grant/revoke arrive as <@U…> and <!subteam^S…> only when escaped.
        "should_escape": True,
    }
    interactivity: dict[str, Any] = {"is_enabled": True}
    # App Home (docs/PRODUCT.md §5.14): its event needs no scope of its own.
    events: dict[str, Any] = {"bot_events": ["app_home_opened"]}
    if not socket_mode:
        command["url"] = events_url
        interactivity["request_url"] = events_url
        # The form's instance search (an external select) asks the same endpoint.
        interactivity["message_menu_options_url"] = events_url
        events["request_url"] = events_url
    return {
        "display_information": {
            "name": "ECS Reboot",
            "description": "Reboots Alibaba Cloud ECS instances safely from Slack.",
            "background_color": "#2c2d30",
        },
        "features": {
            "bot_user": {"display_name": "ecs-reboot", "always_online": True},
            "slash_commands": [command],
            "shortcuts": [
                {
                    "name": "Reboot ECS instances",
                    "type": "global",
                    "callback_id": SHORTCUT_OPEN,
                    "description": "Open the reboot form",
                },
                {
                    "name": "Reboot from this message",
                    "type": "message",
                    "callback_id": SHORTCUT_FROM_MESSAGE,
                    "description": "Preview a reboot of the instances this message names",
                },
            ],
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": False,
                "messages_tab_read_only_enabled": False,
            },
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(*, base_url: str, socket_mode: bool) -> str:
    return yaml.safe_dump(manifest(base_url=base_url, socket_mode=socket_mode), sort_keys=False)
