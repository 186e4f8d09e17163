"""The bot's short answers in words (``bot.slack.text``): each value the core hands over
(a denial, an answer, a role change, the roles view), and the help. Pure: value in,
text out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.errors import EcsError, StoreUnavailable
from bot.domain.model import InstanceRef, RequestState, Role
from bot.domain.parser import CommandError
from bot.domain.policy import (
    Binding,
    ChannelNotAllowed,
    NoRole,
    RequesterOrAdminOnly,
    RoleMissing,
    Target,
    UnscopedAdminNeeded,
)
from bot.domain.request import RebootRequest
from bot.services.answers import (
    AlreadyDecided,
    ClickNotRecorded,
    Denied,
    JobFailed,
    LookupFailed,
    NoSuchRequest,
    NothingToReboot,
    OtherChannel,
    PreviewNote,
    RequestExpired,
    StartInterrupted,
)
from bot.services.roles import RoleChange, RolesView
from bot.slack.text import (
    MAX_PROBLEMS_SHOWN,
    answer_text,
    denial_text,
    help_text,
    preview_note_text,
    problems_text,
    role_change_sentence,
    role_change_text,
    roles_text,
)

HZ = "cn-hangzhou"
SH = "cn-shanghai"
ALICE = "U0ALICE"
BOB = "U0BOB"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
WEB = Target(HZ, "i-bp1web00001")
FAR = Target(SH, "i-uf6far00001")
SCOPED = Binding(ALICE, Role.OPERATOR, region=HZ, tag_key="env", tag_value="prod")


def request(**changes: object) -> RebootRequest:
    fields: dict[str, object] = {
        "id": "01HXYZREQUEST",
        "state": RequestState.EXECUTING,
        "force": False,
        "requester": ALICE,
        "channel": "C0OPS",
        "created_at": T0,
        "expires_at": T0 + timedelta(minutes=5),
        "instances": (),
    }
    fields.update(changes)
    return RebootRequest(**fields)  # type: ignore[arg-type]


# --- denials ---------------------------------------------------------------------------


def test_no_role_names_the_role_to_ask_for() -> None:
    assert denial_text(NoRole(Role.OPERATOR)) == (
        "You have no role for /ecs-reboot; ask an admin to run `/ecs-reboot grant @you operator`."
    )


def test_a_missing_role_names_the_uncovered_instances() -> None:
    assert denial_text(RoleMissing(Role.ADMIN, (FAR,))) == (
        f"You need the admin role for {FAR.instance_id} ({SH}); "
        "ask an admin to run `/ecs-reboot grant @you admin`."
    )


def test_a_long_uncovered_list_is_shortened() -> None:
    targets = tuple(Target(SH, f"i-uf6far{n:05d}") for n in range(12))
    text = denial_text(RoleMissing(Role.OPERATOR, targets))
    assert "and 7 more" in text
    assert targets[4].instance_id in text
    assert targets[5].instance_id not in text


def test_a_channel_denial_links_every_allowed_channel() -> None:
    assert denial_text(ChannelNotAllowed(("C0OPS", "C0SRE"))) == (
        "/ecs-reboot may not act in this channel; use <#C0OPS>, <#C0SRE>."
    )


def test_managing_roles_needs_an_unscoped_admin() -> None:
    assert denial_text(UnscopedAdminNeeded()) == (
        "Granting and revoking roles needs the admin role in every region "
        "(an admin binding with no --region or --tag)."
    )


def test_only_the_requester_or_an_admin_mentions_the_requester() -> None:
    assert denial_text(RequesterOrAdminOnly(ALICE)) == (
        f"Only <@{ALICE}> (who asked) or an admin may do this."
    )


# --- answers ---------------------------------------------------------------------------


def test_a_denied_answer_is_the_denial_with_its_emoji() -> None:
    assert answer_text(Denied(RequesterOrAdminOnly(ALICE))) == (
        f":no_entry: Only <@{ALICE}> (who asked) or an admin may do this."
    )


def test_a_failed_lookup_names_the_regions_and_the_error() -> None:
    error = EcsError(
        "InvalidRegionId.NotFound", "nope", explanation="No such region.", request_id="RID-1"
    )
    assert answer_text(LookupFailed((HZ, SH), error)) == (
        f":x: Could not look the instances up in {HZ}, {SH} (is the region right?): "
        "No such region. (code InvalidRegionId.NotFound, RequestId RID-1) Nothing was rebooted."
    )


def test_an_unknown_request_id_from_a_click_is_never_echoed_as_markup() -> None:
    assert answer_text(NoSuchRequest("abc")) == "No request `abc` exists."
    hostile = answer_text(NoSuchRequest("`<!channel>`" + "x" * 100))
    assert hostile == "No request `'‹!channel›'" + "x" * 52 + "` exists."


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        (OtherChannel(), "That button belongs to a request in another channel."),
        (NothingToReboot(), "Nothing in this request can be rebooted."),
        (
            RequestExpired("01HXYZREQUEST", 300),
            ":hourglass: Request `01HXYZREQUEST` expired (the buttons last 300 s). "
            "Nothing was rebooted; run the command again.",
        ),
        (
            AlreadyDecided(request(confirmed_by=BOB)),
            f"Request `01HXYZREQUEST` was already confirmed by <@{BOB}>; it is executing.",
        ),
        (
            AlreadyDecided(request(state=RequestState.CANCELLED, cancelled_by=BOB)),
            f"Request `01HXYZREQUEST` was already cancelled by <@{BOB}>.",
        ),
        (
            AlreadyDecided(request(state=RequestState.EXPIRED)),
            "Request `01HXYZREQUEST` is expired; nothing more can be done with it.",
        ),
        (
            ClickNotRecorded(StoreUnavailable("The database did not answer.")),
            ":x: The database did not answer. Nothing was done; click again later.",
        ),
        (
            StartInterrupted(request(state=RequestState.EXECUTING)),
            ":warning: Request `01HXYZREQUEST` is confirmed, but the bot's database stopped "
            "answering while its reboot was starting. It goes on by itself as soon as the "
            "database answers; no instance is sent a reboot twice. No need to click again.",
        ),
        (
            JobFailed(StoreUnavailable("The database did not answer.")),
            ":x: The database did not answer.",
        ),
        (
            JobFailed(),
            ":x: Something went wrong on my side; nothing more was done. "
            "The operators can find the details in the bot's log.",
        ),
    ],
)
def test_each_answer_in_words(answer: object, text: str) -> None:
    assert answer_text(answer) == text  # type: ignore[arg-type]


def test_a_preview_note_lists_the_dropped_repeats_and_why_the_requester_may_only_view() -> None:
    dropped = tuple(InstanceRef(HZ, f"i-bp1dup{n:06d}") for n in range(12))
    note = PreviewNote(ALICE, duplicates=dropped, view_only=RoleMissing(Role.OPERATOR, (WEB,)))
    text = preview_note_text(note)
    assert text is not None
    assert text.startswith("Dropped 12 duplicate(s): `i-bp1dup000000`, ")
    assert "`i-bp1dup000009`." in text
    assert "i-bp1dup000010" not in text
    assert text.endswith(
        f" <@{ALICE}> may view but not reboot: You need the operator role for "
        f"{WEB.instance_id} ({HZ}); ask an admin to run `/ecs-reboot grant @you operator`."
    )
    assert preview_note_text(PreviewNote(ALICE)) is None


# --- roles -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "text"),
    [
        (
            RoleChange("grant", SCOPED, changed=True),
            f"Granted <@{ALICE}>: operator in cn-hangzhou for env=prod.",
        ),
        (
            RoleChange("grant", SCOPED, changed=False),
            f"<@{ALICE}>: operator in cn-hangzhou for env=prod was already granted; "
            "nothing changed.",
        ),
        (
            RoleChange("revoke", Binding("S0ONCALL", Role.ADMIN), changed=True),
            "Revoked <!subteam^S0ONCALL>: admin.",
        ),
        (
            RoleChange("revoke", Binding("S0ONCALL", Role.ADMIN), changed=False),
            "There was no binding <!subteam^S0ONCALL>: admin; nothing changed.",
        ),
        (
            Denied(UnscopedAdminNeeded()),
            ":no_entry: Granting and revoking roles needs the admin role in every region "
            "(an admin binding with no --region or --tag).",
        ),
    ],
)
def test_a_role_change_in_slack_words(change: RoleChange | Denied, text: str) -> None:
    assert role_change_text(change) == text


def test_a_role_change_with_the_subject_as_the_command_line_shows_it() -> None:
    change = RoleChange("grant", SCOPED, changed=True)
    assert role_change_sentence(change, "U0ALICE: operator") == "Granted U0ALICE: operator."


def test_the_roles_view_of_someone_without_a_role() -> None:
    text = roles_text(RolesView(bootstrap_admin=False, own=()))
    assert text.splitlines() == [
        "You have no role yet: ask an admin to `/ecs-reboot grant @you operator`.",
        "Roles: viewer (help, status, see previews) < operator (+ confirm normal reboots) "
        "< admin (+ force reboots, confirm anyone's request, grant and revoke).",
    ]


def test_the_roles_view_of_an_admin_lists_every_binding() -> None:
    everyone = (Binding(ALICE, Role.ADMIN), Binding("S0ONCALL", Role.VIEWER, region=SH))
    view = RolesView(bootstrap_admin=True, own=(SCOPED,), everyone=everyone)
    assert roles_text(view).splitlines()[:5] == [
        "You are an admin everywhere (ECSBOT_ADMINS).",
        "Your roles: operator in cn-hangzhou for env=prod.",
        "*All bindings* (2):",
        f"• <@{ALICE}>: admin",
        f"• <!subteam^S0ONCALL>: viewer in {SH}",
    ]


# --- commands --------------------------------------------------------------------------


def test_problems_are_one_bullet_each_and_capped() -> None:
    assert problems_text(CommandError(("One.", "Two."))) == (
        ":warning: Nothing was done:\n• One.\n• Two.\nSee `/ecs-reboot help`."
    )
    many = problems_text(CommandError(tuple(f"P{n}." for n in range(MAX_PROBLEMS_SHOWN + 3))))
    assert f"• P{MAX_PROBLEMS_SHOWN - 1}." in many
    assert f"P{MAX_PROBLEMS_SHOWN}." not in many
    assert "\n…and 3 more problems.\n" in many


def test_help_text_lists_every_subcommand_flag_id_format_and_role() -> None:
    text = help_text(default_region=HZ, max_instances=500, confirm_ttl=300)
    for needle in ["status", "roles", "grant", "revoke", "help", "--region", "--force", "--tag"]:
        assert needle in text
    for role in Role:
        assert f"`{role.value}`" in text
    assert "REGION/i-" in text
    assert "REGION:i-" in text
    assert "8 to 30" in text
    assert "Example" in text


def test_help_text_shows_the_settings_it_is_given() -> None:
    text = help_text(default_region=HZ, max_instances=250, confirm_ttl=120)
    assert f"(default here: `{HZ}`)" in text
    assert "At most 250 instances per request." in text
    assert "buttons last 120 s" in text
    bare = help_text()
    assert "default here" not in bare
    assert "At most" not in bare
    assert "buttons last" not in bare


def test_the_approval_clause_names_the_listed_accounts() -> None:
    from bot.domain.approval import ApprovalNeed, ApprovalTrigger
    from bot.slack.text import approval_triggers_text

    need = ApprovalNeed(1, (ApprovalTrigger.FORCE, ApprovalTrigger.ACCOUNT), accounts=("prod",))
    assert approval_triggers_text(need) == "it is a force reboot and it touches account `prod`"
