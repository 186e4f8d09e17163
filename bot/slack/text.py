"""The bot's short answers in Slack's words (mrkdwn): denials, ephemeral replies, role
changes, the help. Pure: values in, text out.

The domain and the use cases hand over values (``bot.domain.policy.Denial``,
``bot.services.answers.Answer``, ``bot.services.roles.RoleChange``); the look of those
values is decided here, next to ``bot.slack.blocks`` which draws the request messages.

Why one file of about 650 lines: it holds the words of every value a use case answers
with, section by section (denials, schedules, answers, roles, help), so the bot speaks
with one voice and a reviewer finds every sentence in one place; the sections share
its small helpers (code spans, mentions, dates).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.domain.accounts import DEFAULT_ACCOUNT, AccountProblem
from bot.domain.approval import ApprovalNeed, ApprovalRules, ApprovalTrigger
from bot.domain.model import RequestState, Role
from bot.domain.parser import ID_RULE, REBOOT_EXAMPLE, REBOOT_USAGE, TABLE, CommandError, Keyword
from bot.domain.parser.options import REASON, REGION, Option, binding_usage
from bot.domain.policy import (
    Binding,
    ChannelNotAllowed,
    Denial,
    NoRole,
    OwnRequest,
    RequesterOrAdminOnly,
    RoleMissing,
    Target,
    UnscopedAdminNeeded,
)
from bot.domain.request import RebootRequest
from bot.domain.schedule import ScheduleEvent, ScheduleEventKind
from bot.domain.selectors import MAX_SELECTOR_TEXT
from bot.services.answers import (
    AlreadyApproved,
    AlreadyDecided,
    AlreadyRetried,
    Answer,
    ApprovalRecorded,
    CannotSchedule,
    CardEventsEnded,
    ClickNotRecorded,
    Denied,
    JobFailed,
    LookupFailed,
    MatchCapped,
    NoMatch,
    NoSuchCard,
    NoSuchRequest,
    NotAwaitingApproval,
    NothingToReboot,
    NothingToRetry,
    NotRunning,
    OtherChannel,
    PreviewNote,
    RequestExpired,
    Selection,
    StartInterrupted,
    TooManyMatched,
)
from bot.services.roles import RoleChange, RolesView
from bot.services.scheduled import ScheduledView
from bot.slack.blocks import slack_date

# --- denials ---------------------------------------------------------------------------


def denial_text(denial: Denial) -> str:
    """The sentence that says which permission is missing (no emoji: callers add it)."""
    match denial:
        case NoRole(needed):
            return f"You have no role for /ecs-reboot; {_ask_admin(needed)}"
        case RoleMissing(needed, uncovered):
            return f"You need the {needed.value} role for {_list_targets(uncovered)}; " + (
                _ask_admin(needed)
            )
        case ChannelNotAllowed(allowed_channels):
            listed = ", ".join(f"<#{channel}>" for channel in allowed_channels)
            return f"/ecs-reboot may not act in this channel; use {listed}."
        case UnscopedAdminNeeded():
            return (
                "Granting and revoking roles needs the admin role in every region "
                "(an admin binding with no --region or --tag)."
            )
        case RequesterOrAdminOnly(requester):
            return f"Only <@{requester}> (who asked) or an admin may do this."
        case OwnRequest():
            return (
                "You asked for this reboot, so someone else must approve or reject it "
                "(four eyes); Cancel withdraws it."
            )


def denied_text(denial: Denial) -> str:
    """A denial as the ephemeral reply to the person who was denied."""
    return f":no_entry: {denial_text(denial)}"


def _ask_admin(needed: Role) -> str:
    return f"ask an admin to run `/ecs-reboot grant @you {needed.value}`."


def _list_targets(targets: Sequence[Target], limit: int = 5) -> str:
    # A target without an id stands for what a selector may match in its region.
    def where(t: Target) -> str:
        return t.region if t.account == DEFAULT_ACCOUNT else f"{t.account} · {t.region}"

    shown = ", ".join(
        f"{t.instance_id} ({where(t)})" if t.instance_id else f"instances in {where(t)}"
        for t in targets[:limit]
    )
    more = len(targets) - limit
    return shown + (f" and {more} more" if more > 0 else "")


# --- scheduled reboots (docs/PRODUCT.md §5.10) -----------------------------------------


def _date(moment: datetime | None) -> str:
    return "at its time" if moment is None else slack_date(moment)


def _lost_permission(user: str | None, denial: Denial | None) -> str:
    who = f"<@{user}>" if user else "whoever confirmed it"
    match denial:
        case NoRole():
            return f"{who}, who confirmed it, no longer holds any /ecs-reboot role."
        case RoleMissing(needed, uncovered):
            return (
                f"{who}, who confirmed it, no longer holds the {needed.value} role for "
                f"{_list_targets(uncovered)}."
            )
        case RequesterOrAdminOnly(requester):
            return (
                f"{who}, who confirmed it for <@{requester}>, is no longer an admin for "
                "these instances."
            )
        case None:
            return f"{who}, who confirmed it, may no longer run it."
        case _:
            return f"{who}, who confirmed it, may no longer run it: {denial_text(denial)}"


def schedule_event_text(request: RebootRequest, event: ScheduleEvent) -> str:
    """A moment of a scheduled request, for its thread and the notify channel."""
    count = len(request.to_reboot)
    what = f"reboot `{request.id}` ({count} instance{'' if count == 1 else 's'})"
    window = f" in window `{request.window}`" if request.window else ""
    match event.kind:
        case ScheduleEventKind.SCHEDULED:
            return (
                f":calendar: Scheduled: {what}{window} starts {_date(event.at)}, requested by "
                f"<@{request.requester}>, confirmed by <@{request.confirmed_by}>. Cancel on "
                "the request message stops it; nothing reboots before then."
            )
        case ScheduleEventKind.REMINDER:
            return (
                f":alarm_clock: Reminder: {what}{window} starts {_date(event.at)}. Cancel on "
                "the request message if it should not."
            )
        case ScheduleEventKind.STARTED_LATE:
            return (
                f":hourglass_flowing_sand: {what} was due {_date(event.at)} and starts late "
                "(no poller was running then), within ECSBOT_SCHEDULE_GRACE."
            )
        case ScheduleEventKind.EXPIRED:
            return (
                f":hourglass: Expired: {what} was due {_date(event.at)} and could not start "
                "within ECSBOT_SCHEDULE_GRACE of it (no poller ran, or the last click came "
                "too late), so it does not start at a time nobody expects. Nothing was "
                "rebooted; request it again if it is still needed."
            )
        case ScheduleEventKind.PERMISSION_LOST:
            return (
                f":no_entry_sign: Not started, cancelled: {what}. "
                f"{_lost_permission(event.user, event.denial)} Nothing was rebooted."
            )
        case ScheduleEventKind.NOTHING_LEFT:
            return (
                f":no_entry_sign: Not started, cancelled: {what}. Checked again at the start, "
                "none of its instances can be rebooted now (stopped, locked or refused; "
                "each line of the request says why). Nothing was rebooted."
            )
        case ScheduleEventKind.SOME_SKIPPED:
            return (
                f":warning: {what} starts; {_instances(event.count)} of it can no longer be "
                "rebooted (checked again at the start) and are skipped."
            )
        case ScheduleEventKind.WINDOW_CLOSED:
            return (
                f":crescent_moon: {what}: window `{request.window}` closed with waves left; "
                f"paused until it opens again {_date(event.at)}, then it goes on by itself."
            )
        case ScheduleEventKind.WINDOW_REOPENED:
            return (
                f":sunrise: {what}: window `{request.window}` is open again; the rollout goes on."
            )
    return what  # pragma: no cover - every kind is spelled above


def _instances(count: int) -> str:
    return f"{count} instance{'' if count == 1 else 's'}"


def scheduled_text(view: ScheduledView) -> str:
    """``/ecs-reboot scheduled``: what waits for its time, and the windows."""
    lines = [":calendar: *Scheduled reboots*"]
    if not view.scheduled and not view.waiting_for_window:
        lines.append("Nothing is scheduled.")
    for request in view.scheduled:
        inside = f" in window `{request.window}`" if request.window else ""
        lines.append(
            f"• `{request.id}` {_date(request.scheduled_for)}{inside}: "
            f"{_instances(len(request.to_reboot))} in {', '.join(request.regions)}, "
            f"requested by <@{request.requester}>, confirmed by <@{request.confirmed_by}>"
        )
    for request in view.waiting_for_window:
        lines.append(
            f"• `{request.id}` rollout paused, window `{request.window}` closed: goes on "
            f"{_date(request.window_reopens_at)} (requested by <@{request.requester}>)"
        )
    lines.append("")
    if not view.windows:
        lines.append(
            f"No maintenance window is set up (ECSBOT_WINDOWS). Times without an offset are "
            f"read in {view.timezone}."
        )
        return "\n".join(lines)
    lines.append(f"*Windows* (times without an offset are read in {view.timezone})")
    for shown in view.windows:
        window = shown.window
        now_open = (
            f"open now, until {_date(shown.open_until)}; " if shown.open_until is not None else ""
        )
        lines.append(
            f"• `{window.name}`: {window.describe_days()} {window.opens:%H:%M}-"
            f"{window.closes:%H:%M} {window.tz}: {now_open}next opens {_date(shown.next_opening)}"
        )
    return "\n".join(lines)


# --- ephemeral answers -----------------------------------------------------------------


def answer_text(answer: Answer) -> str:
    """What ``Presenter.tell`` posts for ``answer``."""
    match answer:
        case Denied(denial):
            return denied_text(denial)
        case CannotSchedule(problem):
            return f":x: {problem.message} Nothing was previewed or rebooted."
        case AccountProblem(known, unknown, bare_ids):
            names = ", ".join(f"`{name}`" for name in known)
            if unknown:
                listed = ", ".join(f"`{_code_safe(name)}`" for name in unknown)
                why = f"No account {listed} here"
            elif bare_ids:
                why = "Instance ids belong to one account, and several were named"
            else:
                why = "Several accounts are configured and none is the default"
            return (
                f":x: {why}; name one with `--account NAME` (known: {names}), or select "
                "by `tag:`/`name:` across several. Nothing was looked up."
            )
        case LookupFailed(regions, error):
            return (
                f":x: Could not look the instances up in {', '.join(regions)} (is the region "
                f"right?): {error.describe()} Nothing was rebooted."
            )
        case NoMatch(selection, contradictory):
            why = " (one tag key is asked for two values)" if contradictory else ""
            return (
                f":mag: {_selectors(selection)} matched no instance in "
                f"{', '.join(region for region, _ in selection.per_region)}{why}. "
                "Nothing was previewed; check the tag or name (tags and names are "
                "case-sensitive)." + _unreachable_text(selection)
            )
        case TooManyMatched(selection, count, limit):
            return (
                f":x: {selection_text(selection)}: {count} instances in all, more than the "
                f"{limit} one request may hold (ECSBOT_MAX_INSTANCES). Nothing was "
                "previewed; narrow the selectors (another `tag:`, a `name:` pattern) or "
                "split the request by region."
            )
        case MatchCapped(selection, regions, limit):
            return (
                f":x: {_selectors(selection)} matched at least {limit:,} instances in "
                f"{', '.join(regions)}, and ECS lists only the first {limit:,} for a tag "
                "filter, so the match would be incomplete. Nothing was previewed; narrow "
                "the selectors."
            )
        case NoSuchRequest(request_id):
            # The value came from the click payload: never echo it as mrkdwn.
            shown = request_id.replace("`", "'").replace("<", "‹").replace(">", "›")[:64]
            return f"No request `{shown}` exists."
        case NoSuchCard(card_id):
            shown = card_id.replace("`", "'").replace("<", "‹").replace(">", "›")[:64]
            return f"No card `{shown}` exists; nothing was previewed."
        case OtherChannel():
            return "That button belongs to a request in another channel."
        case RequestExpired(request_id, confirm_ttl):
            return (
                f":hourglass: Request `{request_id}` expired (the buttons last "
                f"{confirm_ttl} s). Nothing was rebooted; run the command again."
            )
        case AlreadyDecided(request):
            if request.confirmed_by:
                return (
                    f"Request `{request.id}` was already confirmed by "
                    f"<@{request.confirmed_by}>; it is {request.state.value}."
                )
            if request.cancelled_by:
                return f"Request `{request.id}` was already cancelled by <@{request.cancelled_by}>."
            return (
                f"Request `{request.id}` is {request.state.value}; "
                "nothing more can be done with it."
            )
        case NotRunning(request, action):
            return _not_running_text(request, action)
        case NothingToReboot():
            return "Nothing in this request can be rebooted."
        case ClickNotRecorded(error):
            return f":x: {error} Nothing was done; click again later."
        case AlreadyApproved(request):
            return (
                f"You approved request `{request.id}` already; it has "
                f"{len(request.approvals)}/{request.approvals_needed} approvals. "
                "Each person counts once."
            )
        case ApprovalRecorded(request, started):
            if request.state is RequestState.SCHEDULED and request.scheduled_for is not None:
                return (
                    f":white_check_mark: Your approval made {len(request.approvals)}/"
                    f"{request.approvals_needed}: request `{request.id}` is scheduled for "
                    f"{slack_date(request.scheduled_for)}."
                )
            if started:
                return (
                    f":white_check_mark: Your approval made {len(request.approvals)}/"
                    f"{request.approvals_needed}: request `{request.id}` is rebooting now."
                )
            left = request.approvals_needed - len(request.approvals)
            return (
                f":white_check_mark: Approved request `{request.id}` "
                f"({len(request.approvals)}/{request.approvals_needed}); "
                f"{left} more approval{'s' if left != 1 else ''} needed."
            )
        case NotAwaitingApproval(request):
            return (
                f"Request `{request.id}` is {request.state.value.replace('_', ' ')}, not "
                "waiting for approval; nothing changed."
            )
        case NothingToRetry(request):
            if not request.state.is_final:
                return f"Request `{request.id}` has not finished yet; nothing to retry."
            return f"Request `{request.id}` has no failed instance to retry."
        case CardEventsEnded():
            return (
                ":white_check_mark: Every event of this card has ended (or the platform is "
                "rebooting the instance now): there is nothing left to reboot for it. "
                "Nothing was recorded."
            )
        case AlreadyRetried(request_id, retry_id):
            return (
                f"Retry was clicked already on request `{request_id}`: it opened request "
                f"`{retry_id}`. Nothing new was opened."
            )
        case StartInterrupted(request):
            return (
                f":warning: Request `{request.id}` is confirmed, but the bot's database stopped "
                "answering while its reboot was starting. It goes on by itself as soon as the "
                "database answers; no instance is sent a reboot twice. No need to click again."
            )
        case JobFailed(None):
            return (
                ":x: Something went wrong on my side; nothing more was done. "
                "The operators can find the details in the bot's log."
            )
        case JobFailed(error):
            return f":x: {error}"


def _not_running_text(request: RebootRequest, action: str) -> str:
    state = request.state.value.replace("_", " ")
    if request.stop_reason is not None and request.state.is_running:
        return (
            f"Request `{request.id}` is already stopping: no new wave is sent and it ends "
            "aborted once the wave in flight is over. Nothing changed."
        )
    if action == "pause" and request.state is RequestState.PAUSED:
        return f"Request `{request.id}` is already paused. Nothing changed."
    if action == "resume" and request.state is RequestState.EXECUTING:
        return f"Request `{request.id}` is not paused; it is running. Nothing changed."
    return f"Request `{request.id}` is {state}, not a running rollout: nothing to {action}."


def preview_note_text(note: PreviewNote) -> str | None:
    """The line below a preview's instances, or None when there is nothing to say."""
    parts = []
    if note.selection is not None:
        parts.append(selection_text(note.selection) + ".")
    if note.duplicates:
        shown = ", ".join(f"`{ref.instance_id}`" for ref in note.duplicates[:10])
        parts.append(f"Dropped {len(note.duplicates)} duplicate(s): {shown}.")
    if note.view_only is not None:
        parts.append(f"<@{note.user}> may view but not reboot: {denial_text(note.view_only)}")
    if note.retry_of:
        parts.append(f"Retries the failed instances of request `{note.retry_of}`.")
    if note.approval is not None:
        parts.append(f"Approval applies because {approval_triggers_text(note.approval)}.")
    for event in note.avoids[:20]:
        parts.append(
            f":calendar: `{event.instance_id}`: platform reboot scheduled for "
            f"{slack_date(event.not_before)} ({event.event_type}); this reboot avoids it."
        )
    if len(note.avoids) > 20:
        parts.append(f"…and {len(note.avoids) - 20} more platform reboots it avoids.")
    return " ".join(parts) or None


def approval_triggers_text(need: ApprovalNeed) -> str:
    """Why a request needs approval, as a clause: ``it is a force reboot``."""
    clauses = []
    for trigger in need.triggers:
        if trigger is ApprovalTrigger.FORCE:
            clauses.append("it is a force reboot")
        elif trigger is ApprovalTrigger.SIZE:
            clauses.append("it reboots many instances (ECSBOT_APPROVALS_ABOVE)")
        elif trigger is ApprovalTrigger.ACCOUNT:
            accounts = ", ".join(f"`{name}`" for name in need.accounts)
            clauses.append(f"it touches account {accounts}")
        else:
            tags = ", ".join(f"`{k}={v}`" for k, v in need.tags)
            clauses.append(f"it touches instances tagged {tags}")
    return " and ".join(clauses) or "a rule says so"


def _selectors(selection: Selection) -> str:
    return " ".join(f"`{_code_safe(text)}`" for text in selection.selectors)


def _code_safe(text: str) -> str:
    # Typed by a person; a backtick would end the code span early.
    return text.replace("`", "'")[:MAX_SELECTOR_TEXT]


def _unreachable_text(selection: Selection) -> str:
    """Accounts a selector could not search: their role could not be assumed (§5.13)."""
    if not selection.unreachable:
        return ""
    listed = ", ".join(f"`{account}` ({code})" for account, code in selection.unreachable)
    return (
        f" Not searched: account {listed}, whose role could not be assumed; "
        "check ECSBOT_ACCOUNTS and the role's trust policy."
    )


def selection_text(selection: Selection) -> str:
    """``tag:app=web → 37 in cn-hangzhou, 4 in cn-shanghai``, with the ids given besides."""
    if not selection.matched:
        searched = ", ".join(region for region, _ in selection.per_region)
        text = f":warning: {_selectors(selection)} matched no instance in {searched}"
        if selection.ids_given:
            text += f"; previewing the {selection.ids_given} named by id"
        return text + _unreachable_text(selection)
    regions = ", ".join(f"{count} in {region}" for region, count in selection.per_region)
    text = f"{_selectors(selection)} → {regions}"
    if len(selection.per_region) > 1:
        text += f" ({selection.matched} in all)"
    if selection.ids_given:
        text += f", plus {selection.ids_given} named by id"
    return text + _unreachable_text(selection)


# --- roles -----------------------------------------------------------------------------


def subject_mention(subject: str) -> str:
    """A binding's subject as Slack shows it: a user group (``S…``) or a person."""
    return f"<!subteam^{subject}>" if subject.startswith("S") else f"<@{subject}>"


def binding_text(binding: Binding) -> str:
    return f"{subject_mention(binding.subject)}: {binding.describe()}"


def role_change_sentence(change: RoleChange, shown: str) -> str:
    """A grant or revoke in words, with the binding ``shown`` as the surface shows it
    (Slack mentions the subject; the command line prints the bare id)."""
    if change.kind == "grant":
        return (
            f"Granted {shown}."
            if change.changed
            else f"{shown} was already granted; nothing changed."
        )
    return (
        f"Revoked {shown}." if change.changed else f"There was no binding {shown}; nothing changed."
    )


def role_change_text(change: RoleChange | Denied | AccountProblem) -> str:
    """The reply to ``/ecs-reboot grant|revoke``."""
    if isinstance(change, Denied):
        return denied_text(change.denial)
    if isinstance(change, AccountProblem):
        unknown = ", ".join(f"`{_code_safe(name)}`" for name in change.unknown)
        known = ", ".join(f"`{name}`" for name in change.known)
        return f":x: No account {unknown} here (known: {known}). Nothing was granted."
    return role_change_sentence(change, binding_text(change.binding))


def roles_text(view: RolesView) -> str:
    """The reply to ``/ecs-reboot roles``."""
    lines = []
    if view.bootstrap_admin:
        lines.append("You are an admin everywhere (ECSBOT_ADMINS).")
    own = [b.describe() for b in view.own]
    if own:
        lines.append("Your roles: " + "; ".join(own) + ".")
    elif not view.bootstrap_admin:
        lines.append("You have no role yet: ask an admin to `/ecs-reboot grant @you operator`.")
    if view.everyone is not None:
        lines.append(f"*All bindings* ({len(view.everyone)}):")
        lines.extend(f"• {binding_text(b)}" for b in view.everyone)
    lines.append(
        "Roles: viewer (help, status, see previews) < operator (+ confirm normal reboots) "
        "< admin (+ force reboots, confirm anyone's request, grant and revoke)."
    )
    return "\n".join(lines)


# --- commands --------------------------------------------------------------------------

# Enough to show what is wrong; a pasted novel must not become a 3 MB reply.
MAX_PROBLEMS_SHOWN = 20


def problems_text(error: CommandError) -> str:
    """The reply to a command that could not be read: every problem, one bullet each
    (at most ``MAX_PROBLEMS_SHOWN``), then where to read more."""
    shown = "\n".join(f"• {problem}" for problem in error.problems[:MAX_PROBLEMS_SHOWN])
    more = len(error.problems) - MAX_PROBLEMS_SHOWN
    if more > 0:
        shown += f"\n…and {more} more problem{'s' if more != 1 else ''}."
    return f":warning: Nothing was done:\n{shown}\nSee `/ecs-reboot help`."


def _approval_help(rules: ApprovalRules | None, approval_ttl: int | None) -> list[str]:
    """The help's lines on four-eyes approval, with the rules in force when known."""
    lines = [
        "",
        "*Approval (four eyes)*",
        "• When a rule applies, your Reboot click asks for approval: someone else who "
        "could confirm the request (operator; admin for --force) clicks Approve or Reject. "
        "You never approve your own request.",
    ]
    if rules is not None:
        applies = []
        if rules.for_force:
            applies.append("force reboots")
        if rules.above > 0:
            applies.append(f"requests of more than {rules.above} instances")
        if rules.for_tags:
            applies.append("instances tagged " + ", ".join(f"`{k}={v}`" for k, v in rules.for_tags))
        if applies:
            wait = f"; the wait lasts {approval_ttl} s" if approval_ttl else ""
            lines.append(
                f"• Here it applies to {'; '.join(applies)}, and needs "
                f"{rules.quorum} approval{'s' if rules.quorum != 1 else ''}{wait}."
            )
        else:
            lines.append("• No approval rule is set here: a confirm reboots at once.")
    lines.append(
        "• A finished request with failed, timed-out or aborted instances has a Retry "
        "button in its thread: it previews exactly those again (same mode and reason)."
    )
    return lines


def _option_lines(notes: dict[Option[Any], str]) -> list[str]:
    """One line per reboot option of the table (docs/ARCHITECTURE.md, "Adding a flag");
    a family's options share one line, where its first one stands. ``notes`` are what
    this workspace's settings add to an option, shown beside its name."""
    options = TABLE.specific_to(Keyword.REBOOT)
    lines: list[str] = []
    for option in options:
        family = option.family
        if family is None:
            note = f" {notes[option]}" if option in notes else ""
            lines.append(f"• `{option.usage()}`{note}: {option.help}.")
        elif option == next(o for o in options if o.family == family):
            members = [f"`{o.usage()}` ({o.help})" for o in options if o.family == family]
            lines.append(f"• {family.help} " + ", ".join(members) + ".")
    return lines


def help_text(
    *,
    default_region: str | None = None,
    max_instances: int | None = None,
    confirm_ttl: int | None = None,
    approval: ApprovalRules | None = None,
    approval_ttl: int | None = None,
    require_reason: bool = False,
) -> str:
    """The reply to ``/ecs-reboot help``. Pass the settings to show them."""
    limit = f" At most {max_instances} instances per request." if max_instances else ""
    buttons = (
        [f"• A preview's Confirm and Cancel buttons last {confirm_ttl} s."] if confirm_ttl else []
    )
    notes: dict[Option[Any], str] = {}
    if default_region:
        notes[REGION] = f"(default here: `{default_region}`)"
    if require_reason:
        notes[REASON] = "(*required here*)"
    scopes = "/".join(f"`{option.name}`" for option in TABLE.specific_to(Keyword.GRANT))
    return "\n".join(
        [
            "*/ecs-reboot* reboots Alibaba Cloud ECS instances after a preview you confirm.",
            "",
            f"*Reboot*  {REBOOT_USAGE}",
            "• TARGETS: instance ids and selectors, in any mix. Ids separated by spaces, "
            "commas, semicolons or new lines; lines pasted from the ECS console work too "
            "(other columns are ignored)." + limit,
            f"• An id is {ID_RULE}. Write `REGION/i-…` or `REGION:i-…` to name its region.",
            "• Selectors: `tag:KEY=VALUE` (instances with that tag) and `name:PATTERN` "
            "(`*` matches any run of characters, e.g. `name:web-*`). All selectors must "
            "hold together; ids given as well are added. The match is shown in the "
            "preview and frozen there: Reboot acts on exactly the instances shown.",
            *_option_lines(notes),
            *buttons,
            f"• Example: {REBOOT_EXAMPLE}",
            "",
            "*Other commands*",
            "• `/ecs-reboot status REQUEST_ID`: where a request stands.",
            "• `/ecs-reboot roles`: who holds which role.",
            "• `/ecs-reboot scheduled`: the scheduled reboots and the maintenance windows.",
            "• `/ecs-reboot events`: Alibaba Cloud's pending maintenance reboots, when the "
            "bot watches them.",
            f"• {binding_usage(Keyword.GRANT)}: give a role (admins only); {scopes} "
            "limit it to those instances.",
            f"• {binding_usage(Keyword.REVOKE)}: take it back.",
            "• `/ecs-reboot help`: this text.",
            "",
            "*Roles*",
            "• `viewer`: help, status, see previews.",
            "• `operator`: as viewer, and confirm normal reboots.",
            "• `admin`: as operator, and force reboots, confirm anyone's request, "
            "grant and revoke roles.",
            *_approval_help(approval, approval_ttl),
        ]
    )
