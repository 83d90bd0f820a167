"""The service: APScheduler running the worker's jobs on their ticks, signals,
and on SQLite the lock that keeps a second service off the same file. No
business logic: each job calls one method of the worker (monitor.app).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import DBAPIError

from monitor import metrics
from monitor.app import Worker
from monitor.clock import Clock, utc_now
from monitor.config import Settings
from monitor.errors import MonitorError
from monitor.redact import redact_url
from monitor.store import sqlite_path
from monitor.store.db import DatabaseError
from monitor.text import counted

log = logging.getLogger(__name__)


# --- the service loop ------------------------------------------------------------


class Outage:
    """A database outage is said twice, not at every tick of every job: one
    line when a job first finds it cannot use the database, one when every
    job that failed has worked again. (Jobs that only read go on working on a
    read-only database or a full disk; the writers decide.)"""

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self.since: datetime | None = None
        self._lock = threading.Lock()

    def failed(self, name: str, error: Exception) -> None:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        with self._lock:
            first = not self.failing
            self.failing.add(name)
            if first:
                self.since = datetime.now(UTC)
        if first:
            log.error(
                "the database cannot be used (%s job): %s; the jobs wait for it", name, reason
            )

    def worked(self, name: str) -> None:
        with self._lock:
            if name not in self.failing:
                return
            self.failing.discard(name)
            back = not self.failing
        if back and self.since is not None:
            seconds = (datetime.now(UTC) - self.since).total_seconds()
            log.warning("the database works again, after %.0f s", seconds)


def _guarded(name: str, job: Callable[[], object], outage: Outage) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except (DBAPIError, DatabaseError) as e:
            outage.failed(name, e)
            return
        except Exception:
            # A job that fails otherwise (a bug) must not stop the service;
            # it is logged with its traceback and runs again next tick.
            log.exception("%s job failed; it will run again at the next tick", name)
            return
        outage.worked(name)

    return run


def _poller(worker: Worker, polled: threading.Event) -> Callable[[], None]:
    """The poll job; ``polled`` is set once its first run has ended, however
    it ended. On SQLite the file lock proves this worker alone: leases left by
    one that was killed are taken back before its first poll (and again until
    that works), not left to run out."""
    taken = sqlite_path(worker.settings.database_url) is None
    hinted = False

    def poll() -> None:
        nonlocal taken, hinted
        try:
            if not taken:
                if count := worker.store.feeds.take_back():
                    leases = "1 feed lease" if count == 1 else f"{count} feed leases"
                    log.info("took back %s a stopped worker held", leases)
                taken = True
            report = worker.poll()
        finally:
            polled.set()
        if report.feeds:
            log.info("poll: %s", report.summary())
        if not hinted and report.feeds and all(f.outcome in OFFLINE for f in report.feeds):
            hinted = True
            log.warning(OFFLINE_HINT)

    return poll


# Every feed failing so is a machine without the network, not a bad feed list.
OFFLINE = frozenset({"dns_error", "connect_error", "proxy_error", "timeout"})
OFFLINE_HINT = (
    "no feed answered: is this machine offline, or does it need a proxy (HTTPS_PROXY)? "
    "The service goes on trying. `make demo` (monitor demo) shows a digest made from "
    "sample feeds without the network"
)


def _plan(worker: Worker, now: datetime) -> Iterator[str]:
    """What a person starting the service wants to know: when each digest
    comes and where it goes."""
    settings = worker.settings
    for watchlist in worker.watchlists.by_id.values():
        upcoming = watchlist.schedule.next_after(now)
        when = (
            f"{upcoming.astimezone(watchlist.schedule.zone):%Y-%m-%d %H:%M %Z}"
            if upcoming is not None
            else "never (its schedule has no next time)"
        )
        pages = settings.output_dir.absolute() / watchlist.id
        if not watchlist.digest_email:
            mail = "mailed to nobody (digest.email is empty)"
        elif settings.smtp_url is None:
            mail = "its mail waits in the outbox until MONITOR_SMTP_URL is set"
        else:
            mail = f"mailed to {', '.join(watchlist.digest_email)}"
        yield f"digest {watchlist.id}: next {when}; pages in {pages}/, {mail}"


def _digester(worker: Worker, polled: threading.Event) -> Callable[[], None]:
    """The digest job. It waits for the first poll after start: a digest due
    while the service was down (or due at once) then holds what that poll
    brought in, not nothing."""

    def digest() -> None:
        if polled.is_set():
            _digests_and_log(worker)

    return digest


def _digests_and_log(worker: Worker) -> None:
    for result in worker.due_digests():
        if result.record is None:
            log.info("digest %s: this slot already has a digest", result.watchlist)
        else:
            r = result.record
            log.info(
                "digest %s for %s: %d matches",
                r.watchlist,
                r.scheduled_for.isoformat(),
                r.match_count,
            )


def _deliver_and_log(worker: Worker) -> None:
    report = worker.deliver()
    if report.sent or report.failed or report.retrying:
        log.info("delivery: %s", report.summary())


PRUNE_SECONDS = 6 * 3600.0


def _prune_and_log(worker: Worker) -> None:
    if removed := worker.prune():
        log.info(
            "retention: removed %d items older than %d days",
            removed,
            worker.settings.retention_days,
        )


@contextlib.contextmanager
def sqlite_single_worker(database_url: str) -> Iterator[None]:
    """On SQLite, hold an exclusive lock (flock) on ``<database>.lock`` while
    the service runs: a second ``monitor run`` on the same file refuses to
    start. The OS drops the lock when the process ends, however it ends."""
    path = sqlite_path(database_url)
    if path is None:
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise MonitorError(
                f"another `monitor run` (pid {holder}) is using {path}: SQLite takes one "
                "worker; stop it first, or use PostgreSQL for several workers"
            ) from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


def run_service(settings: Settings, clock: Clock = utc_now) -> int:
    """Run until SIGTERM or SIGINT, then finish the running jobs and exit 0.
    On SQLite, refuses (MonitorError) when another service uses the file."""
    with sqlite_single_worker(settings.database_url):
        return _run(settings, clock)


def _run(settings: Settings, clock: Clock) -> int:
    # First: a port in use is the only thing said, before any other start-up line.
    exporter = None if settings.metrics_port is None else metrics.serve(settings.metrics_port)
    try:
        observer = metrics.Metrics(backlog=settings.metrics_port is not None)
        worker = Worker(settings, clock, observer=observer)
    except BaseException:
        if exporter is not None:
            exporter.shutdown()
        raise
    outage = Outage()
    stop = threading.Event()
    polled = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    start = datetime.now(UTC)
    jobs: list[tuple[str, Callable[[], object], float]] = [
        ("heartbeat", lambda: worker.store.heartbeats.beat(clock()), settings.heartbeat_seconds),
        ("reload", worker.reload, settings.reload_seconds),
        ("poll", _poller(worker, polled), settings.poll_tick_seconds),
        ("digest", _digester(worker, polled), settings.digest_tick_seconds),
        ("deliver", lambda: _deliver_and_log(worker), settings.deliver_tick_seconds),
        ("prune", lambda: _prune_and_log(worker), PRUNE_SECONDS),
    ]
    for name, job, seconds in jobs:
        scheduler.add_job(
            _guarded(name, job, outage),
            "interval",
            seconds=seconds,
            id=name,
            next_run_time=start + timedelta(seconds=0.1),
        )
    scheduler.start()
    watchlists = worker.watchlists
    database = redact_url(settings.database_url)
    log.info(
        "monitor running: %s, %s, database %s%s",
        counted(len(watchlists.by_id), "watchlist"),
        counted(len(watchlists.feeds), "feed"),
        database,
        f", metrics on :{settings.metrics_port}/metrics" if exporter is not None else "",
    )
    for line in _plan(worker, clock()):
        log.info("%s", line)
    stop.wait()
    log.info("stopping: finishing running jobs")
    scheduler.shutdown(wait=True)
    worker.close()
    if exporter is not None:
        exporter.shutdown()
    log.info("stopped")
    return 0
