"""``ecs-reboot-bot console``: start the offline stack, then read commands from a
person at a terminal, from a script on standard input, or from the bundled demo."""

from __future__ import annotations

import logging
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from types import FrameType
from typing import TextIO

from bot.console.commands import HELP, Blank, Comment, is_user_id, parse_line, substitute
from bot.console.session import Session, SlackView
from bot.console.stack import (
    CHANNEL_NAME,
    NOTIFY_NAME,
    REBOOT_TIMEOUT,
    REGION,
    START_SECONDS,
    STOP_SECONDS,
    start_stack,
)
from bot.console.transcript import Transcript
from bot.settings import SettingsError

# The demo names three running instances: the fleet has at least that many.
DEMO_MIN_INSTANCES = 3


# The bundled scripted scenes (package data in ``bot/console/``), by ``--scene`` name.
SCENES = {"demo": "demo.txt", "max-errors": "max_errors.txt"}


def demo_script(scene: str = "demo") -> list[str]:
    """A bundled scripted session: ``demo`` (``bot/console/demo.txt``, what ``make demo``
    plays) or ``max-errors`` (a rollout stopped by a canary that never comes back)."""
    name = SCENES[scene]
    text = resources.files("bot.console").joinpath(name).read_text(encoding="utf-8")
    return text.splitlines()


def run_console(
    *,
    user: str,
    instances: int,
    speed: float,
    demo: bool,
    scene: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Run the console until quit, end of input or Ctrl-C; the exit code.

    0 when the session ended normally; 1 when a ``wait`` gave up or start-up failed;
    2 for bad arguments; 130 after Ctrl-C in a script.
    """
    if scene is not None and scene not in SCENES:
        known = ", ".join(SCENES)
        print(f"ecs-reboot-bot console: no scene {scene!r}; the scenes: {known}", file=sys.stderr)
        return 2
    if scene is not None:
        demo = True
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    if not is_user_id(user):
        print(
            f"ecs-reboot-bot console: --user {user!r} is not a Slack user id (U…)", file=sys.stderr
        )
        return 2
    if not (math.isfinite(speed) and speed > 0):
        print("ecs-reboot-bot console: --speed must be a positive number", file=sys.stderr)
        return 2
    if instances < 1:
        print("ecs-reboot-bot console: --instances must be at least 1", file=sys.stderr)
        return 2
    interactive = not demo and stdin.isatty()
    transcript = Transcript(stdout, interactive=interactive)
    view = SlackView(transcript)
    with _quiet_logs(), _sigterm_as_interrupt():
        try:
            stack = start_stack(
                user=user,
                instances=max(instances, DEMO_MIN_INSTANCES) if demo else instances,
                speed=speed,
                on_event=view,
            )
        except (SettingsError, OSError) as error:
            print(f"ecs-reboot-bot console: could not start: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:  # start_stack has stopped what it had started
            return 130
        view.lookup = stack.slack.find
        # A request not back after the reboot timeout ends timed_out: wait a bit longer.
        session = Session(
            stack,
            view,
            user=user,
            ask=_ask_person(stdin, stdout) if interactive else _accept_in_script(transcript),
            wait_timeout=REBOOT_TIMEOUT + 30.0,
        )
        try:
            _banner(session, speed)
            if demo:
                return _play(session, demo_script(scene or "demo"))
            if interactive:
                return _interactive(session, stdin, stdout)
            return _play(session, stdin)
        except KeyboardInterrupt:
            transcript.say("\nInterrupted.")
            return 130
        finally:
            transcript.say("Stopping the bot, the simulator and the terminal Slack…")
            stack.close()


def _banner(session: Session, speed: float) -> None:
    stack = session.stack
    seconds = (STOP_SECONDS + START_SECONDS) / speed
    session.transcript.say(
        "ecs-reboot-bot console: Slack and Alibaba Cloud ECS, played offline.\n"
        f"  ECS simulator   {stack.sim.endpoint} ({REGION}; a reboot takes about "
        f"{seconds:.3g} s)\n"
        f"  Slack           a terminal Slack at {stack.slack.url} "
        f"(#{CHANNEL_NAME}, notifications in #{NOTIFY_NAME})\n"
        f"  Database        a throw-away SQLite file, deleted at exit\n"
        f"  You are {session.user} (an admin) in #{CHANNEL_NAME}.\n"
    )
    session.transcript.say(session.instances_text() + "\n")
    session.transcript.say(HELP + "\n")


def _play(session: Session, lines: Iterable[str]) -> int:
    """A script: each line echoed after the prompt, then run; at its end, ``wait``."""
    after_comment = False
    for raw in lines:
        line = raw.rstrip("\r\n")
        if "{" in line:
            line = substitute(line, session.placeholders())
        command = parse_line(line)
        if isinstance(command, Comment):
            # Narration: a blank line before a run of comments, none after it.
            session.transcript.say(command.text if after_comment else f"\n{command.text}")
            after_comment = True
            continue
        if not isinstance(command, Blank):
            gap = "" if after_comment else "\n"
            session.transcript.say(f"{gap}{session.prompt}{line.strip()}")
            after_comment = False
        if not session.run(command):
            break
    else:
        session.wait()
    return 0 if session.complete else 1


def _interactive(session: Session, stdin: TextIO, stdout: TextIO) -> int:
    transcript = session.transcript
    read = _line_reader(transcript, stdin, stdout)
    while True:
        try:
            with transcript.prompting(session.prompt):
                line = read(session.prompt)
        except (EOFError, KeyboardInterrupt):
            transcript.say("")
            return 0
        if "{" in line:
            line = substitute(line, session.placeholders())
        try:
            if not session.run(parse_line(line)):
                return 0
        except KeyboardInterrupt:
            # Ctrl-C during `wait` or `sleep` stops that, not the console.
            transcript.say("(interrupted)")


def _line_reader(transcript: Transcript, stdin: TextIO, stdout: TextIO) -> Callable[[str], str]:
    if stdin is sys.stdin and stdout is sys.stdout:
        try:
            import readline  # line editing and history for input()
        except ImportError:  # pragma: no cover - not every platform has it
            pass
        else:
            transcript.typed = readline.get_line_buffer
        return input

    def read(prompt: str) -> str:
        stdout.write(prompt)
        stdout.flush()
        line = stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\r\n")

    return read


def _ask_person(stdin: TextIO, stdout: TextIO) -> Callable[[str], bool]:
    def ask(question: str) -> bool:
        try:
            if stdin is sys.stdin and stdout is sys.stdout:
                answer = input(question)
            else:
                stdout.write(question)
                stdout.flush()
                answer = stdin.readline()
        except EOFError:
            return False
        return answer.strip().lower() in ("y", "yes")

    return ask


def _accept_in_script(transcript: Transcript) -> Callable[[str], bool]:
    def ask(question: str) -> bool:
        transcript.say(f"{question}y (a script accepts Slack's confirm dialogs)")
        return True

    return ask


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """Only warnings and errors on stderr: the transcript is the console's output."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM shuts down like Ctrl-C, so the temporary directory is removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = ["demo_script", "run_console"]
