"""``ecs-reboot-bot simulator``: the ECS simulator as a standalone server.

Prints how to reach it (endpoint, key pair, instance ids per region), then serves
until SIGINT or SIGTERM. With ``--json`` the first line is one JSON object, flushed at
once, so a parent process can read it and go: ``endpoint``, ``access_key_id``,
``access_key_secret``, ``instances`` and, when ``--locked`` / ``--in-arrears`` /
``--ram-denied`` made some instances special, ``special`` ({"locked": [...],
"in_arrears": [...], "ram_denied": [...]}: distinct instances of the first region, in
fleet order). With ``--accounts prod,staging``: ``accounts`` (name → ``account_id``,
``role_arn``, ``instances``) and ``home_account_id`` (the account of the printed key
pair, whose role sessions may assume each member's role), and with ``--events N``,
``events`` (the system events scheduled on the first region's first N instances,
``--events-in`` seconds from now).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from bot.simulator.accounts import parse_account_names
from bot.simulator.simulator import Simulator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecs-reboot-bot simulator",
        description="Run the bundled ECS OpenAPI simulator on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9100, help="port (0 picks a free one)")
    parser.add_argument(
        "--regions", default="cn-hangzhou", help="comma-separated region ids (default cn-hangzhou)"
    )
    parser.add_argument("--instances", type=_non_negative, default=10, help="instances per region")
    parser.add_argument("--seed", type=int, default=0, help="seed for ids, names and tags")
    parser.add_argument(
        "--locked", type=_non_negative, default=0, help="security-locked instances (first region)"
    )
    parser.add_argument(
        "--in-arrears",
        type=_non_negative,
        default=0,
        help="instances in arrears, the financial lock (first region)",
    )
    parser.add_argument(
        "--ram-denied",
        type=_non_negative,
        default=0,
        help="instances whose reboot RAM denies (first region)",
    )
    parser.add_argument(
        "--agent-seconds",
        type=float,
        default=2.0,
        help="seconds after Running until Cloud Assistant reports again (default 2)",
    )
    parser.add_argument(
        "--events",
        type=_non_negative,
        default=0,
        help="SystemMaintenance.Reboot events scheduled on the first instances (first region)",
    )
    parser.add_argument(
        "--events-in",
        type=float,
        default=86400.0,
        help="seconds from now to the events' NotBefore (default 86400)",
    )
    parser.add_argument(
        "--accounts",
        default="",
        help="comma-separated member accounts (e.g. prod,staging), each with its own "
        "instances and a role the printed key pair may assume",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line first")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until SIGINT/SIGTERM; returns the exit status (0)."""
    args = build_parser().parse_args(argv)
    regions = [region.strip() for region in args.regions.split(",") if region.strip()]
    if not regions:
        build_parser().error("--regions names no region")
    if args.agent_seconds < 0:
        build_parser().error("--agent-seconds must not be negative")
    try:
        accounts = parse_account_names(args.accounts)
    except ValueError as error:
        build_parser().error(f"--accounts: {error}")
    simulator = Simulator(
        regions=regions,
        instances_per_region=args.instances,
        seed=args.seed,
        agent_seconds=args.agent_seconds,
        accounts=accounts,
    )
    if args.locked or args.in_arrears or args.ram_denied:
        try:
            simulator.mark_special(
                locked=args.locked, in_arrears=args.in_arrears, ram_denied=args.ram_denied
            )
        except ValueError as error:
            build_parser().error(str(error))
    if args.events:
        try:
            simulator.schedule_events(args.events, in_seconds=args.events_in)
        except ValueError as error:
            build_parser().error(str(error))
    try:
        simulator.start(args.host, args.port)
    except OSError as error:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1

    stopped = threading.Event()
    _on_signals(stopped)
    info = simulator.describe()
    if args.json:
        print(json.dumps(info), flush=True)
    else:
        _print_human(info)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass  # SIGINT while no handler could be installed (not the main thread)
    finally:
        simulator.stop()
    return 0


def _print_human(info: dict[str, object]) -> None:
    print(f"ECS simulator listening on {info['endpoint']}")
    print(f"  access key id:     {info['access_key_id']}")
    print(f"  access key secret: {info['access_key_secret']}")
    instances = info["instances"]
    assert isinstance(instances, dict)
    for region, ids in instances.items():
        print(f"  {region}: {len(ids)} instances")
        for instance_id in ids:
            print(f"    {instance_id}")
    events = info.get("events") or []
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event, dict)
        print(f"  event {event['event_id']}: {event['type']} on {event['instance_id']}", end="")
        print(f" not before {event['not_before']}")
    special = info.get("special")
    if isinstance(special, dict):
        for kind, ids in special.items():
            if ids:
                print(f"  {kind.replace('_', ' ')}: {' '.join(ids)}")
    accounts = info.get("accounts")
    if isinstance(accounts, dict):
        for name, account in accounts.items():
            print(f"  account {name}: role {account['role_arn']}")
            for region, ids in account["instances"].items():
                print(f"    {region}: {' '.join(ids)}")
    print("Press Ctrl+C to stop.", flush=True)


def _on_signals(stopped: threading.Event) -> None:
    # Signal handlers can only be installed from the main thread; elsewhere (a test
    # calling main() in a thread) the caller stops us some other way.
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value
