"""The Slack app manifest (YAML) for one-step app creation ("From a manifest")."""

from __future__ import annotations

from typing import Any

import yaml

# Exactly what the bot uses, nothing more (least privilege).
BOT_SCOPES = ["commands", "chat:write", "chat:write.public", "usergroups:read", "users:read"]


def manifest(*, base_url: str, socket_mode: bool) -> dict[str, Any]:
    events_url = base_url.rstrip("/") + "/slack/events"
    command: dict[str, Any] = {
        "command": "/ecs-reboot",
        "description": "Reboot Alibaba Cloud ECS instances, with a preview and a confirm",
        "usage_hint": "[--region REGION] [--force] i-… i-… | help | status ID | roles",
        # Mentions in grant/revoke arrive as <@U…> and <!subteam^S…> only when escaped.
        "should_escape": True,
    }
    interactivity: dict[str, Any] = {"is_enabled": True}
    if not socket_mode:
        command["url"] = events_url
        interactivity["request_url"] = events_url
    return {
        "display_information": {
            "name": "ECS Reboot",
            "description": "Reboots Alibaba Cloud ECS instances safely from Slack.",
            "background_color": "#2c2d30",
        },
        "features": {
            "bot_user": {"display_name": "ecs-reboot", "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(*, base_url: str, socket_mode: bool) -> str:
    return yaml.safe_dump(manifest(base_url=base_url, socket_mode=socket_mode), sort_keys=False)
