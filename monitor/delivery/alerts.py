"""Queueing alerts: matches of alert rules (batched per watchlist), spikes
of a rule's mentions, and feeds that were paused or are gone. Each is read,
rendered, then queued in a short transaction."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from monitor import compose
from monitor.delivery.faults import Faults
from monitor.digest import Renderer
from monitor.store import Store
from monitor.targets import notify_targets
from monitor.trends import Spike, SpikePolicy, find_spikes
from monitor.types import FeedReport, OutboxDraft, StoredMatch
from monitor.watchlist import Watchlist

log = logging.getLogger(__name__)


@dataclass
class Alerter:
    store: Store
    renderer: Renderer
    spikes: SpikePolicy = field(default_factory=SpikePolicy)  # MONITOR_SPIKE_*
    faults: Faults = field(default_factory=Faults)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)  # env:NAME targets
    # Since when each rule is watched, per watchlist: recorded once, never
    # changed, so read again only when a watchlist gains a rule.
    _watched: dict[str, dict[str, datetime]] = field(default_factory=dict)

    def queue_alerts(self, watchlists: Mapping[str, Watchlist], now: datetime) -> int:
        """Batch every not-yet-alerted alert match into one alert per watchlist
        and recipient. In a watchlist's quiet hours its matches stay unqueued,
        so the first cycle after the window queues them all as one alert.
        Returns how many messages were queued."""
        by_watchlist: dict[str, list[StoredMatch]] = {}
        for match in self.store.matches.unqueued_alerts():
            by_watchlist.setdefault(match.watchlist, []).append(match)
        queued = 0
        for watchlist_id, matches in by_watchlist.items():
            watchlist = watchlists.get(watchlist_id)
            if watchlist is not None and compose.quiet_until(watchlist, now) > now:
                continue
            ids = [m.id for m in matches]
            drafts: list[OutboxDraft] = []
            if watchlist is not None:  # a deleted watchlist: marked, nothing to send
                rendered = self.renderer.alert(watchlist, compose.named(watchlist, matches), now)
                drafts = compose.alert_drafts(watchlist, ids, rendered, self._notify(watchlist))
            before_commit = lambda: self.faults.at("before-outbox-commit")  # noqa: E731
            if self.store.outbox.queue_alerts(ids, drafts, now, before_commit=before_commit):
                queued += len(drafts)
                self.faults.at("before-send")
        return queued

    def queue_spike_alerts(self, watchlists: Mapping[str, Watchlist], now: datetime) -> int:
        """One alert per watchlist whose rules are mentioned far more than
        usual, once per spike: a spike seen again within one window of the
        last time is the same spike, extended, not alerted again. Returns how
        many messages were queued. Meant to run after each poll."""
        queued = 0
        for watchlist in watchlists.values():
            found = self._spikes(watchlist, now)
            if not found:
                continue
            since = now - self.spikes.window
            ongoing = self.store.digests.ongoing_spikes(watchlist.id, since)
            new = [s for s in found if s.rule not in ongoing]
            drafts: list[OutboxDraft] = []
            if new:
                rendered = self.renderer.spike(watchlist, new, now)
                rules = [s.rule for s in new]
                drafts = compose.spike_drafts(
                    watchlist, rules, now, rendered, self._notify(watchlist)
                )
            self.store.digests.record_spikes(
                watchlist.id,
                [(s.rule, s.mentions, s.usual) for s in new],
                [s.rule for s in found if s.rule in ongoing],
                drafts, now, since, compose.quiet_until(watchlist, now),
            )  # fmt: skip
            queued += len(drafts)
        return queued

    def _spikes(self, watchlist: Watchlist, now: datetime) -> list[Spike]:
        policy, counts = self.spikes, self.store.matches.rule_counts
        since = self._watched_since(watchlist, now)
        # A rule's usual count is known only once its whole baseline was
        # watched; an alert rule already sends every match as it comes, so a
        # spike alert would repeat the burst the analyst has just been sent.
        start = policy.baseline_start(now)
        observed = {r for r, at in since.items() if r in watchlist.rule_names and at <= start}
        wanted = observed - set(watchlist.alert_rules)
        if not wanted:
            return []
        recent = counts(watchlist.id, now - policy.window, now, news_only=True)
        recent = {rule: n for rule, n in recent.items() if rule in wanted}
        if not recent:
            return []
        earlier = counts(watchlist.id, policy.baseline_start(now), now - policy.window, True)
        return find_spikes(recent, earlier, watchlist.rule_names, policy)

    def _watched_since(self, watchlist: Watchlist, now: datetime) -> dict[str, datetime]:
        known = self._watched.get(watchlist.id, {})
        if not watchlist.rule_names.keys() <= known.keys():
            rules = list(watchlist.rule_names)
            known = self.store.digests.watched_since(watchlist.id, rules, now)
            self._watched[watchlist.id] = known
        return known

    def queue_feed_notice(
        self, watchlists: Iterable[Watchlist], report: FeedReport, now: datetime
    ) -> int:
        """One message to the alert recipients of every watchlist that follows
        a feed, when the feed was paused or is gone: once, not once per tick,
        and not before the watchlist's quiet hours end."""
        queued = 0
        for watchlist in (w for w in watchlists if any(f.url == report.url for f in w.feeds)):
            rendered = self.renderer.feed_problem(watchlist, report, now)
            notify = self._notify(watchlist)
            drafts = compose.feed_notice_drafts(watchlist, report, now, rendered, notify)
            self.store.outbox.queue(drafts, now, not_before=compose.quiet_until(watchlist, now))
            queued += len(drafts)
        return queued

    def _notify(self, watchlist: Watchlist) -> list[str]:
        return notify_targets(watchlist, self.environ)
