"""Making a digest: read what it reports, compose it outside any transaction,
then record it with the matches it reported and queue its messages in one
short transaction (read, render, then claim only if unchanged, as alerts
are made)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor import compose
from monitor.delivery.faults import Faults
from monitor.digest import DigestFigures, Rendered, Renderer
from monitor.errors import MonitorError
from monitor.events import EventGrouping
from monitor.store import MatchesTaken, Store
from monitor.stories import DEFAULT_THRESHOLD
from monitor.targets import notify_targets
from monitor.trends import daily_trend, trend_start
from monitor.types import DigestRecord, StoredMatch
from monitor.watchlist import Watchlist

log = logging.getLogger(__name__)

# Another digest taking some of the matches between the read and the record
# is rare (a `monitor digest` run while the scheduled one is made): read and
# compose again, this many times at most.
ATTEMPTS = 5


@dataclass
class DigestMaker:
    store: Store
    renderer: Renderer
    story_threshold: float = DEFAULT_THRESHOLD  # MONITOR_STORY_THRESHOLD
    events: EventGrouping | None = None  # MONITOR_STORIES=meaning
    faults: Faults = field(default_factory=Faults)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)  # env:NAME targets

    def make(
        self, watchlist: Watchlist, scheduled_for: datetime, now: datetime
    ) -> DigestRecord | None:
        """The digest of one slot, of every match no digest has reported yet;
        None when this slot already has a digest."""
        for _ in range(ATTEMPTS):
            start = self.window_start(watchlist, now)
            matches = self.store.matches.unreported(watchlist.id, until=now)
            record = DigestRecord(0, watchlist.id, scheduled_for, start, now, "queued", 0)
            rendered = self.render(watchlist, record, matches, now)
            notify = notify_targets(watchlist, self.environ, "digest")
            drafts = compose.digest_drafts(watchlist, scheduled_for, rendered, notify)
            try:
                made = self.store.digests.record(
                    record, [m.id for m in matches], drafts, now,
                    before_commit=lambda: self.faults.at("before-outbox-commit"),
                )  # fmt: skip
            except MatchesTaken:
                continue
            if made is not None:
                self.faults.at("before-send")
            return made
        raise MonitorError(f"{watchlist.id}: the digest's matches kept changing; tried {ATTEMPTS}")

    def window_start(self, watchlist: Watchlist, now: datetime) -> datetime:
        previous = self.store.digests.last(watchlist.id)
        return previous.window_end if previous else self.store.digests.anchor(watchlist.id, now)

    def render(
        self,
        watchlist: Watchlist,
        record: DigestRecord,
        matches: list[StoredMatch],
        now: datetime,
    ) -> Rendered:
        plan = compose.digest_plan(watchlist, record, matches, self.store.feeds.statuses())
        return self.renderer.digest(
            plan, watchlist, self.figures(watchlist, record.window_start, now)
        )

    def figures(self, watchlist: Watchlist, window_start: datetime, now: datetime) -> DigestFigures:
        """What a digest shows beside its matches: item texts and the event
        grouping for its stories, the previous period's counts, the 14-day trend."""
        zone = watchlist.schedule.timezone
        start = trend_start(now, zone)
        rules = list(watchlist.rule_names.items())
        # The period before, as long as this one: [start, window_start).
        tick = timedelta(microseconds=1)
        before = (window_start - (now - window_start) - tick, window_start - tick)
        matches = self.store.matches
        return DigestFigures(
            texts=matches.texts(watchlist.id),
            previous=matches.rule_counts(watchlist.id, *before),
            trend=daily_trend(matches.buckets(watchlist.id, start, now), rules, now, zone),
            story_threshold=self.story_threshold,
            events=self.events,
            first=self.store.digests.last(watchlist.id) is None,
            compare=before[0] >= self.store.digests.first_loaded(watchlist.id, now),
        )
