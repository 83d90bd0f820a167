"""The worker: the live watchlists, one object wiring the stages, and the
APScheduler loop around it. No business logic: each job calls one method.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from monitor import metrics
from monitor.config import Settings
from monitor.deliver import DeliveryReport, Outbox, SmtpConfig, SmtpSender, outbox_options
from monitor.digest import Renderer
from monitor.errors import Diagnostic, MonitorError, WatchlistError
from monitor.fetch import Fetcher, FetchPolicy
from monitor.matcher import Matcher
from monitor.pipeline import CycleReport, Poller
from monitor.pollpool import PollPool
from monitor.schedule import due_digest_slot
from monitor.store import DigestRecord, Store
from monitor.watchlist import Watchlist, load_file, watchlist_files

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The one place that reads the real clock."""
    return datetime.now(UTC)


class LiveWatchlists:
    """The watchlists in force. A file that fails to load keeps its last good
    version; a deleted file is dropped. Reloads only when files changed."""

    def __init__(self, directory: Path, default_timezone: str) -> None:
        self.directory = directory
        self.default_timezone = default_timezone
        self.by_id: dict[str, Watchlist] = {}
        self.problems: tuple[Diagnostic, ...] = ()
        self.matcher = Matcher(())
        self._fingerprint: tuple[tuple[str, int, int], ...] | None = None

    def _current_fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        out = []
        for path in watchlist_files(self.directory) if self.directory.exists() else []:
            try:
                stat = path.stat()
            except OSError:
                continue
            out.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(out)

    def reload(self) -> bool:
        """Load what changed; True when the set in force changed."""
        fingerprint = self._current_fingerprint()
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        loaded: dict[str, Watchlist] = {}
        problems: list[Diagnostic] = []
        for path_text, _, _ in fingerprint:
            path = Path(path_text)
            try:
                loaded[path.stem] = load_file(path, self.default_timezone)
            except WatchlistError as e:
                problems.extend(e.diagnostics)
                if path.stem in self.by_id:
                    loaded[path.stem] = self.by_id[path.stem]
                    log.error("%s is broken; the last good version stays in force", path)
                for diagnostic in e.diagnostics:
                    log.error("%s", diagnostic)
        self.by_id, self.problems = loaded, tuple(problems)
        self.matcher = Matcher(loaded.values())
        log.info("watchlists in force: %s", ", ".join(sorted(loaded)) or "none")
        return True

    @property
    def feeds(self) -> dict[str, int]:
        """Every feed URL of every watchlist, with its shortest interval in seconds."""
        out: dict[str, int] = {}
        for watchlist in self.by_id.values():
            for feed in watchlist.feeds:
                seconds = int(feed.every.total_seconds())
                out[feed.url] = min(out.get(feed.url, seconds), seconds)
        return out


@dataclass(frozen=True)
class DigestResult:
    watchlist: str
    record: DigestRecord | None  # None: that slot already had a digest


class Worker:
    """Every stage wired once; each public method is one job of the service."""

    def __init__(self, settings: Settings, clock: Clock = utc_now, raise_errors: bool = False):
        self.settings = settings
        self.clock = clock
        self.store = Store(settings.database_url)
        self.store.create_schema()
        self.watchlists = LiveWatchlists(settings.watchlists, settings.timezone)
        self.watchlists.reload()
        self.fetcher = Fetcher(
            FetchPolicy(
                timeout=settings.fetch_timeout,
                max_bytes=settings.max_body_bytes,
                user_agent=settings.user_agent,
                allow_hosts=settings.allowed_hosts,
                connections=max(10, settings.fetch_workers),
            )
        )
        sender = (
            SmtpSender(SmtpConfig.from_url(settings.smtp_url), settings.smtp_timeout)
            if settings.smtp_url
            else None
        )
        self.outbox = Outbox(
            self.store,
            Renderer(settings.templates_dir),
            settings.output_dir,
            settings.mail_from,
            sender,
            settings.delivery_attempts,
            lease=timedelta(seconds=settings.delivery_lease_seconds),
            fault=settings.fault,
            **outbox_options(settings),
        )
        self.raise_errors = raise_errors
        processes = settings.parse_processes
        self.poll_pool = (
            PollPool(processes, self.fetcher.policy, settings.fetch_workers)
            if processes > 0
            else None
        )

    def close(self) -> None:
        if self.poll_pool is not None:
            self.poll_pool.cleanup()
        self.fetcher.close()
        self.store.close()

    def poll(self, force: bool = False, urls: list[str] | None = None) -> CycleReport:
        """One poll cycle, then alerts for what it found, delivered at once."""
        now = self.clock()
        feeds = self.watchlists.feeds
        extra = {url: 900 for url in urls or [] if url not in feeds}
        self.store.sync_feeds({**feeds, **extra}.items(), now)
        for watchlist_id in self.watchlists.by_id:
            self.store.watchlist_anchor(watchlist_id, now)  # digests count from here
        poller = Poller(
            self.store,
            self.fetcher,
            self.watchlists.matcher,
            workers=self.settings.fetch_workers,
            raise_errors=self.raise_errors,
            pool=self.poll_pool,
            pause_after=self.settings.pause_after,
            lease=self.settings.feed_lease,
            clock=self.clock,
            on_lease=metrics.lease_change,
        )
        report = poller.cycle(now, urls if urls else list(feeds), force=force or bool(urls))
        metrics.record_cycle(report)
        queued = self.outbox.queue_alerts(self.watchlists.by_id, self.clock())
        queued += self.outbox.queue_spike_alerts(self.watchlists.by_id, self.clock())
        for stopped in (f for f in report.feeds if f.stopped):
            log.warning("feed %s is %s: %s", stopped.url, stopped.stopped, stopped.message)
            queued += self.outbox.queue_feed_alert(self.watchlists.by_id.values(), stopped, now)
        if queued:
            self.deliver()
        return report

    def due_digests(self) -> list[DigestResult]:
        """Make the digest of every watchlist whose schedule has a slot due."""
        now = self.clock()
        results = []
        for watchlist in self.watchlists.by_id.values():
            anchor = self.store.watchlist_anchor(watchlist.id, now)
            slot = due_digest_slot(watchlist.schedule, anchor, now)
            if slot is not None:
                slot = slot.astimezone(UTC)
                results.append(
                    DigestResult(watchlist.id, self.outbox.queue_digest(watchlist, slot, now))
                )
        metrics.record_digests(result.record for result in results)
        if results:
            self.deliver()
        return results

    def digest_now(self, watchlist: Watchlist) -> DigestResult:
        """An unscheduled digest, now, of everything not yet reported."""
        now = self.clock()
        record = self.outbox.queue_digest(watchlist, now, now)
        metrics.record_digests([record])
        self.deliver()
        return DigestResult(watchlist.id, record)

    def deliver(self) -> DeliveryReport:
        report = self.outbox.deliver(self.clock, self.watchlists.by_id)
        # The backlog costs a count of the outbox: only when someone scrapes it.
        served = self.settings.metrics_port is not None
        pending = self.store.outbox_counts().get("pending", 0) if served else None
        metrics.record_delivery(report, pending)
        return report

    def reload(self) -> bool:
        return self.watchlists.reload()

    def prune(self) -> int:
        """Apply the retention setting; returns how many items were removed."""
        if not self.settings.retention_days:
            return 0
        return self.store.prune(self.clock(), timedelta(days=self.settings.retention_days))


# --- the service loop ------------------------------------------------------------


def _guarded(name: str, job: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception:
            # A job that fails (database locked, disk full) must not stop the
            # service; it is logged with its traceback and runs again next tick.
            log.exception("%s job failed; it will run again at the next tick", name)

    return run


def _poll_and_log(worker: Worker) -> None:
    report = worker.poll()
    if report.feeds:
        log.info("poll: %s", report.summary())


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


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    if not database_url.startswith("sqlite") or ":///" not in database_url:
        return None
    path = database_url.split(":///", 1)[1].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def run_service(settings: Settings, clock: Clock = utc_now) -> int:
    """Run until SIGTERM or SIGINT, then finish the running jobs and exit 0.
    On SQLite, refuses (MonitorError) when another service uses the file."""
    with sqlite_single_worker(settings.database_url):
        return _run(settings, clock)


def _run(settings: Settings, clock: Clock) -> int:
    # First: a port in use is the only thing said, before any other start-up line.
    exporter = None if settings.metrics_port is None else metrics.serve(settings.metrics_port)
    try:
        worker = Worker(settings, clock)
    except BaseException:
        if exporter is not None:
            exporter.shutdown()
        raise
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    start = datetime.now(UTC)
    jobs: list[tuple[str, Callable[[], object], float]] = [
        ("reload", worker.reload, settings.reload_seconds),
        ("poll", lambda: _poll_and_log(worker), settings.poll_tick_seconds),
        ("digest", lambda: _digests_and_log(worker), settings.digest_tick_seconds),
        ("deliver", lambda: _deliver_and_log(worker), settings.deliver_tick_seconds),
        ("prune", lambda: _prune_and_log(worker), PRUNE_SECONDS),
    ]
    for name, job, seconds in jobs:
        scheduler.add_job(
            _guarded(name, job),
            "interval",
            seconds=seconds,
            id=name,
            next_run_time=start + timedelta(seconds=0.1),
        )
    scheduler.start()
    watchlists = worker.watchlists
    database = _safe_url(settings.database_url)
    log.info(
        "monitor running: %d watchlists, %d feeds, database %s%s",
        *(len(watchlists.by_id), len(watchlists.feeds), database),
        f", metrics on :{settings.metrics_port}/metrics" if exporter is not None else "",
    )
    stop.wait()
    log.info("stopping: finishing running jobs")
    scheduler.shutdown(wait=True)
    worker.close()
    if exporter is not None:
        exporter.shutdown()
    log.info("stopped")
    return 0


def _safe_url(url: str) -> str:
    """A database URL without its password, for logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return url
