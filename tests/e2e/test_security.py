"""Security end to end (docs/PRODUCT.md §3, §5.2, §5.4, §6, §9): Slack's request signatures,
privilege escalation through commands and forged clicks, mrkdwn and mention injection
through what ECS says about instances, and secrets kept out of every Slack message.

Everything goes over HTTP into ``serve``'s app; the checks read what reached the fake
Slack Web API, the ECS simulator and the database tables.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from bot.domain.model import InstanceOutcome, RequestState, Role
from bot.domain.policy import Binding
from bot.services import roles as roles_service
from bot.slack.blocks import ACTION_CANCEL, ACTION_CONFIRM
from bot.testing.slack_api import RESPONSE_URL_METHOD
from bot.testing.slack_requests import block_action_body, sign, slash_command_body
from tests.e2e.harness import (
    ADMIN,
    BOT_TOKEN,
    CHANNEL,
    OPERATOR,
    REGION,
    SIGNING_SECRET,
    VIEWER,
    Harness,
    buttons,
    request_id_of,
    running_bot,
)
from tests.e2e.shared_bot import fresh, row_count
from tests.fixtures_db import DATABASES, migrated_database

OTHER_REGION = "cn-shanghai"
OTHER_OPERATOR = "U0OPER2"
TABLES = ("reboot_requests", "reboot_instances", "role_bindings", "audit_log")


@pytest.fixture(scope="module", params=DATABASES)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    with (
        migrated_database(request.param, tmp_path_factory.mktemp("security")) as url,
        running_bot(url, regions=(REGION, OTHER_REGION), instances=1) as h,
    ):
        h.grant(OPERATOR, Role.OPERATOR)
        h.grant(OTHER_OPERATOR, Role.OPERATOR)
        h.grant(VIEWER, Role.VIEWER)
        yield h


@pytest.fixture
def harness(shared: Harness) -> Harness:
    return fresh(shared)


def _instance(h: Harness, region: str = REGION) -> str:
    """A new running instance: each test reboots only its own."""
    return h.sim.fleet.add_instance(region)


def _preview(h: Harness, text: str, *, user: str = OPERATOR) -> str:
    """Run the command, wait for its preview, return the request id."""
    before = len(h.previews())
    response = h.command(text, user=user)
    assert response.status_code == 200, response.text
    h.settle()
    previews = h.previews()
    assert len(previews) == before + 1, f"no preview: {response.json()['text']}"
    return request_id_of(previews[-1]["blocks"])


def _counts(h: Harness) -> dict[str, int]:
    return {table: row_count(h, table) for table in TABLES}


def _real_reboots(h: Harness) -> int:
    return h.sim.calls.count("RebootInstances", dry_run=False)


# --- Slack request signatures --------------------------------------------------------------

Forgery = Callable[[bytes], tuple[bytes, dict[str, str]]]
"""Takes a body; returns the body to send and every header to send it with."""

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _signed_then(
    *,
    secret: str = SIGNING_SECRET,
    age: int = 0,
    tamper: bool = False,
    drop: str = "",
    timestamp: str | None = None,
) -> Forgery:
    """Sign a body ``age`` seconds ago with ``secret``; then maybe alter the body, drop a
    header, or replace the timestamp header."""

    def forge(body: bytes) -> tuple[bytes, dict[str, str]]:
        headers = {**FORM, **sign(body, secret, int(time.time()) - age)}
        if drop:
            del headers[drop]
        if timestamp is not None:
            headers["X-Slack-Request-Timestamp"] = timestamp
        sent = body.replace(b"U0NOBODY", b"U0ADMIN") if tamper else body
        return sent, headers

    return forge


def _zero_signature(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {**FORM, **sign(body, SIGNING_SECRET), "X-Slack-Signature": "v0=" + "0" * 64}


def _bare_digest(body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = {**FORM, **sign(body, SIGNING_SECRET)}
    headers["X-Slack-Signature"] = headers["X-Slack-Signature"].removeprefix("v0=")
    return body, headers


FORGERIES = [
    pytest.param(_zero_signature, id="zero-signature"),
    pytest.param(_signed_then(secret="not-the-signing-secret"), id="wrong-secret"),
    pytest.param(_bare_digest, id="no-v0-prefix"),
    pytest.param(_signed_then(drop="X-Slack-Signature"), id="no-signature"),
    pytest.param(_signed_then(drop="X-Slack-Request-Timestamp"), id="no-timestamp"),
    pytest.param(_signed_then(timestamp=""), id="empty-timestamp"),
    pytest.param(_signed_then(timestamp="soon"), id="timestamp-not-a-number"),
    pytest.param(_signed_then(age=600), id="replayed-10-min-later"),
    pytest.param(_signed_then(age=301), id="expired-at-the-edge-301s"),
    # 302, not 301: the timestamp is whole seconds (time truncated), so a request
    # stamped 301 s ahead of a moment late in its second reaches the check under 300 s
    # ahead, which is within the window.
    pytest.param(_signed_then(age=-302), id="from-the-future-302s"),
    pytest.param(_signed_then(tamper=True), id="body-tampered-after-signing"),
]


def _attacks(h: Harness, request_id: str) -> dict[str, bytes]:
    """Bodies that would do harm if accepted. Each names U0NOBODY, whom the tampering
    forgery swaps for the admin after signing."""
    victim = _instance(h)
    return {
        "grant": slash_command_body("grant <@U0NOBODY> admin", user_id="U0NOBODY"),
        "force": slash_command_body(f"--force {victim}", user_id="U0NOBODY"),
        "confirm": block_action_body(
            ACTION_CONFIRM,
            request_id,
            user_id="U0NOBODY",
            channel_id=CHANNEL,
            message_ts="1700000000.000100",
        ),
    }


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_bad_signature_gets_401_and_records_nothing(harness: Harness, forgery: Forgery) -> None:
    h = harness
    request_id = _preview(h, _instance(h))
    fresh(h)
    before = _counts(h)
    with httpx.Client() as attacker:
        for name, body in _attacks(h, request_id).items():
            sent, headers = forgery(body)
            response = attacker.post(h.sender.events_url, content=sent, headers=headers)
            assert response.status_code == 401, (name, response.status_code, response.text)
    h.settle()
    assert h.slack.calls() == []
    assert len(h.sim.calls) == 0
    assert _counts(h) == before
    assert h.request(request_id).state is RequestState.PREVIEWED


def test_the_same_bodies_signed_now_are_accepted(harness: Harness) -> None:
    """The control for the test above: its bodies fail for their signatures only."""
    h = harness
    request_id = _preview(h, _instance(h))
    with httpx.Client() as slack:
        for name, body in _attacks(h, request_id).items():
            # A signature 290 s old is still inside Slack's five-minute window.
            for age in (0, 290):
                sent, headers = _signed_then(age=age)(body)
                response = slack.post(h.sender.events_url, content=sent, headers=headers)
                assert response.status_code == 200, (name, age, response.status_code)


@pytest.mark.parametrize(
    "body", [b"payload=%7Bnot+json", bytes(range(256))], ids=["bad-json", "not-utf8"]
)
def test_an_unsigned_unparseable_body_gets_401(harness: Harness, body: bytes) -> None:
    h = harness
    with httpx.Client() as anonymous:
        response = anonymous.post(
            h.sender.events_url,
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 401


# --- privilege escalation ----------------------------------------------------------------


def test_an_operator_may_not_grant_or_revoke(harness: Harness) -> None:
    h = harness
    before = _counts(h)
    for text in (
        f"grant <@{OPERATOR}|me> admin",
        "grant <@U0FRIEND|friend> operator",
        "grant <!subteam^S0CREW|@crew> admin",
        f"grant <@{OPERATOR}|me> admin --region {REGION}",
        f"revoke <@{VIEWER}|viewer> viewer",
    ):
        reply = h.command(text).json()["text"]
        assert reply.startswith(":no_entry:"), (text, reply)
        assert "admin role" in reply
    assert _counts(h) == before, "no binding and no audit entry may be written"
    # Still an operator, and only that: a force reboot stays out of reach.
    assert "admin" in h.command(f"--force {_instance(h)}").json()["text"]


def test_an_operator_asking_for_force_is_denied_before_any_preview(harness: Harness) -> None:
    h = harness
    before = row_count(h, "reboot_requests")
    reply = h.command(f"--force {_instance(h)} {_instance(h)}").json()["text"]
    assert reply.startswith(":no_entry:")
    assert "admin" in reply
    h.settle()
    assert h.previews() == []
    assert len(h.sim.calls) == 0
    assert row_count(h, "reboot_requests") == before


def test_an_operator_may_not_confirm_an_admins_force_reboot(harness: Harness) -> None:
    h = harness
    request_id = _preview(h, f"--force {_instance(h)}", user=ADMIN)
    h.click(ACTION_CONFIRM, request_id, user=OPERATOR)
    h.settle()
    assert _real_reboots(h) == 0
    assert h.request(request_id).state is RequestState.PREVIEWED
    assert any(f"<@{ADMIN}>" in text for text in h.ephemerals(OPERATOR))


def test_an_operator_may_not_confirm_or_cancel_another_operators_request(
    harness: Harness,
) -> None:
    h = harness
    request_id = _preview(h, _instance(h), user=OTHER_OPERATOR)
    for action_id in (ACTION_CONFIRM, ACTION_CANCEL):
        assert h.click(action_id, request_id, user=OPERATOR).status_code == 200
    h.settle()
    assert _real_reboots(h) == 0
    refusals = h.ephemerals(OPERATOR)
    assert len(refusals) == 2
    assert all(f"Only <@{OTHER_OPERATOR}>" in text for text in refusals), refusals
    request = h.request(request_id)
    assert request.state is RequestState.PREVIEWED
    assert (request.confirmed_by, request.cancelled_by) == (None, None)
    assert h.audit_actions(request_id) == ["preview"]


def test_a_viewer_forging_a_confirm_on_their_own_preview_is_refused(harness: Harness) -> None:
    h = harness
    request_id = _preview(h, _instance(h), user=VIEWER)
    assert buttons(h.previews()[-1]["blocks"]) == [], "a viewer's preview has no buttons"
    # The viewer builds the click Slack would have sent had there been a button.
    assert h.click(ACTION_CONFIRM, request_id, user=VIEWER).status_code == 200
    h.settle()
    assert _real_reboots(h) == 0
    [refusal] = h.ephemerals(VIEWER)
    assert "operator" in refusal
    assert h.request(request_id).state is RequestState.PREVIEWED
    assert "confirm" not in h.audit_actions(request_id)


def test_a_revoked_operator_may_not_confirm_their_own_preview(harness: Harness) -> None:
    h = harness
    h.grant("U0LEAVER", Role.OPERATOR)
    request_id = _preview(h, _instance(h), user="U0LEAVER")
    roles_service.revoke(
        h.bot.ctx.uow, Binding("U0LEAVER", Role.OPERATOR), actor="test", now=h.clock.now()
    )
    h.click(ACTION_CONFIRM, request_id, user="U0LEAVER")
    h.settle()
    assert _real_reboots(h) == 0
    assert h.request(request_id).state is RequestState.PREVIEWED
    assert any("no role" in text.lower() for text in h.ephemerals("U0LEAVER"))


def test_a_region_scoped_operator_may_not_include_another_region(harness: Harness) -> None:
    h = harness
    h.grant("U0HZ", Role.OPERATOR, region=REGION)
    own, foreign = _instance(h), _instance(h, OTHER_REGION)
    before = row_count(h, "reboot_requests")
    reply = h.command(f"{own} {OTHER_REGION}/{foreign}", user="U0HZ").json()["text"]
    assert reply.startswith(":no_entry:")
    assert foreign in reply
    assert OTHER_REGION in reply
    h.settle()
    assert h.previews() == []
    assert len(h.sim.calls) == 0
    assert row_count(h, "reboot_requests") == before
    # In its own region the same binding works: the denial was about the region.
    request_id = _preview(h, own, user="U0HZ")
    assert buttons(h.previews()[-1]["blocks"])
    assert h.request(request_id).requester == "U0HZ"


def test_a_region_scoped_operator_may_not_confirm_across_regions_by_forged_click(
    harness: Harness,
) -> None:
    h = harness
    # Operator in one region, viewer everywhere: sees a two-region preview, no buttons.
    h.grant("U0MIXED", Role.OPERATOR, region=REGION)
    h.grant("U0MIXED", Role.VIEWER)
    own, foreign = _instance(h), _instance(h, OTHER_REGION)
    request_id = _preview(h, f"{own} {OTHER_REGION}/{foreign}", user="U0MIXED")
    assert buttons(h.previews()[-1]["blocks"]) == []
    h.click(ACTION_CONFIRM, request_id, user="U0MIXED")
    h.settle()
    assert _real_reboots(h) == 0
    assert h.request(request_id).state is RequestState.PREVIEWED
    [refusal] = h.ephemerals("U0MIXED")
    assert foreign in refusal


# --- injection through instance names and tags ------------------------------------------

INJECTIONS = ("<!channel>", "<!here>", "<@U999>", "<!everyone>", "<https://evil.example|")


def _everything_sent(h: Harness, acks: list[httpx.Response]) -> list[tuple[str, str]]:
    """(where, text) for every Slack message the bot sent or answered with: each chat.*
    call and response_url post (text and blocks), and each HTTP answer to Slack."""
    sent = [
        (call.method, json.dumps(call.params, ensure_ascii=False))
        for call in h.slack.calls()
        if call.method.startswith("chat.") or call.method == RESPONSE_URL_METHOD
    ]
    sent += [("ack", response.text) for response in acks]
    return sent


def test_names_and_tags_from_ecs_cannot_inject_mentions_or_markup(harness: Harness) -> None:
    h = harness
    tags = {"team": "<!here>", "<!everyone>": "1"}
    running = h.sim.fleet.add_instance(REGION, name="<!channel> *x* <@U999>", tags=tags)
    stopped = h.sim.fleet.add_instance(
        REGION, name="<https://evil.example|click me> <!here>", status="Stopped", tags=tags
    )
    acks = [h.command(f"{running} {stopped}")]
    h.settle()
    request_id = request_id_of(h.previews()[-1]["blocks"])
    acks.append(h.click(ACTION_CONFIRM, request_id))
    h.settle()
    for _ in range(40):
        if h.request(request_id).state.is_final:
            break
        h.clock.advance(2)
        h.tick()
    # The running one rebooted, the stopped one was skipped (which does not count).
    request = h.request(request_id)
    assert request.state is RequestState.SUCCEEDED
    assert [i.outcome for i in request.instances] == [
        InstanceOutcome.SUCCEEDED,
        InstanceOutcome.SKIPPED,
    ]
    acks.append(h.command(f"status {request_id}"))
    h.settle()

    sent = _everything_sent(h, acks)
    methods = {where for where, _ in sent}
    assert {"chat.postMessage", "chat.update", "ack"} <= methods, methods
    # The name is shown (escaped), so the check below is not passing vacuously.
    assert any("&lt;!channel&gt; *x* &lt;@U999&gt;" in text for _, text in sent)
    leaks = [(where, marker) for where, text in sent for marker in INJECTIONS if marker in text]
    assert leaks == []


# --- secrets -------------------------------------------------------------------------------


def test_no_secret_appears_in_any_slack_message(harness: Harness) -> None:
    h = harness
    secrets_ = {
        "bot token": BOT_TOKEN,
        "signing secret": SIGNING_SECRET,
        "ECS access key secret": h.sim.access_key_secret,
    }
    acks: list[httpx.Response] = []
    # A full reboot, throttled on the way.
    h.sim.faults.throttle("RebootInstances", times=1, retry_after_ms=1)
    acks.append(h.command(f"{_instance(h)} {_instance(h)}"))
    h.settle()
    request_id = request_id_of(h.previews()[-1]["blocks"])
    acks.append(h.click(ACTION_CONFIRM, request_id))
    h.settle()
    for _ in range(40):
        if h.request(request_id).state.is_final:
            break
        h.clock.advance(2)
        h.tick()
    # ECS failing: the error text reaches the person.
    h.sim.faults.fail("DescribeInstances", times=None, code="InternalError")
    acks.append(h.command(_instance(h)))
    h.settle()
    h.sim.faults.clear()
    acks.append(h.command("help"))
    acks.append(h.command("roles", user=ADMIN))
    acks.append(h.command(f"status {request_id}"))
    h.settle()
    told = [text for text in h.ephemerals() if "Could not look the instances up" in text]
    assert told, "the ECS failure was not reported, so the check below proves little"

    leaks = [
        (where, name)
        for where, text in _everything_sent(h, acks)
        for name, secret in secrets_.items()
        if secret in text
    ]
    assert leaks == []
