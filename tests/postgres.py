"""A real PostgreSQL for the tests, started from the system's server binaries.

One throwaway cluster per test process (each pytest-xdist worker has its
own): ``initdb`` + ``pg_ctl`` into a temporary directory, listening on a free
port of 127.0.0.1 only, with fsync off. Each test that asks for
``postgres_url`` gets a database of its own, created from the cluster's
template, so tests stay independent. The cluster is stopped and removed at
the end of the session.

initdb refuses to run as root: when the tests run as root, every server
command runs as the ``postgres`` system user (created by Debian's
``postgresql`` package) and the temporary directory is given to that user.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

MISSING = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian package "
    "`postgresql` (.ci/run does) or set MONITOR_TEST_PG_BINDIR"
)


def find_bindir() -> Path | None:
    """Where initdb and pg_ctl live: $MONITOR_TEST_PG_BINDIR, pg_config's
    bindir, the newest /usr/lib/postgresql/*/bin, or the PATH."""
    candidates: list[str] = []
    if given := os.environ.get("MONITOR_TEST_PG_BINDIR"):
        candidates.append(given)
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(done.stdout.strip())
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=_major_version, reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).resolve().parent))
    for candidate in candidates:
        path = Path(candidate)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


def _major_version(bindir: str) -> int:
    found = re.search(r"/(\d+)/bin$", bindir)
    return int(found.group(1)) if found else 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """A throwaway cluster: ``start()`` it, ``create_database()`` per test, ``stop()``."""

    SUPERUSER = "postgres"

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        # Not under pytest's tmp_path: its parents are private to root, and the
        # server may run as another user who must reach the directory.
        self.root = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        if self.as_root:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "running as root, and there is no `postgres` system user to run "
                    "the PostgreSQL server as (Debian's `postgresql` package creates it)"
                ) from None
            os.chown(self.root, account.pw_uid, account.pw_gid)

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.root
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                f"{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        log = self.root / "server.log"
        return "\nserver log:\n" + log.read_text(errors="replace")[-3000:] if log.exists() else ""

    def start(self) -> None:
        # UTF8 whatever the machine's locale: a SQL_ASCII cluster would take
        # bytes that a real deployment refuses. The C locale keeps it fast.
        self._run(
            "initdb", "--no-sync", "--no-instructions", "-D", str(self.data),
            "-U", self.SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C",
        )  # fmt: skip
        for attempt in range(3):  # another process may take the free port first
            self.port = _free_port()
            settings = {
                "port": str(self.port),
                "listen_addresses": "'127.0.0.1'",
                "unix_socket_directories": "''",  # TCP on 127.0.0.1 only
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
                "max_connections": "200",
                "shared_buffers": "32MB",
            }
            conf = self.data / "postgresql.auto.conf"
            with conf.open("a", encoding="utf-8") as f:
                f.writelines(f"{name} = {value}\n" for name, value in settings.items())
            try:
                self._run(
                    "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data),
                    "-l", str(self.root / "server.log"),
                )  # fmt: skip
                return
            except RuntimeError:
                if attempt == 2:
                    raise

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            # Immediate: the data is thrown away anyway.
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.SUPERUSER, dbname=database, autocommit=True
        )

    def create_database(self) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        with self._lock:
            name = f"test_{next(self._numbers)}"
        with self.connect() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """This test process's own PostgreSQL cluster, for the whole session."""
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING)  # never a silent skip in CI
        pytest.skip(MISSING)
    cluster = PostgresCluster(bindir)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """The URL of a fresh, empty PostgreSQL database for this test alone."""
    return postgres_cluster.create_database()
