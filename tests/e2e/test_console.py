"""``ecs-reboot-bot console``: the whole flow offline, judged by its transcript.

The console runs the real bot against the ECS simulator and its terminal Slack; these
tests feed it a script (or the bundled demo) and read what a person would read. They
run the simulator fast (``speed``) so a reboot takes about a second.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bot.console import run_console
from bot.console.commands import (
    Blank,
    Click,
    Comment,
    Invalid,
    PlatformEvent,
    PlayAs,
    Slash,
    Sleep,
    Wait,
    parse_line,
    substitute,
)

SPEED = 4.0
REPO = Path(__file__).resolve().parents[2]
_INSTANCE_LINE = re.compile(r"^  (i-[a-z0-9]+)  (\S+)\s+(Running|Stopped)", re.MULTILINE)


@pytest.fixture(autouse=True)
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The console's throw-away directory goes here, so a test can see it was removed."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _run(script: str | None = None, *, user: str = "U0DEMO") -> tuple[int, str]:
    out = io.StringIO()
    code = run_console(
        user=user,
        instances=4,
        speed=SPEED,
        demo=script is None,
        stdin=io.StringIO(script or ""),
        stdout=out,
    )
    return code, out.getvalue()


def _instances(transcript: str) -> dict[str, str]:
    """Instance id → status, from the list the console prints at start."""
    return {match[1]: match[3] for match in _INSTANCE_LINE.finditer(transcript)}


def _after(transcript: str, marker: str) -> str:
    assert marker in transcript, f"{marker!r} is not in the transcript:\n{transcript}"
    return transcript[transcript.index(marker) :]


def test_the_demo_plays_the_whole_flow(private_tempdir: Path) -> None:
    code, transcript = _run()

    assert code == 0, transcript
    fleet = _instances(transcript)
    running = [i for i, status in fleet.items() if status == "Running"][:3]
    [stopped] = [i for i, status in fleet.items() if status == "Stopped"]

    # The command as typed (placeholders filled in), and its ephemeral ack.
    command = f"U0DEMO #ops> /ecs-reboot {' '.join(running)} {stopped}"
    flow = _after(transcript, command)
    assert "#ops (only you see this) » Checking 4 instances in cn-hangzhou…" in flow

    # The preview: every instance with its verdict, and the buttons.
    preview = _after(flow, "#ops › msg 1\n")
    preview = preview[: preview.index("click confirm")]
    for instance in running:
        assert re.search(
            rf"`{instance}` `\S+` prod · cn-hangzhou · Running · ● will reboot", preview
        )
    assert (
        f"`{stopped}` `batch-01` prod · cn-hangzhou · Stopped · ○ not Running (Stopped)" in preview
    )
    assert "[ Reboot 3 ] (primary)  [ Cancel ]" in preview

    # The click, the thread, the summary and the notifications.
    after_click = _after(flow, "U0DEMO #ops> click confirm")
    assert "#ops › msg 1 (message updated)" in after_click
    assert "↳ [thread of msg 1]" in after_click
    assert "@U0DEMO confirmed. RebootInstances accepted 3/3; 1 skipped" in after_click
    summary = _after(after_click, "Done:")
    assert "3/3 back" in summary
    assert "(3 succeeded, 1 skipped)" in summary

    # Then by tag: the preview says what the selector matched, the click reboots those.
    by_tag = _after(flow, "U0DEMO #ops> /ecs-reboot tag:app=pay")
    assert "Looking up `tag:app=pay` in cn-hangzhou…" in by_tag
    assert "`tag:app=pay` → 3 in prod:cn-hangzhou." in by_tag
    assert "[ Reboot 3 ] (primary)  [ Cancel ]" in by_tag
    assert "3/3 back" in _after(by_tag, "click confirm")
    assert re.search(r"#ops-notify › msg \d+\n +↻ Reboot of 3 instances in cn-hangzhou", flow)
    assert re.search(r"#ops-notify › msg \d+\n +✔ succeeded: reboot of 3 instances", flow)

    # And the status of the request, by the id the preview showed.
    request_id = re.search(r"Request: `([0-9a-f]+)`", preview)
    assert request_id is not None
    status = _after(after_click, f"U0DEMO #ops> /ecs-reboot status {request_id[1]}")
    assert f"Request `{request_id[1]}` · normal · cn-hangzhou" in status
    assert "✔ back" in status

    # Scheduled a few seconds ahead: Reboot schedules it, and it starts by itself.
    later = _after(flow, "/ecs-reboot --in 5s ")
    assert "Reboot schedules it; nothing reboots before then." in later
    scheduled = _after(later, "U0DEMO #ops> click confirm")
    assert "Status: ◷ scheduled for" in scheduled
    assert "[ Cancel ]" in scheduled.split("U0DEMO #ops>")[1]
    listing = _after(scheduled, "U0DEMO #ops> /ecs-reboot scheduled")
    assert "`nightly`: daily 02:00-04:00 UTC: next opens" in listing
    started = _after(listing, "U0DEMO #ops> wait").split("U0DEMO #ops>")[1]
    assert "RebootInstances accepted 1/1" in started
    assert "1/1 back" in started

    # A reboot in the second account: the preview names it, and it comes back.
    staging = _after(transcript, "U0DEMO #ops> /ecs-reboot --account staging")
    assert "staging · cn-hangzhou" in staging
    assert "1/1 back" in _after(staging, "click confirm")
    assert "of account staging" in staging

    # A CloudMonitor alarm: one card, updated by the repeat; its Reboot… previews with
    # the alarm as the reason and reboots on confirm; recovery takes the button away.
    alarm = _after(transcript, "(CloudMonitor calls the bot: cpu-high on")
    assert alarm.count("CloudMonitor alarm `cpu-high`") >= 2
    assert "Fired 2 times" in alarm
    reboot = _after(alarm, "U0DEMO #ops> click reboot")
    assert "Reason: CloudMonitor: cpu-high (CPUUtilization = 99.1)" in reboot
    assert "1/1 back" in _after(reboot, "click confirm")
    assert "CloudMonitor alarm `cpu-high` — recovered" in _after(reboot, "alarm ok")

    assert transcript.rstrip().endswith("Stopping the bot, the simulator and the terminal Slack…")
    assert list(private_tempdir.iterdir()) == [], "the throw-away database was left behind"


def test_a_script_on_stdin_runs_with_the_users_environment_kept_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A production setting in the environment must not reach the offline bot.
    monkeypatch.setenv("ECSBOT_ALLOWED_CHANNELS", "C0ELSEWHERE")
    monkeypatch.setenv("SLACK_API_URL", "https://slack.invalid/api/")
    monkeypatch.setenv("ECSBOT_ADMINS", "U0SOMEONEELSE")
    script = "\n".join(
        [
            "# two instances, confirmed by someone who may not",
            "/ecs-reboot {id1} {id2}",
            "as U0GUEST",
            "click confirm",
            "as U0DEMO",
            "click confirm",
        ]
    )

    code, transcript = _run(script)

    assert code == 0, transcript
    assert "# two instances, confirmed by someone who may not" in transcript
    assert "[ Reboot 2 ] (primary)  [ Cancel ]" in transcript
    guest = _after(transcript, "U0GUEST #ops> click confirm")
    assert "(only you see this)" in guest.split("U0DEMO #ops>")[0]
    # The end of input waits for the reboot to finish.
    summary = _after(transcript, "Done: ✔ succeeded")
    assert "2/2 back" in summary
    assert "#ops-notify › msg" in summary
    assert "✔ succeeded: reboot of 2 instances" in summary


def test_bad_input_gets_a_hint_and_the_console_carries_on() -> None:
    script = "\n".join(
        [
            "click confirm",
            "reboot i-bp1abcdefgh",
            "frobnicate",
            "click confirm nosuchrequest",
            "as someone",
            "sleep forever",
            "/ecs-reboot zzz",
            "quit",
            "/ecs-reboot help",
        ]
    )

    code, transcript = _run(script)

    assert code == 0, transcript
    assert "? There is nothing to click yet: type /ecs-reboot i-… first." in transcript
    assert "? Commands go to the bot as in Slack: /ecs-reboot reboot i-bp1abcdefgh" in transcript
    assert "? Unknown command 'frobnicate'. Type help for what the console knows." in transcript
    assert "? No request 'nosuchrequest': ids are in each preview." in transcript
    assert "? Say whom to play as a Slack user id" in transcript
    assert "? sleep takes a number of seconds" in transcript
    assert "`zzz` is neither an option nor an instance id" in transcript
    # Nothing after `quit` runs.
    assert "U0DEMO #ops> /ecs-reboot help" not in transcript


def test_the_command_line_demo_exits_zero_with_the_summary() -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ECSBOT_", "SLACK_", "ALIBABA_CLOUD_"))
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bot", "console", "--demo", "--speed", str(SPEED)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "Done: ✔ succeeded · 3/3 back" in result.stdout
    assert "(3 succeeded, 1 skipped)" in result.stdout


# --- the prompt language (pure) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("", Blank()),
        ("   ", Blank()),
        ("# narration", Comment("# narration")),
        ("/ecs-reboot  i-a i-b ", Slash("/ecs-reboot", "i-a i-b")),
        ("/ecs-reboot", Slash("/ecs-reboot", "")),
        ("click confirm", Click("confirm")),
        ("CLICK Cancel abc123", Click("cancel", "abc123")),
        ("as U0SOMEONE", PlayAs("U0SOMEONE")),
        ("wait", Wait()),
        ("sleep 1.5", Sleep(1.5)),
        ("click reboot-now", Click("reboot-now")),
        ("platform-event i-abc 600", PlatformEvent("i-abc", 600.0)),
        ("platform-event i-abc", PlatformEvent("i-abc")),
    ],
)
def test_console_lines_parse(line: str, command: object) -> None:
    assert parse_line(line) == command


@pytest.mark.parametrize(
    "line",
    [
        "/",
        "click",
        "click explode",
        "click confirm a b",
        "as",
        "as bob",
        "sleep",
        "sleep -1",
        "sleep nan",
        "hello",
        "platform-event",
        "platform-event web-01",
        "platform-event i-abc soon",
        "platform-event i-abc 0",
    ],
)
def test_console_lines_that_make_no_sense_get_a_hint(line: str) -> None:
    parsed = parse_line(line)
    assert isinstance(parsed, Invalid)
    assert parsed.hint
    assert "\n" not in parsed.hint


def test_placeholders_known_are_filled_and_others_left() -> None:
    assert substitute("{id1} {nope} {request}", {"id1": "i-x", "request": "r1"}) == "i-x {nope} r1"


def test_the_demo_rolls_twelve_web_instances_out_with_a_pause(private_tempdir: Path) -> None:
    code, transcript = _run()
    assert code == 0, transcript
    rolling = _after(transcript, "U0DEMO #ops> /ecs-reboot --batch 4")
    assert "Rollout: canary 1, then 3 waves of ≤ 4; stops after the first failure" in rolling
    assert "wave 1/4 · 0/12 back" in rolling
    # Compared with the lines' wrapping undone.
    paused = " ".join(_after(rolling, "U0DEMO #ops> click pause").split())
    assert "‖ Paused by @U0DEMO: no new wave until someone clicks Resume." in paused
    assert "[ Resume ] (primary) [ Abort ]" in paused
    resumed = _after(paused, "U0DEMO #ops> click resume")
    assert "▶ Rollout" in resumed
    assert "Done: ✔ succeeded · 12/12 back" in resumed


def test_the_demo_shows_a_platform_event_card_and_reboot_now_avoiding_it(
    private_tempdir: Path,
) -> None:
    code, transcript = _run()
    assert code == 0, transcript
    scene = _after(transcript, "U0DEMO #ops> platform-event")
    assert "(simulator: Alibaba Cloud schedules SystemMaintenance.Reboot of" in scene
    assert "== Alibaba Cloud scheduled 1 maintenance reboot in cn-hangzhou (prod) ==" in scene
    clicked = _after(scene, "U0DEMO #ops> click reboot-now")
    assert "Reason: Alibaba Cloud SystemMaintenance.Reboot e-" in clicked
    done = _after(clicked, "U0DEMO #ops> click confirm")
    assert "avoided by request" in " ".join(done.split())
    assert "Every event of this card has ended." in done


def test_the_max_errors_scene_stops_when_the_canary_never_comes_back() -> None:
    out = io.StringIO()
    code = run_console(
        user="U0DEMO", instances=4, speed=SPEED, demo=False, scene="max-errors", stdout=out
    )
    transcript = out.getvalue()
    assert code == 0, transcript
    assert "will never come back from a reboot" in transcript
    summary = " ".join(_after(transcript, "Done: ■ aborted").split())
    assert "(1 timed out, 11 aborted)" in summary
    assert "more than the 0 tolerated; no new wave" in summary


def test_the_console_plays_the_form_the_message_shortcut_and_app_home() -> None:
    script = "\n".join(
        [
            "form",
            "submit",
            "submit targets=i-bad",
            "shortcut please reboot {id1}",
            'submit reason="asked in chat"',
            "click confirm",
            "wait",
            "home",
        ]
    )

    code, transcript = _run(script)

    assert code == 0, transcript
    assert "Form: Reboot ECS instances" in transcript
    assert "[instances] Instances (optional):" in transcript
    empty = _after(transcript, "U0DEMO #ops> submit\n")
    assert "targets: Pick instances above" in empty
    assert "targets: i-bad is not a valid instance id" in transcript
    shortcut = _after(transcript, "U0DEMO #ops> shortcut please reboot")
    assert "[targets] Or paste ids, console lines, selectors (optional): i-" in shortcut
    preview = _after(shortcut, "(the form closes)")
    assert "↳ [thread of msg" in preview
    assert "Reason: asked in chat" in preview
    assert "1/1 back" in preview
    home = _after(transcript, "App Home of @U0DEMO")
    assert "Your last requests" in home
    assert "admin everywhere" in home
