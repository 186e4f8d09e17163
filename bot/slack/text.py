"""The bot's short answers in Slack's words (mrkdwn): denials, ephemeral replies, role
changes, the help. Pure: values in, text out.

The domain and the use cases hand over values (``bot.domain.policy.Denial``,
``bot.services.answers.Answer``, ``bot.services.roles.RoleChange``); the look of those
values is decided here, next to ``bot.slack.blocks`` which draws the request messages.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.model import RequestState, Role
from bot.domain.parser import ID_RULE, REBOOT_EXAMPLE, REBOOT_USAGE, CommandError
from bot.domain.policy import (
    Binding,
    ChannelNotAllowed,
    Denial,
    NoRole,
    RequesterOrAdminOnly,
    RoleMissing,
    Target,
    UnscopedAdminNeeded,
)
from bot.domain.request import RebootRequest
from bot.services.answers import (
    AlreadyDecided,
    Answer,
    ClickNotRecorded,
    Denied,
    JobFailed,
    LookupFailed,
    NoSuchRequest,
    NothingToReboot,
    NotRunning,
    OtherChannel,
    PreviewNote,
    RequestExpired,
)
from bot.services.roles import RoleChange, RolesView

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


def denied_text(denial: Denial) -> str:
    """A denial as the ephemeral reply to the person who was denied."""
    return f":no_entry: {denial_text(denial)}"


def _ask_admin(needed: Role) -> str:
    return f"ask an admin to run `/ecs-reboot grant @you {needed.value}`."


def _list_targets(targets: Sequence[Target], limit: int = 5) -> str:
    shown = ", ".join(f"{t.instance_id} ({t.region})" for t in targets[:limit])
    more = len(targets) - limit
    return shown + (f" and {more} more" if more > 0 else "")


# --- ephemeral answers -----------------------------------------------------------------


def answer_text(answer: Answer) -> str:
    """What ``Presenter.tell`` posts for ``answer``."""
    match answer:
        case Denied(denial):
            return denied_text(denial)
        case LookupFailed(regions, error):
            return (
                f":x: Could not look the instances up in {', '.join(regions)} (is the region "
                f"right?): {error.describe()} Nothing was rebooted."
            )
        case NoSuchRequest(request_id):
            # The value came from the click payload: never echo it as mrkdwn.
            shown = request_id.replace("`", "'").replace("<", "‹").replace(">", "›")[:64]
            return f"No request `{shown}` exists."
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
    if note.duplicates:
        shown = ", ".join(f"`{ref.instance_id}`" for ref in note.duplicates[:10])
        parts.append(f"Dropped {len(note.duplicates)} duplicate(s): {shown}.")
    if note.view_only is not None:
        parts.append(f"<@{note.user}> may view but not reboot: {denial_text(note.view_only)}")
    return " ".join(parts) or None


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


def role_change_text(change: RoleChange | Denied) -> str:
    """The reply to ``/ecs-reboot grant|revoke``."""
    if isinstance(change, Denied):
        return denied_text(change.denial)
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


def help_text(
    *,
    default_region: str | None = None,
    max_instances: int | None = None,
    confirm_ttl: int | None = None,
) -> str:
    """The reply to ``/ecs-reboot help``. Pass the settings to show them."""
    region_default = f" (default here: `{default_region}`)" if default_region else ""
    limit = f" At most {max_instances} instances per request." if max_instances else ""
    buttons = (
        [f"• A preview's Confirm and Cancel buttons last {confirm_ttl} s."] if confirm_ttl else []
    )
    return "\n".join(
        [
            "*/ecs-reboot* reboots Alibaba Cloud ECS instances after a preview you confirm.",
            "",
            f"*Reboot*  {REBOOT_USAGE}",
            "• INSTANCES: ids separated by spaces, commas, semicolons or new lines; "
            "lines pasted from the ECS console work too (other columns are ignored)." + limit,
            f"• An id is {ID_RULE}. Write `REGION/i-…` or `REGION:i-…` to name its region.",
            f"• `--region REGION`: region of the ids given without one{region_default}.",
            "• `--force`: power cycle (can lose unwritten data; admins only).",
            "• Large requests roll out in waves: a canary, then batches drawn from the zones "
            "in turn; the next wave goes out once the last is back. "
            "`--batch N|N%` (later waves' size), `--canary N` (first wave), "
            "`--max-errors N|N%` (failures tolerated before it stops), "
            "`--pause-after-canary`, `--all-at-once`. "
            "The message gets Pause, Resume and Abort buttons while it runs.",
            *buttons,
            f"• Example: {REBOOT_EXAMPLE}",
            "",
            "*Other commands*",
            "• `/ecs-reboot status REQUEST_ID`: where a request stands.",
            "• `/ecs-reboot roles`: who holds which role.",
            "• `/ecs-reboot grant @user|@group ROLE [--region R] [--tag K=V]`: give a role "
            "(admins only); `--region`/`--tag` limit it to those instances.",
            "• `/ecs-reboot revoke @user|@group ROLE [--region R] [--tag K=V]`: take it back.",
            "• `/ecs-reboot help`: this text.",
            "",
            "*Roles*",
            "• `viewer`: help, status, see previews.",
            "• `operator`: as viewer, and confirm normal reboots.",
            "• `admin`: as operator, and force reboots, confirm anyone's request, "
            "grant and revoke roles.",
        ]
    )
