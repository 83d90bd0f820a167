"""The worker: every stage wired once, one method per job of the service, and
the one facade the command line uses. No business logic: each method calls
the pipeline or the delivery wiring and returns its report."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, timedelta
from types import TracebackType
from typing import Protocol

from monitor.channels.files import Archive
from monitor.channels.smtp import SmtpConfig, SmtpSender
from monitor.clock import Clock, utc_now
from monitor.config import Settings
from monitor.delivery.alerts import Alerter
from monitor.delivery.digests import DigestMaker
from monitor.delivery.faults import Faults
from monitor.delivery.outbox import Deliverer
from monitor.digest import Renderer
from monitor.events import EventGrouping
from monitor.fetch import Fetcher, FetchPolicy
from monitor.live import LiveWatchlists
from monitor.meaning import EventEncoder
from monitor.migrations import upgrade
from monitor.parsepool import InlineParser, ParsePool
from monitor.pipeline import Poller
from monitor.schedule import due_digest_slot
from monitor.store import Store
from monitor.trends import SpikePolicy
from monitor.types import CycleReport, DeliveryReport, DigestRecord
from monitor.watchlist import Watchlist


class Observer(Protocol):
    """What the worker reports as it goes (monitor.metrics counts it for ``monitor run``)."""

    def leases(self, change: int) -> None: ...
    def polled(self, report: CycleReport) -> None: ...
    def digests(self, made: Iterable[DigestRecord | None]) -> None: ...
    def delivered(self, report: DeliveryReport, pending: Callable[[], int]) -> None: ...


class Unobserved:
    """Nobody is counting (the commands)."""

    def leases(self, change: int) -> None:
        pass

    def polled(self, report: CycleReport) -> None:
        pass

    def digests(self, made: Iterable[DigestRecord | None]) -> None:
        pass

    def delivered(self, report: DeliveryReport, pending: Callable[[], int]) -> None:
        pass


@dataclass(frozen=True)
class DigestResult:
    watchlist: str
    record: DigestRecord | None  # None: that slot already had a digest


def fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy(
        timeout=settings.fetch_timeout,
        max_bytes=settings.max_body_bytes,
        user_agent=settings.user_agent,
        allow_hosts=settings.allowed_hosts,
        connections=max(10, settings.fetch_workers),
    )


def spike_policy(settings: Settings) -> SpikePolicy:
    return SpikePolicy(
        window=timedelta(hours=settings.spike_window_hours),
        baseline=timedelta(days=settings.spike_baseline_days),
        factor=settings.spike_factor,
        min_mentions=settings.spike_min_mentions,
    )


class Worker:
    """Every stage wired once; each public method is one job of the service.
    Use it as a context manager, or call ``close``."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock = utc_now,
        raise_errors: bool = False,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.raise_errors = raise_errors
        self.observer: Observer = observer or Unobserved()
        self.store = Store(settings.database_url)
        try:
            upgrade(self.store.engine)
        except BaseException:
            self.store.close()
            raise
        self.watchlists = LiveWatchlists(settings.watchlists, settings.timezone)
        self.watchlists.reload()
        self.fetcher = Fetcher(fetch_policy(settings))
        processes = settings.parse_processes
        self.parser = (
            ParsePool(processes, settings.parse_timeout) if processes > 0 else InlineParser()
        )
        renderer = Renderer(settings.templates_dir, public_url=settings.public_url)
        faults = Faults(settings.fault)
        sender = None
        if settings.smtp_url:
            sender = SmtpSender(SmtpConfig.from_url(settings.smtp_url), settings.smtp_timeout)
        events = None
        if settings.stories == "meaning":
            events = EventGrouping(EventEncoder(), max_reports=settings.stories_max_reports)
        self.digests = DigestMaker(self.store, renderer, settings.story_threshold, events, faults)
        self.alerts = Alerter(self.store, renderer, spike_policy(settings), faults)
        self.deliverer = Deliverer(
            self.store,
            Archive(settings.output_dir, renderer),
            settings.mail_from,
            sender,
            max_attempts=settings.delivery_attempts,
            lease=timedelta(seconds=settings.delivery_lease_seconds),
            faults=faults,
        )

    def __enter__(self) -> Worker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.parser.close()
        self.fetcher.close()
        self.store.close()

    def poller(self, progress: Callable[[int, int], None] | None = None) -> Poller:
        return Poller(
            self.store,
            self.fetcher,
            self.parser,
            self.watchlists.matcher,
            workers=self.settings.fetch_workers,
            per_host=self.fetcher.policy.per_host,
            pause_after=self.settings.pause_after,
            jitter=random.random,
            lease=self.settings.feed_lease,
            clock=self.clock,
            on_lease=self.observer.leases,
            on_progress=progress or (lambda _done, _total: None),
            raise_errors=self.raise_errors,
            alert_max_age=self.settings.alert_max_age,
            sources=self.watchlists.sources,
            telegram_url=self.settings.telegram_url,
        )

    def poll(
        self,
        force: bool = False,
        urls: list[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> CycleReport:
        """One poll cycle (of the due feeds; with ``force`` of all but those
        gone; of ``urls``, the watchlists' feeds named, whatever their state),
        then alerts for what it found, delivered at once. ``progress`` is
        told (feeds done, feeds due) as it goes."""
        now = self.clock()
        feeds = self.watchlists.feeds
        self.store.feeds.sync(feeds.items(), now)
        for watchlist_id in self.watchlists.by_id:
            self.store.digests.anchor(watchlist_id, now)  # digests count from here
        # Named feeds are polled whatever their state, a gone one included.
        named = [url for url in urls or [] if url in feeds]
        report = self.poller(progress).cycle(
            now, named if urls else list(feeds), force or bool(urls), bool(urls)
        )
        self.observer.polled(report)
        by_id = self.watchlists.by_id
        queued = self.alerts.queue_alerts(by_id, self.clock())
        queued += self.alerts.queue_spike_alerts(by_id, self.clock())
        for stopped in (f for f in report.feeds if f.stopped):
            queued += self.alerts.queue_feed_notice(by_id.values(), stopped, now)
        if queued:
            self.deliver()
        return report

    def due_digests(self) -> list[DigestResult]:
        """Make the digest of every watchlist whose schedule has a slot due."""
        now = self.clock()
        results = []
        for watchlist in self.watchlists.by_id.values():
            anchor = self.store.digests.anchor(watchlist.id, now)
            slot = due_digest_slot(watchlist.schedule, anchor, now)
            if slot is not None:
                made = self.digests.make(watchlist, slot.astimezone(UTC), now)
                results.append(DigestResult(watchlist.id, made))
        self.observer.digests(result.record for result in results)
        if results:
            self.deliver()
        return results

    def digest_now(self, watchlist: Watchlist) -> DigestResult:
        """An unscheduled digest, now, of everything not yet reported."""
        now = self.clock()
        record = self.digests.make(watchlist, now, now)
        self.observer.digests([record])
        self.deliver()
        return DigestResult(watchlist.id, record)

    def deliver(self) -> DeliveryReport:
        report = self.deliverer.deliver(self.clock, self.watchlists.by_id)
        self.observer.delivered(report, lambda: self.store.outbox.counts().get("pending", 0))
        return report

    def reload(self) -> bool:
        return self.watchlists.reload()

    def prune(self) -> int:
        """Apply the retention setting; returns how many items were removed."""
        if not self.settings.retention_days:
            return 0
        return self.store.items.prune(self.clock(), timedelta(days=self.settings.retention_days))
