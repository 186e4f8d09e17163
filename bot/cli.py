"""The ``ecs-reboot-bot`` command (also ``python -m bot``), docs/PRODUCT.md §2.

Each subcommand reads the settings, wires what it needs through ``bot.bootstrap`` and
runs. A bad setting stops it with one line naming the variable (exit 2).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import FrameType

from bot.bootstrap import (
    build_bot,
    build_runtime,
    prepare_database,
    unit_of_work_factory,
    utc_now,
    web_app,
)
from bot.collector import tune_for_service
from bot.db.migrate import upgrade_to_head
from bot.domain.accounts import ACCOUNT_NAME
from bot.domain.errors import BotError, CredentialsError
from bot.domain.model import RequestState, Role
from bot.domain.policy import Binding
from bot.logs import configure_logging
from bot.services import roles as roles_service
from bot.services.event_history import event_rows, events_table, with_events
from bot.services.history import history_rows, history_table
from bot.settings import Settings, SettingsError, load_settings
from bot.slack.outcomes import instance_message
from bot.slack.text import role_change_sentence

log = logging.getLogger("bot.cli")

# On SIGTERM ``serve`` waits this long for the poller's step in hand, then up to 30 s
# for the job pool (``Bot.close``): the Kubernetes grace period (deploy/kubernetes) is 75 s.
SHUTDOWN_POLLER_SECONDS = 30.0


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["simulator"]:
        # The simulator has its own options and needs none of the bot's settings.
        from bot.simulator.cli import main as simulator_main

        return simulator_main(words[1:])
    parser = _parser()
    args = parser.parse_args(words)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        # The console and the simulator bring their own configuration: a malformed
        # variable meant for the real bot must not stop them.
        settings = (
            load_settings() if getattr(args, "needs_settings", True) else Settings.model_construct()
        )
        configure_logging(settings.log_format)
        code: int = args.run(settings, args)
    except SettingsError as error:
        print(f"ecs-reboot-bot: {error}", file=sys.stderr)
        return 2
    except CredentialsError as error:
        # Missing credentials are configuration, like a missing setting.
        print(f"ecs-reboot-bot: {error}", file=sys.stderr)
        return 2
    except BotError as error:
        print(f"ecs-reboot-bot: {error}", file=sys.stderr)
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecs-reboot-bot",
        description="A Slack chat-ops bot that reboots Alibaba Cloud ECS instances safely.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="HTTP mode: Slack on POST /slack/events")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on")  # noqa: S104
    serve.add_argument("--port", type=int, default=None, help="port (default PORT or 3000)")
    serve.add_argument("--migrate", action="store_true", help="upgrade the database first")
    serve.add_argument("--no-poller", action="store_true", help="do not run the poller here")
    serve.set_defaults(run=_serve)

    socket_mode = commands.add_parser("socket", help="the bot over Slack Socket Mode")
    socket_mode.add_argument("--migrate", action="store_true", help="upgrade the database first")
    socket_mode.set_defaults(run=_socket)

    poller = commands.add_parser("poller", help="the status poller alone (for replicas)")
    poller.add_argument("--migrate", action="store_true", help="upgrade the database first")
    poller.set_defaults(run=_poller)

    console = commands.add_parser(
        "console", help="try the whole flow offline: a terminal Slack and the ECS simulator"
    )
    console.add_argument("--user", default="U0DEMO", help="the Slack user you play")
    console.add_argument("--instances", type=_positive_int, default=6)
    console.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated state changes run this many times faster",
    )
    console.add_argument(
        "--demo", action="store_true", help="play the bundled scripted session and exit"
    )
    console.add_argument(
        "--scene",
        choices=("demo", "max-errors"),
        help="play a bundled scene and exit: demo (as --demo), or max-errors (a rollout "
        "stopped by a canary that never comes back)",
    )
    console.set_defaults(run=_console, needs_settings=False)

    migrate = commands.add_parser("migrate", help="upgrade the database schema (Alembic)")
    migrate.set_defaults(run=_migrate)

    # Listed for the help text; ``main`` hands ``simulator …`` to the simulator's own CLI.
    commands.add_parser("simulator", help="the bundled ECS simulator as a standalone server")

    roles = commands.add_parser("roles", help="list, grant and revoke role bindings")
    role_commands = roles.add_subparsers(title="roles commands", metavar="ACTION")
    listing = role_commands.add_parser("list", help="every binding")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_roles_list)
    for name, handler in (("grant", _roles_grant), ("revoke", _roles_revoke)):
        change = role_commands.add_parser(name, help=f"{name} a role")
        change.add_argument("subject", help="Slack user id (U…/W…) or user group id (S…)")
        change.add_argument("role", choices=[role.value for role in Role])
        change.add_argument("--region", default="", help="only in this region")
        change.add_argument("--tag", default="", help="only for instances with tag K=V")
        change.add_argument(
            "--account", default="", help="only in this account (one of ECSBOT_ACCOUNTS)"
        )
        change.set_defaults(run=handler)

    history = commands.add_parser("history", help="recent reboot requests")
    history.add_argument("--json", action="store_true", help="one JSON array (docs/PRODUCT.md §7)")
    history.add_argument("--limit", type=_positive_int, default=20)
    history.add_argument("--state", choices=[state.value for state in RequestState])
    history.add_argument("--user", help="requests by this Slack user id")
    history.add_argument("--since", type=_since, help="e.g. 2h, 3d or an ISO 8601 time")
    history.set_defaults(run=_history)

    events = commands.add_parser(
        "events", help="the platform maintenance events the bot knows (docs/PRODUCT.md §5.11)"
    )
    events.add_argument("--json", action="store_true", help="one JSON array")
    events.set_defaults(run=_events)

    manifest = commands.add_parser("manifest", help="print the Slack app manifest (YAML)")
    manifest.add_argument("--url", default="https://example.com", help="public base URL")
    manifest.add_argument("--socket", action="store_true", help="Socket Mode (no URLs)")
    manifest.set_defaults(run=_manifest)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return value


def _since(text: str) -> datetime:
    units = {"m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].isdigit():
        return utc_now() - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("use 30m, 2h, 3d or an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- commands ------------------------------------------------------------------------------


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from bot import metrics
    from bot.db.stats import state_and_outcome_counts
    from bot.server import HttpServer

    tune_for_service()
    bot = build_bot(settings, migrate=args.migrate)
    metrics.register_database_collector(lambda: state_and_outcome_counts(bot.engine))
    port = args.port if args.port is not None else settings.port
    server = HttpServer(web_app(bot), host=args.host, port=port)
    poller = None if args.no_poller else bot.poller()

    def on_signal() -> None:
        # First thing on SIGTERM: claim nothing more, so the other replicas take over
        # while the requests and the step in hand are finished here.
        if poller is not None:
            poller.stop_soon()
        # Stop listening; the answers in flight are finished and written first
        # (HttpServer.serve_forever), then serve_forever returns.
        server.stop_soon()

    stop = _on_signal(on_signal)
    log.info("serving Slack on %s/slack/events", server.url)
    print(f"ecs-reboot-bot: listening on {server.url}", flush=True)
    try:
        if poller is not None:
            poller.start()
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        started = time.monotonic()
        log.info("shutting down: no new connections; finishing the work in hand")
        server.stop()
        if poller is not None:
            poller.stop(timeout=SHUTDOWN_POLLER_SECONDS)
        if poller is not None and poller.busy:
            log.warning("the poller was still busy after %.0f s", SHUTDOWN_POLLER_SECONDS)
        # Jobs after an ack (a confirm sending its reboot call) finish and release
        # their leases; then the database and ECS clients close.
        bot.close()
        log.info("shut down in %.1f s", time.monotonic() - started)
    return 0


def _socket(settings: Settings, args: argparse.Namespace) -> int:
    from bot.slack.socket_mode import run_socket_mode

    tune_for_service()
    bot = build_bot(settings, migrate=args.migrate, socket_mode=True)
    poller = bot.poller()
    poller.start()
    try:
        assert settings.slack_app_token is not None
        run_socket_mode(bot.app, settings.slack_app_token.get_secret_value())
    finally:
        poller.stop()
        bot.close()
    return 0


def _poller(settings: Settings, args: argparse.Namespace) -> int:
    tune_for_service()
    runtime = build_runtime(settings, migrate=args.migrate)
    poller = runtime.poller()
    stop = _on_signal(poller.stop_soon)
    print("ecs-reboot-bot: poller running", flush=True)
    try:
        poller.run()
    finally:
        stop()
        runtime.close()
    return 0


def _console(settings: Settings, args: argparse.Namespace) -> int:
    from bot.console import run_console

    return run_console(
        user=args.user,
        instances=args.instances,
        speed=args.speed,
        demo=args.demo,
        scene=args.scene,
    )


def _on_signal(action: Callable[[], None]) -> Callable[[], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        action()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    upgrade_to_head(settings.database_url)
    print("ecs-reboot-bot: the database schema is up to date")
    return 0


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _binding(args: argparse.Namespace, settings: Settings, *, revoke: bool) -> Binding:
    subject = str(args.subject).strip().lstrip("@")
    if subject[:1] not in ("U", "W", "S") or not subject.isalnum():
        raise SettingsError(f"{args.subject!r} is not a Slack user id (U…/W…) or group id (S…)")
    tag_key, _, tag_value = str(args.tag).partition("=")
    if args.tag and (not tag_key or not _):
        raise SettingsError("--tag must be KEY=VALUE")
    account = str(args.account).strip()
    # A grant names a configured account; a revoke may clean up after one was removed.
    known = settings.account_names
    if account and not (account in known or (revoke and ACCOUNT_NAME.fullmatch(account))):
        raise SettingsError(f"--account {account!r} is not a known account ({', '.join(known)})")
    return Binding(subject, Role(args.role), args.region, tag_key, tag_value, account)


def _roles_list(settings: Settings, args: argparse.Namespace) -> int:
    engine = prepare_database(settings)
    try:
        with unit_of_work_factory(engine)() as uow:
            records = uow.roles.list_records()
    finally:
        engine.dispose()
    records.sort(key=lambda record: roles_service.binding_order(record.binding))
    if args.json:
        print(json.dumps([_binding_json(r.binding) for r in records], indent=2))
        return 0
    admins = ", ".join(settings.admins) or "none"
    print(f"bootstrap admins (ECSBOT_ADMINS): {admins}")
    if not records:
        print("no role bindings yet: `ecs-reboot-bot roles grant U… operator`")
    width = max((len(r.binding.describe()) for r in records), default=0)
    for r in records:
        granted = r.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        print(
            f"{r.binding.subject:<14} {r.binding.describe():<{width}}"
            f"  granted by {r.created_by} at {granted}"
        )
    return 0


def _binding_json(binding: Binding) -> dict[str, str | None]:
    return {
        "subject": binding.subject,
        "role": binding.role.value,
        "region": binding.region or None,
        "tag": f"{binding.tag_key}={binding.tag_value}" if binding.tag_key else None,
        "account": binding.account or None,
    }


def _roles_change(settings: Settings, args: argparse.Namespace, *, revoke: bool) -> int:
    binding = _binding(args, settings, revoke=revoke)
    engine = prepare_database(settings)
    try:
        uow = unit_of_work_factory(engine)
        change = (roles_service.revoke if revoke else roles_service.grant)(
            uow, binding, actor=_cli_actor(), now=utc_now()
        )
    finally:
        engine.dispose()
    # The bare id, not a Slack mention: this is a terminal.
    print(role_change_sentence(change, f"{binding.subject}: {binding.describe()}"))
    # Granting what exists (or revoking what does not) is not a failure: scripts rerun.
    return 0


def _roles_grant(settings: Settings, args: argparse.Namespace) -> int:
    return _roles_change(settings, args, revoke=False)


def _roles_revoke(settings: Settings, args: argparse.Namespace) -> int:
    return _roles_change(settings, args, revoke=True)


def _history(settings: Settings, args: argparse.Namespace) -> int:
    engine = prepare_database(settings)
    try:
        rows = history_rows(
            unit_of_work_factory(engine),
            limit=args.limit,
            state=RequestState(args.state) if args.state else None,
            user=args.user,
            since=args.since,
            message=instance_message,
        )
        rows = with_events(unit_of_work_factory(engine), rows)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(history_table(rows))
    return 0


def _events(settings: Settings, args: argparse.Namespace) -> int:
    engine = prepare_database(settings)
    try:
        rows = event_rows(unit_of_work_factory(engine))
    finally:
        engine.dispose()
    print(json.dumps(rows, indent=2) if args.json else events_table(rows))
    return 0


def _manifest(settings: Settings, args: argparse.Namespace) -> int:
    from bot.slack.manifest import manifest_yaml

    print(manifest_yaml(base_url=args.url, socket_mode=args.socket), end="")
    return 0
