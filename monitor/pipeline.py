"""The poll cycle, wiring only:

    claim due feeds (a lease; next check moved forward) | fetch | parse | skip known
    | match | store (the lease cleared)

Due feeds are claimed in batches, so that several workers sharing a database
split them between them; they are fetched, matched and stored concurrently in
a bounded thread pool, and the next batch is claimed as that pool runs low.
When many are due, parsing and matching run in a pool of processes
(parsepool.py) to use every core. Deciding
things lives elsewhere (schedule.py: when; parse.py: what an entry is;
matcher.py: what matches); this module only calls them in order and turns
every per-feed outcome into a ``FeedReport`` value.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import cast

from monitor.fetch import Fetcher
from monitor.matcher import Matcher
from monitor.parsepool import Parse, ParsePool, Premade, matches_of, parse_here
from monitor.schedule import FailureDecision, after_failure, next_poll_after_success
from monitor.store import DEFAULT_FEED_LEASE, FeedState, NewMatch, Store, Unchanged
from monitor.types import Entry, FeedFailure, Fetched, NotModified, ParsedFeed

log = logging.getLogger(__name__)


UNCHANGED = ("http_304", "same_body")  # outcomes of a poll that found the feed as it was


@dataclass(frozen=True)
class FeedReport:
    url: str
    outcome: str  # "updated", "http_304", "same_body", or a failure reason
    new_items: int = 0
    new_matches: int = 0
    message: str = ""
    stopped: str | None = None  # "paused" or "gone" when this poll stopped the feed
    fetch_seconds: float | None = None  # how long the request took (None: none was made)
    matches_by_watchlist: tuple[tuple[str, int], ...] = ()  # new_matches, per watchlist

    @property
    def failed(self) -> bool:
        return self.outcome != "updated" and self.outcome not in UNCHANGED


@dataclass(frozen=True)
class CycleReport:
    feeds: tuple[FeedReport, ...]

    @property
    def new_items(self) -> int:
        return sum(f.new_items for f in self.feeds)

    @property
    def new_matches(self) -> int:
        return sum(f.new_matches for f in self.feeds)

    @property
    def failures(self) -> tuple[FeedReport, ...]:
        return tuple(f for f in self.feeds if f.failed)

    def summary(self) -> str:
        line = (
            f"{len(self.feeds)} feeds polled, {self.new_items} new items, "
            f"{self.new_matches} new matches, {len(self.failures)} failed"
        )
        reasons = sorted({f.outcome for f in self.failures})
        return line + (f" ({', '.join(reasons)})" if reasons else "")


# Polls that found nothing new are recorded (and their leases released) this
# many at a time, and whenever leases are renewed, and at the end of a cycle.
UNCHANGED_BATCH = 64

# Below this many due feeds, parsing in-process costs less than shipping
# bodies to another process.
POOL_THRESHOLD = 8


@dataclass
class Poller:
    store: Store
    fetcher: Fetcher
    matcher: Matcher
    workers: int = 8
    raise_errors: bool = False  # tests: a bug in the pipeline fails loudly
    jitter: Callable[[], float] = random.random
    pool: ParsePool | None = None  # None: parse in this process
    pause_after: int = 10  # consecutive failures that pause a feed
    # How long a claimed feed is kept from other workers; renewed every third
    # of it while the cycle runs, so it runs out only when this worker died.
    lease: timedelta = DEFAULT_FEED_LEASE
    # The clock that dates each batch's lease (a long cycle claims its last
    # batch well after ``now``); None: ``now``.
    clock: Callable[[], datetime] | None = None
    # Called with +n when feeds are claimed and -1 as each poll is recorded.
    on_lease: Callable[[int], None] = lambda _: None

    @property
    def renew_every(self) -> float:
        """Seconds between renewals of the leases of a cycle still running."""
        return self.lease.total_seconds() / 3

    @property
    def batch(self) -> int:
        """How many feeds one claim takes: enough to keep the threads busy
        until the next claim, few enough to leave the rest to other workers.
        Each claim is a transaction: on a quiet cycle of fast 304s, claiming
        a couple of feeds at a time would cost more than polling them."""
        return 4 * self.workers

    def cycle(self, now: datetime, urls: Sequence[str], force: bool = False) -> CycleReport:
        """Poll those of ``urls`` that are due (all of them with ``force``),
        claiming them in batches; each is polled at most once per cycle."""
        order: list[str] = []  # claimed, in claim order
        reports: dict[str, FeedReport] = {}
        unchanged: list[Unchanged] = []  # list.append is atomic: no lock needed
        # Read once, then claimed a batch at a time: a claim of the whole
        # list each time would cost more than a batch of 304s.
        remaining = self.store.due_urls(now, list(dict.fromkeys(urls)), force)
        # Shipping bodies to another process costs more than it saves for a few.
        pooled = self.pool is not None and len(remaining) >= POOL_THRESHOLD
        parse: Parse = parse_here
        if self.pool is not None and pooled:
            pool, matcher = self.pool, self.matcher
            parse = lambda fetched: pool.parse(fetched, matcher)  # noqa: E731
        renewed = time.monotonic()
        running = 0
        poll = partial(self._poll_guarded, now=now, parse=parse, unchanged=unchanged)
        with _PollThreads(self.workers, poll) as threads:
            while True:
                if remaining and running <= self.workers:
                    wanted = self.batch - running
                    # Those not claimed were taken by another worker meanwhile.
                    due = self._claim(now, remaining[:wanted], force, wanted)
                    del remaining[:wanted]
                    for feed in due:
                        threads.put(feed)
                        order.append(feed.url)
                    running += len(due)
                if not running:
                    if remaining:
                        continue
                    break
                for url, report in threads.take(self.renew_every):
                    reports[url] = report
                    running -= 1
                if len(unchanged) >= UNCHANGED_BATCH or not running:
                    self._record_unchanged(now, unchanged)
                if time.monotonic() - renewed >= self.renew_every:
                    self._record_unchanged(now, unchanged)  # done with these: release them
                    # Still at work on them: a lease runs out only when this worker died.
                    self.store.renew_leases(self.clock() if self.clock else now, self.lease)
                    renewed = time.monotonic()
        return CycleReport(tuple(reports[url] for url in order))

    def _claim(self, now: datetime, urls: list[str], force: bool, limit: int) -> list[FeedState]:
        claimed_at = self.clock() if self.clock else now
        due = self.store.start_polls(
            now, urls, lambda feed: _next_poll(feed, now), force,
            limit=limit, lease=self.lease, claimed_at=claimed_at,
        )  # fmt: skip
        if due:
            self.on_lease(len(due))
        return due

    def _record_unchanged(self, now: datetime, unchanged: list[Unchanged]) -> None:
        """Record (and release) the polls that found nothing new so far, in
        one transaction (on a quiet cycle these are most feeds, and a commit
        each would cost more than the requests), and not only at the end of
        a long cycle, when their leases might have run out."""
        batch = unchanged[:]
        del unchanged[: len(batch)]
        self.store.record_not_modified(now, batch)
        for _ in batch:
            self.on_lease(-1)

    def _poll_guarded(
        self, feed: FeedState, now: datetime, parse: Parse, unchanged: list[Unchanged]
    ) -> FeedReport:
        report = None
        try:
            report = self._poll_or_fail(feed, now, parse, unchanged)
            return report
        finally:
            if report is None or report.outcome not in UNCHANGED:
                self.on_lease(-1)  # recorded and released (the unchanged ones later)

    def _poll_or_fail(
        self, feed: FeedState, now: datetime, parse: Parse, unchanged: list[Unchanged]
    ) -> FeedReport:
        try:
            return self.poll(feed, now, parse, unchanged)
        except Exception as e:
            if self.raise_errors:
                raise
            # Not a feed problem but a bug: say so loudly, keep the other feeds going.
            log.exception("internal error while polling %s", feed.url)
            failure = FeedFailure(feed.url, "internal_error", f"{type(e).__name__}: {e}")
            return self._failed(feed, failure, now)

    def poll(
        self, feed: FeedState, now: datetime, parse: Parse, unchanged: list[Unchanged]
    ) -> FeedReport:
        """One feed, already started (``Store.start_polls``); a poll that finds
        nothing new is added to ``unchanged``, for the caller to record."""
        started = time.monotonic()
        outcome = self.fetcher.fetch(
            feed.fetch_url, now, feed.etag, feed.last_modified, known_hash=feed.body_hash
        )
        report = self._after_fetch(feed, outcome, now, parse, unchanged)
        return replace(report, fetch_seconds=time.monotonic() - started)

    def _after_fetch(
        self,
        feed: FeedState,
        outcome: Fetched | NotModified | FeedFailure,
        now: datetime,
        parse: Parse,
        unchanged: list[Unchanged],
    ) -> FeedReport:
        every = timedelta(seconds=feed.every_seconds)
        if isinstance(outcome, NotModified):
            next_poll = next_poll_after_success(now, every, outcome.max_age)
            unchanged.append(Unchanged(feed.url, next_poll, outcome.moved_to))
            return FeedReport(feed.url, outcome.reason)
        if isinstance(outcome, FeedFailure):
            return self._failed(feed, outcome, now)
        parsed, premade = parse(outcome)
        if isinstance(parsed, FeedFailure):
            return self._failed(feed, parsed, now)
        report = self._ingest(feed, outcome, parsed, premade or {}, now)
        if self.pool is not None:
            self.pool.remember(feed.url, (e.key for e in parsed.entries))
        return report

    def _matches(self, entries: Sequence[Entry], premade: Premade) -> list[NewMatch]:
        """The matches of the entries the store does not know yet. Those
        matched with the parse are taken as they are (the store keeps only
        the matches of items it creates); the others (the pool skipped them
        as stored before) are checked against the store first."""
        matches = [m for made in premade.values() for m in made]
        unmatched = [e for e in entries if e.key not in premade]
        if unmatched:
            known = self.store.known_keys([e.key for e in unmatched])
            fresh = [e for e in unmatched if e.key not in known]
            matches += [m for entry in fresh for m in matches_of(self.matcher, entry)]
        return matches

    def _ingest(
        self, feed: FeedState, fetched: Fetched, parsed: ParsedFeed, premade: Premade, now: datetime
    ) -> FeedReport:
        matches = self._matches(parsed.entries, premade)
        validators = {
            "etag": fetched.etag,
            "last_modified": fetched.last_modified,
            "body_hash": fetched.body_hash,
            "title": parsed.title or None,
        }
        hint = max((h for h in (fetched.max_age, parsed.ttl) if h), default=None)
        next_poll = next_poll_after_success(now, timedelta(seconds=feed.every_seconds), hint)
        by_watchlist: dict[str, int] = {}
        new_items, new_matches = self.store.save_poll(
            feed.url, validators, parsed.entries, matches, now, next_poll, fetched.moved_to,
            by_watchlist=by_watchlist,
        )  # fmt: skip
        return FeedReport(
            feed.url, "updated", new_items, new_matches,
            matches_by_watchlist=tuple(sorted(by_watchlist.items())),
        )  # fmt: skip

    def _failed(self, feed: FeedState, failure: FeedFailure, now: datetime) -> FeedReport:
        every = timedelta(seconds=feed.every_seconds)
        jitter = self.jitter()

        def decide(errors: int) -> FailureDecision:
            return after_failure(
                now, every, errors, failure.reason, jitter, self.pause_after, failure.retry_after
            )

        decision = self.store.record_failure(feed.url, failure, now, decide)
        stopped = decision.status if decision.newly_stopped else None
        return FeedReport(feed.url, failure.reason, message=failure.message, stopped=stopped)


class _PollThreads:
    """Threads that poll the feeds put to them and hand back each report: a
    queue in and a queue out. A quiet cycle polls hundreds of feeds in a
    fraction of a second, and a Future per feed (its Condition, callbacks
    and wake-ups) would cost a noticeable share of each 304."""

    def __init__(self, count: int, poll: Callable[[FeedState], FeedReport]) -> None:
        self._count = count
        self._poll = poll
        self._jobs: queue.SimpleQueue[FeedState | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[tuple[str, FeedReport | BaseException]] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> _PollThreads:
        return self

    def __exit__(self, *_: object) -> None:
        for _thread in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    def put(self, feed: FeedState) -> None:
        if len(self._threads) < self._count:  # started as needed, up to count
            thread = threading.Thread(target=self._run, name="poll", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._jobs.put(feed)

    def take(self, timeout: float) -> list[tuple[str, FeedReport]]:
        """The polls finished: waits up to ``timeout`` for the first, then
        takes whatever else is already there. A poll that raised (tests'
        raise_errors) raises here."""
        try:
            done = [self._done.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                done.append(self._done.get_nowait())
            except queue.Empty:
                break
        for _, result in done:
            if isinstance(result, BaseException):
                raise result
        return cast(list[tuple[str, FeedReport]], done)

    def _run(self) -> None:
        while (feed := self._jobs.get()) is not None:
            result: FeedReport | BaseException
            try:
                result = self._poll(feed)
            except BaseException as e:  # handed to the cycle, which raises it
                result = e
            self._done.put((feed.url, result))


def _next_poll(feed: FeedState, now: datetime) -> datetime:
    return next_poll_after_success(now, timedelta(seconds=feed.every_seconds))
