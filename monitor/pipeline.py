"""The poll cycle, wiring only:

    claim due feeds (a lease; next check moved forward) | fetch | parse | skip known
    | match | store (the lease cleared)

Due feeds are claimed in batches, so that several workers sharing a database
split them between them, and the next batch is claimed as the last runs low.
When many are due, the poll processes (pollpool.py) fetch, parse and match
them, to use every core, and this process finishes each poll: a 304 in the
cycle's own thread, the others (which write) on a bounded set of threads. A
few due feeds are polled on those threads from start to end. Deciding things
lives elsewhere (schedule.py: when; parse.py: what an entry is; matcher.py:
what matches); this module only calls them in order and turns every
per-feed outcome into a ``FeedReport`` value.
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
from typing import cast

from monitor.fetch import Fetcher
from monitor.matcher import Matcher
from monitor.parse import parse_feed
from monitor.pollpool import (
    DIED,
    Polled,
    PollJob,
    PollPool,
    Premade,
    RemoteBug,
    matches_of,
)
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

# Below this many due feeds, polling in this process costs less than the
# round trips to the pool's (and a quiet service need not start them).
POOL_THRESHOLD = 8


@dataclass
class Poller:
    store: Store
    fetcher: Fetcher
    matcher: Matcher
    workers: int = 8
    raise_errors: bool = False  # tests: a bug in the pipeline fails loudly
    jitter: Callable[[], float] = random.random
    pool: PollPool | None = None  # None: poll in this process
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
        # Read once, then claimed a batch at a time: a claim of the whole
        # list each time would cost more than a batch of 304s.
        remaining = self.store.due_urls(now, list(dict.fromkeys(urls)), force)
        pool = self.pool
        if pool is not None and len(remaining) < POOL_THRESHOLD:
            pool = None  # for a few, the round trips cost more than they save
        cycle = _Cycle(self, now, pool)
        renewed = time.monotonic()
        with cycle.threads:
            while True:
                if remaining and cycle.outstanding <= self.workers:
                    wanted = self.batch - cycle.outstanding
                    # Those not claimed were taken by another worker meanwhile.
                    cycle.start(self._claim(now, remaining[:wanted], force, wanted))
                    del remaining[:wanted]
                if not cycle.outstanding:
                    if remaining:
                        continue
                    break
                cycle.take(self.renew_every)
                if len(cycle.unchanged) >= UNCHANGED_BATCH or not cycle.outstanding:
                    self._record_unchanged(now, cycle.unchanged)
                if time.monotonic() - renewed >= self.renew_every:
                    self._record_unchanged(now, cycle.unchanged)  # done with these: release them
                    # Still at work on them: a lease runs out only when this worker died.
                    self.store.renew_leases(self.clock() if self.clock else now, self.lease)
                    renewed = time.monotonic()
        return CycleReport(tuple(cycle.reports[url] for url in cycle.order))

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

    def guarded(self, feed: FeedState, now: datetime, work: Callable[[], FeedReport]) -> FeedReport:
        """``work``'s report on the feed; a bug in it is reported as the
        feed's internal_error (raised with ``raise_errors``)."""
        report = None
        try:
            try:
                report = work()
            except Exception as e:
                if self.raise_errors:
                    raise
                # Not a feed problem but a bug: say so loudly, keep the other feeds going.
                log.exception("internal error while polling %s", feed.url)
                failure = FeedFailure(feed.url, "internal_error", f"{type(e).__name__}: {e}")
                report = self._failed(feed, failure, now)
            return report
        finally:
            if report is None or report.outcome not in UNCHANGED:
                self.on_lease(-1)  # recorded and released (the unchanged ones later)

    def poll(self, feed: FeedState, now: datetime, unchanged: list[Unchanged]) -> FeedReport:
        """One feed, already started (``Store.start_polls``), polled in this
        process; a poll that finds nothing new is added to ``unchanged``,
        for the caller to record."""
        started = time.monotonic()
        outcome = self.fetcher.fetch(
            feed.fetch_url, now, feed.etag, feed.last_modified, known_hash=feed.body_hash
        )
        return self.finish(feed, Polled(outcome, time.monotonic() - started), now, unchanged)

    def finish(
        self, feed: FeedState, polled: Polled, now: datetime, unchanged: list[Unchanged]
    ) -> FeedReport:
        """The rest of a poll, once fetched (and, in a poll process, parsed)."""
        outcome = polled.outcome
        every = timedelta(seconds=feed.every_seconds)
        if isinstance(outcome, NotModified):
            next_poll = next_poll_after_success(now, every, outcome.max_age)
            unchanged.append(Unchanged(feed.url, next_poll, outcome.moved_to))
            return FeedReport(feed.url, outcome.reason, fetch_seconds=polled.fetch_seconds)
        if isinstance(outcome, FeedFailure):
            report = self._failed(feed, outcome, now)
        else:
            report = self._parsed(feed, outcome, polled, now)
        return replace(report, fetch_seconds=polled.fetch_seconds)

    def _parsed(
        self, feed: FeedState, fetched: Fetched, polled: Polled, now: datetime
    ) -> FeedReport:
        if polled.parsed is None:
            parsed, premade = parse_feed(fetched), None
        else:
            parsed, premade = polled.parsed, polled.premade
        if isinstance(parsed, FeedFailure):
            return self._failed(feed, parsed, now)
        report = self._ingest(feed, fetched, parsed, premade or {}, now)
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


# What a cycle's queue of finished work carries, in lists: a report from a
# thread (by feed URL), or poll processes' results for jobs.
_Done = tuple[str, "FeedReport | BaseException"] | tuple[PollJob, "Polled | RemoteBug | str"]


class _Threads:
    """Threads that run the work put to them (a poll, or the rest of one)
    and put each report on the cycle's queue. A quiet cycle polls hundreds
    of feeds in a fraction of a second: a Future per feed (its Condition,
    callbacks and wake-ups) would cost a noticeable share of each 304."""

    def __init__(self, count: int, done: queue.SimpleQueue[list[_Done]]) -> None:
        self._count = count
        self._done = done
        self._work: queue.SimpleQueue[tuple[str, Callable[[], FeedReport]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> _Threads:
        return self

    def __exit__(self, *_: object) -> None:
        for _thread in self._threads:
            self._work.put(None)
        for thread in self._threads:
            thread.join()

    def put(self, url: str, work: Callable[[], FeedReport]) -> None:
        if len(self._threads) < self._count:  # started as needed, up to count
            thread = threading.Thread(target=self._run, name="poll", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._work.put((url, work))

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            url, work = item
            result: FeedReport | BaseException
            try:
                result = work()
            except BaseException as e:  # handed to the cycle, which raises it
                result = e
            self._done.put([(url, result)])


class _Cycle:
    """The feeds one cycle has claimed and not finished: polled on its
    threads, or fetched and parsed in the pool's processes and finished
    here (a 304 at once, in the cycle's own thread; the others, which
    write, on the threads)."""

    def __init__(self, poller: Poller, now: datetime, pool: PollPool | None) -> None:
        self.poller, self.now, self.pool = poller, now, pool
        self.order: list[str] = []  # claimed, in claim order
        self.reports: dict[str, FeedReport] = {}
        self.unchanged: list[Unchanged] = []  # list.append is atomic: no lock needed
        self.outstanding = 0
        self._done: queue.SimpleQueue[list[_Done]] = queue.SimpleQueue()
        self.threads = _Threads(poller.workers, self._done)
        self._feeds: dict[str, FeedState] = {}  # those in a pool process, by URL
        # The jobs a process had in hand when it died: one of them may have
        # killed it, so they are tried again one at a time (the guilty one
        # then dies alone), and a job in hand at two deaths fails.
        self._suspects: list[PollJob] = []
        self._suspect: str | None = None  # the URL of the one being tried again
        self._retried: set[str] = set()

    def start(self, due: list[FeedState]) -> None:
        self.order += [feed.url for feed in due]
        self.outstanding += len(due)
        if self.pool is None:
            for feed in due:
                self._here(feed)
            return
        self._feeds.update((feed.url, feed) for feed in due)
        self._send([_job(feed, self.now) for feed in due])

    def _send(self, jobs: list[PollJob]) -> bool:
        """Hand the jobs to the pool; False if some were polled here instead
        (its processes cannot start here)."""
        assert self.pool is not None
        refused = self.pool.send(jobs, self.poller.matcher, self._arrived)
        for job in refused:
            self._here(self._feeds.pop(job.url))
        return not refused

    def _arrived(self, results: list[tuple[PollJob, Polled | RemoteBug | str]]) -> None:
        self._done.put(list(results))

    def _here(self, feed: FeedState) -> None:
        poller, now, unchanged = self.poller, self.now, self.unchanged
        self.threads.put(
            feed.url, lambda: poller.guarded(feed, now, lambda: poller.poll(feed, now, unchanged))
        )

    def take(self, timeout: float) -> None:
        """Take in the work finished: waits up to ``timeout`` for the first,
        then takes whatever else is already there."""
        try:
            done = self._done.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            try:
                done += self._done.get_nowait()
            except queue.Empty:
                break
        for item, result in done:
            if isinstance(item, PollJob):
                self._remote(item, cast("Polled | RemoteBug | str", result))
            elif isinstance(result, BaseException):
                raise result  # a bug with raise_errors (tests)
            else:
                self.reports[item] = cast(FeedReport, result)
                self.outstanding -= 1

    def _remote(self, job: PollJob, result: Polled | RemoteBug | str) -> None:
        if job.url == self._suspect:
            self._suspect = None
        if result == DIED and job.url not in self._retried:
            self._retried.add(job.url)
            self._suspects.append(job)
        else:
            self._finish(job, result)
        while self._suspect is None and self._suspects:
            suspect = self._suspects.pop(0)
            if self._send([suspect]):
                self._suspect = suspect.url

    def _finish(self, job: PollJob, result: Polled | RemoteBug | str) -> None:
        poller, now, unchanged = self.poller, self.now, self.unchanged
        feed = self._feeds.pop(job.url)
        if isinstance(result, Polled) and isinstance(result.outcome, NotModified):
            # Nothing to write yet (recorded with the others): no thread needed.
            self.reports[feed.url] = poller.finish(feed, result, now, unchanged)
            self.outstanding -= 1
            return
        work: Callable[[], FeedReport]
        if isinstance(result, Polled):
            polled = result
            work = lambda: poller.finish(feed, polled, now, unchanged)  # noqa: E731
        elif isinstance(result, RemoteBug):
            error = result

            def work() -> FeedReport:
                raise error
        else:
            failure = FeedFailure(
                job.fetch_url, "parse_error", "the poll process died on this feed"
            )
            work = lambda: poller.finish(feed, Polled(failure, None), now, unchanged)  # noqa: E731
        self.threads.put(feed.url, lambda: poller.guarded(feed, now, work))


def _job(feed: FeedState, now: datetime) -> PollJob:
    return PollJob(feed.url, feed.fetch_url, now, feed.etag, feed.last_modified, feed.body_hash)


def _next_poll(feed: FeedState, now: datetime) -> datetime:
    return next_poll_after_success(now, timedelta(seconds=feed.every_seconds))
