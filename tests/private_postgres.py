"""A PostgreSQL server of the test's own, which the test may stop and start at will.

The shared server (``ECSBOT_TEST_POSTGRES_URL``) serves every test and helper at once, so
a test that restarts a server to see what a restart does to the bot needs one nobody
else uses: ``initdb`` in a temporary folder, ``pg_ctl`` on a free loopback port, with
its socket in that folder. Tests that need it skip where the server binaries are not
installed. Run as root (the CI container), the server runs as ``postgres``, since
PostgreSQL refuses root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivatePostgres:
    """One throw-away server: :meth:`stop` and :meth:`start` it as a crash or an
    operator's restart would."""

    def __init__(self, bin_dir: Path, directory: Path) -> None:
        self._bin = bin_dir
        self._dir = directory
        self._data = directory / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.restarts = 0

    def _run(self, *argv: str) -> None:
        command = [str(self._bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        # Our own binaries and arguments, never input from outside.
        subprocess.run(command, check=True, capture_output=True, timeout=120)  # noqa: S603

    def init(self) -> None:
        self._run("initdb", "-D", str(self._data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        """Start it and return once it accepts connections."""
        options = (
            f"-p {self.port} -k {self._dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=200"
        )
        log = str(self._dir / "postgres.log")
        self._run("pg_ctl", "-D", str(self._data), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop it: ``fast`` ends every session (an operator's restart), ``immediate``
        kills the server outright (a crash; recovery runs at the next start)."""
        self._run("pg_ctl", "-D", str(self._data), "-m", mode, "-w", "stop")

    def restart(self, down_seconds: float, mode: str = "fast") -> float:
        """Stop, stay down ``down_seconds``, start; returns the moment
        (``time.monotonic()``) it answers again."""
        self.stop(mode)
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1
        return time.monotonic()


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private server, stopped and deleted afterwards; skips the test when no
    PostgreSQL server binaries are installed."""
    bin_dir = _bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) to run a private server")
    directory = Path(tempfile.mkdtemp(prefix="ecsbot-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, user="postgres")
    server = PrivatePostgres(bin_dir, directory)
    try:
        server.init()
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
                server.stop("immediate")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
