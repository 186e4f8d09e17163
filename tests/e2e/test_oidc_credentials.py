"""The bot with nothing but RRSA settings (docs/PRODUCT.md §3, README "Credentials"): no access
key at all, only ``ALIBABA_CLOUD_ROLE_ARN`` + the OIDC provider and token file. Every
ECS call is then signed with the STS keys the simulator issued to ``AssumeRoleWithOIDC``,
their security token included, and the reboot goes through."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path

from bot.domain.model import InstanceOutcome, RequestState, Role
from bot.simulator.sts import DEFAULT_OIDC_PROVIDER_ARN, DEFAULT_ROLE_ARN
from tests.e2e.harness import OPERATOR, REGION, running_bot


def jwt(subject: str) -> str:
    def part(value: Mapping[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"sub": subject, "iss": "https://oidc-ack.example", "aud": "sts.aliyuncs.com"}
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def test_rrsa_only_bot_reboots_with_oidc_issued_keys(migrated_url: str, tmp_path: Path) -> None:
    token = jwt("system:serviceaccount:ops:ecs-reboot-bot")
    token_file = tmp_path / "token"
    token_file.write_text(token, encoding="utf-8")
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "",
        "ALIBABA_CLOUD_ROLE_ARN": DEFAULT_ROLE_ARN,
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": DEFAULT_OIDC_PROVIDER_ARN,
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE": str(token_file),
        "ALIBABA_CLOUD_ROLE_SESSION_NAME": "ecs-reboot-bot-e2e",
    }
    with running_bot(migrated_url, env=env, instances=3) as h:
        # Only this token is accepted: a bot sending anything else gets no keys.
        h.sim.sts.configure(oidc_tokens=[token])
        h.grant(OPERATOR, Role.OPERATOR)
        request_id = h.confirmed(2)
        h.run_until_final(request_id)

        request = h.request(request_id)
        assert request.state is RequestState.SUCCEEDED
        assert all(i.outcome is InstanceOutcome.SUCCEEDED for i in request.instances)
        rebooted = [i.ref.instance_id for i in request.instances]
        assert [h.sim.fleet.reboot_count(REGION, i) for i in rebooted] == [1, 1]

        exchanges = h.sim.calls.of("AssumeRoleWithOIDC")
        assert len(exchanges) == 1  # cached for the whole flow, not one per ECS call
        assert exchanges[0].status == 200
        assert exchanges[0].params["OIDCToken"] == "***"  # the sim's log never keeps it
        assert exchanges[0].params["RoleSessionName"] == "ecs-reboot-bot-e2e"
        issued = h.sim.sts.settings()["issued"]
        assert [c["via"] for c in issued] == ["AssumeRoleWithOIDC"]
        # The bot holds no other key: every ECS call was signed with the issued one
        # (the simulator refuses STS keys without their token, or past expiry).
        ecs_calls = [c for c in h.sim.calls.all() if c.action != "AssumeRoleWithOIDC"]
        assert {c.action for c in ecs_calls} >= {"RebootInstances", "DescribeInstances"}
        assert [(c.action, c.code) for c in ecs_calls if c.status != 200 and not c.dry_run] == []
        assert exchanges[0].at <= ecs_calls[0].at
