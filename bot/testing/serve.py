"""``python -m bot serve`` as a child process, on the offline settings.

The process gets an environment built only from :func:`bot.testing.settings.offline_env`
values and the few variables an interpreter needs (``PATH``, ``PYTHONPATH``, ``HOME``),
never a copy of ``os.environ``. It listens on a free loopback port and says where on
stdout; :func:`read_listening_url` waits for that line, bounded:

    with serve_process(values, workdir) as served:
        httpx.get(f"{served.url}/healthz")
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import bot

STARTUP_SECONDS = 30.0
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
SERVE_COMMAND = (sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", "0")
# Where the `bot` package is imported from, so the child imports the same code.
_IMPORT_ROOT = Path(bot.__file__).resolve().parents[1]


class ServeDidNotStart(RuntimeError):
    """The process ended, or said nothing, before its "listening on" line."""

    def __init__(self, message: str, lines: list[str]) -> None:
        super().__init__(message)
        self.lines = lines


def serve_environment(values: Mapping[str, str], workdir: Path) -> dict[str, str]:
    """The child's whole environment: the settings ``values`` and what Python needs."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(_IMPORT_ROOT),
        "PYTHONIOENCODING": "utf-8",
        "HOME": str(workdir),
        **values,
    }


def start_serve(
    values: Mapping[str, str], workdir: Path, *, stderr: IO[str] | int
) -> subprocess.Popen[str]:
    """Start ``serve`` in ``workdir``; stdout is a pipe (read the listening line from it).

    ``stderr`` should be a file or ``subprocess.DEVNULL``: an unread pipe could fill up
    and stall the server.
    """
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        SERVE_COMMAND,
        env=serve_environment(values, workdir),
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def read_listening_url(
    process: subprocess.Popen[str], timeout: float = STARTUP_SECONDS
) -> tuple[str, list[str]]:
    """Read stdout until the "listening on URL" line: (URL, the lines read so far).

    Raises :class:`ServeDidNotStart` when the process ends or ``timeout`` passes first.
    """
    if process.stdout is None:
        raise ValueError("the process's stdout is not a pipe")
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([process.stdout], [], [], left)
        if not ready:
            break
        line = process.stdout.readline()
        if not line:  # the process ended before it listened
            break
        lines.append(line)
        found = LISTENING.search(line)
        if found:
            return found.group(1), lines
    raise ServeDidNotStart(f"serve did not say it listens; stdout={lines!r}", lines)


def stop_process(process: subprocess.Popen[str], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it is still running after ``timeout``; reaped either way."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


@dataclass
class Served:
    """A running ``serve`` process and what it said."""

    process: subprocess.Popen[str]
    url: str
    stderr_path: Path
    stdout_lines: list[str]

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serve_process(
    values: Mapping[str, str], workdir: Path, *, timeout: float = STARTUP_SECONDS
) -> Iterator[Served]:
    """``serve`` on the settings ``values``, its stderr in ``workdir/serve.stderr``;
    stopped (killed if need be) when the block ends."""
    stderr_path = workdir / "serve.stderr"
    with (
        stderr_path.open("w", encoding="utf-8") as stderr,
        start_serve(values, workdir, stderr=stderr) as process,
    ):
        try:
            try:
                url, lines = read_listening_url(process, timeout)
            except ServeDidNotStart as error:
                said = stderr_path.read_text(encoding="utf-8", errors="replace")
                raise ServeDidNotStart(f"{error}\nstderr:\n{said}", error.lines) from None
            yield Served(process, url, stderr_path, lines)
        finally:
            stop_process(process)


__all__ = [
    "LISTENING",
    "SERVE_COMMAND",
    "STARTUP_SECONDS",
    "ServeDidNotStart",
    "Served",
    "read_listening_url",
    "serve_environment",
    "serve_process",
    "start_serve",
    "stop_process",
]
