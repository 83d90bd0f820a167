"""The poll cycle, wiring only:

    due feeds | claim (a lease) | fetch (threads) | parse + match (processes,
    changed bodies only) | decide | record (the lease cleared)

Due feeds are claimed in batches, so that several workers sharing a database
split them between them, and the next batch is claimed as the last runs low.
This thread claims, hands each feed to a fetch thread and each changed body
to the parser, decides, and records: the store is written from one thread.
What a poll does to a feed is decided in monitor.decide, what an entry is in
monitor.parse, what matches in monitor.matcher; this module calls them in
order and turns every feed's outcome into a ``FeedReport``.
"""

from __future__ import annotations

import logging
import queue
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError

from monitor.decide import RetryPolicy, decide
from monitor.fetch import host_of
from monitor.freshness import ALERT_MAX_AGE, is_backfill, mark_backfill
from monitor.matcher import Matcher
from monitor.store import DEFAULT_FEED_LEASE, Store
from monitor.telegram import older_page_cursor, preview_url
from monitor.types import (
    ArticleRead,
    ArticleWanted,
    CycleReport,
    FeedChange,
    FeedFailure,
    FeedReport,
    FeedState,
    Fetched,
    FetchOutcome,
    Parsed,
)
from monitor.watchlist import TELEGRAM_PREVIEW, FeedRef

log = logging.getLogger(__name__)

# Polls that stored nothing (unchanged, failed) are recorded (and their leases
# released) this many at a time, and whenever leases are renewed, and at the end.
RECORD_BATCH = 64
# Older pages a Telegram channel's first read goes back (about 20 posts each).
TELEGRAM_PAGES_BACK = 5


class FeedFetcher(Protocol):
    """What the cycle needs of monitor.fetch.Fetcher (tests hand it a fake)."""

    def fetch(
        self,
        url: str,
        now: datetime,
        etag: str | None = None,
        last_modified: str | None = None,
        known_hash: str | None = None,
    ) -> FetchOutcome: ...


class Parser(Protocol):
    """What the cycle needs of monitor.parsepool: a changed body's parse
    (``scope``: the feed's name, which qualifies its guids; ``source``: how
    to read it), and an article's."""

    def submit(
        self, fetched: Fetched, matcher: Matcher, scope: str = "", source: FeedRef | None = None
    ) -> Future[Parsed]: ...

    def submit_article(
        self, fetched: Fetched, wanted: ArticleWanted, matcher: Matcher
    ) -> Future[ArticleRead]: ...


@dataclass(frozen=True)
class _Fetch:
    """A feed's fetch under way (its future yields the outcome and seconds)."""

    feed: FeedState


@dataclass(frozen=True)
class _Parse:
    """A changed body's parse under way."""

    feed: FeedState
    fetched: Fetched
    seconds: float


@dataclass(frozen=True)
class _ArticleFetch:
    """A new item's article (``full_text``) waiting for its host or fetching."""

    feed: FeedState
    wanted: ArticleWanted

    @property
    def host(self) -> str:
        return host_of(self.wanted.entry.url or "")


@dataclass(frozen=True)
class _ArticleParse:
    """An article's extraction and match under way."""

    feed: FeedState
    wanted: ArticleWanted


_Work = _Fetch | _Parse | _ArticleFetch | _ArticleParse


@dataclass
class Poller:
    store: Store
    fetcher: FeedFetcher
    parser: Parser
    matcher: Matcher
    workers: int = 8  # fetches at once
    per_host: int = 2  # fetches at once to one host (the Fetcher holds to it too)
    pause_after: int = 10  # consecutive failures that pause a feed
    jitter: Callable[[], float] = random.random
    # How long a claimed feed is kept from other workers; renewed every third
    # of it while the cycle runs, so it runs out only when this worker died.
    lease: timedelta = DEFAULT_FEED_LEASE
    # The clock that dates each batch's lease (a long cycle claims its last
    # batch well after ``now``); None: ``now``.
    clock: Callable[[], datetime] | None = None
    # Called with +n when feeds are claimed and -n as their polls are recorded.
    on_lease: Callable[[int], None] = lambda _: None
    # Called with (feeds done, feeds due) as the cycle goes (a terminal's progress bar).
    on_progress: Callable[[int, int], None] = lambda _done, _total: None
    raise_errors: bool = False  # tests: a bug in the pipeline fails loudly
    # Items published longer ago are old news: in the digest, never alerted.
    alert_max_age: timedelta = ALERT_MAX_AGE
    # How each source is read, by its URL (a feed when not given).
    sources: Mapping[str, FeedRef] = field(default_factory=dict)
    # Where Telegram channels' previews are read (MONITOR_TELEGRAM_URL).
    telegram_url: str = TELEGRAM_PREVIEW

    @property
    def batch(self) -> int:
        """How many feeds one claim takes: enough to keep the threads busy
        until the next claim, few enough to leave the rest to other workers."""
        return 4 * self.workers

    def cycle(
        self, now: datetime, urls: Sequence[str], force: bool = False, revive: bool = False
    ) -> CycleReport:
        """Poll those of ``urls`` that are due (with ``force`` all but those
        gone; with ``revive`` as well, those gone), claiming them in batches;
        each is polled at most once per cycle."""
        # Read once, then claimed a batch at a time: a claim of the whole
        # list each time would cost more than a batch of 304s.
        remaining = self.store.feeds.due(now, list(dict.fromkeys(urls)), force, revive)
        renew_every = self.lease.total_seconds() / 3
        with ThreadPoolExecutor(self.workers, thread_name_prefix="fetch") as threads:
            cycle = _Cycle(self, now, threads)
            total = len(remaining)
            self.on_progress(0, total)
            renewed = time.monotonic()
            while remaining or cycle.outstanding:
                if remaining and cycle.outstanding <= self.workers:
                    wanted = self.batch - cycle.outstanding
                    # Those not claimed were taken by another worker meanwhile.
                    batch = remaining[:wanted]
                    cycle.start(self._claim(now, batch, force, revive, wanted))
                    del remaining[:wanted]
                    continue
                cycle.take(renew_every)
                self.on_progress(len(cycle.reports), total)
                if len(cycle.finished) >= RECORD_BATCH or not cycle.outstanding:
                    cycle.record_finished()
                if time.monotonic() - renewed >= renew_every:
                    cycle.record_finished()  # done with these: release them
                    # Still at work on the rest: a lease runs out only when this worker died.
                    self.store.feeds.renew(self._now(now), self.lease)
                    renewed = time.monotonic()
            cycle.record_finished()
        return CycleReport(tuple(cycle.report(url) for url in cycle.order))

    def _now(self, now: datetime) -> datetime:
        return self.clock() if self.clock else now

    def _claim(
        self, now: datetime, urls: list[str], force: bool, revive: bool, limit: int
    ) -> list[FeedState]:
        due = self.store.feeds.claim(
            now, urls, force, revive=revive, limit=limit, lease=self.lease,
            claimed_at=self._now(now),
        )  # fmt: skip
        if due:
            self.on_lease(len(due))
        return due

    def policy(self) -> RetryPolicy:
        return RetryPolicy(self.pause_after, self.jitter())


@dataclass
class _Cycle:
    """The feeds one cycle has claimed and not recorded: waiting for their
    host, fetching on the threads, or parsing; and the polls finished but not
    yet recorded."""

    poller: Poller
    now: datetime
    threads: ThreadPoolExecutor
    order: list[str] = field(default_factory=list)  # claimed, in claim order
    reports: dict[str, FeedReport] = field(default_factory=dict)
    busy: dict[Future[Any], _Work] = field(default_factory=dict)
    # Each future puts itself here when done: waiting on all of them at once
    # (concurrent.futures.wait) would cost each of hundreds of 304s a waiter
    # on every future still busy.
    done: queue.SimpleQueue[Future[Any]] = field(default_factory=queue.SimpleQueue)
    finished: list[FeedChange] = field(default_factory=list)  # to record, stored nothing
    # A feed whose host has all its fetches out waits here, not on a thread:
    # threads blocked on a busy host would hold up every other host's feeds.
    fetching: dict[str, int] = field(default_factory=dict)  # host -> fetches out
    waiting: dict[str, deque[_Fetch | _ArticleFetch]] = field(default_factory=dict)  # by host
    # New matches that articles added, per feed URL and watchlist.
    article_matches: dict[str, dict[str, int]] = field(default_factory=dict)

    def start(self, feeds: list[FeedState]) -> None:
        self.order += [feed.url for feed in feeds]
        for feed in feeds:
            self._queue(_Fetch(feed), host_of(self._fetch_url(feed)))

    def _queue(self, work: _Fetch | _ArticleFetch, host: str) -> None:
        if self.fetching.get(host, 0) >= self.poller.per_host:
            self.waiting.setdefault(host, deque()).append(work)
        else:
            self._fetch_now(work, host)

    def _source(self, feed: FeedState) -> FeedRef | None:
        return self.poller.sources.get(feed.url)

    def _fetch_url(self, feed: FeedState) -> str:
        """Where the feed is read: a Telegram channel wherever its previews
        are read from (moved or not), anything else at its fetch URL."""
        source = self._source(feed)
        if source is not None and source.channel is not None:
            return preview_url(self.poller.telegram_url, source.channel)
        return feed.fetch_url

    def report(self, url: str) -> FeedReport:
        """The feed's report, with the matches its articles added."""
        report = self.reports[url]
        added = self.article_matches.get(url)
        if not added:
            return report
        by_watchlist = dict(report.matches_by_watchlist)
        for watchlist, n in added.items():
            by_watchlist[watchlist] = by_watchlist.get(watchlist, 0) + n
        return replace(
            report,
            new_matches=report.new_matches + sum(added.values()),
            matches_by_watchlist=tuple(sorted(by_watchlist.items())),
        )

    @property
    def outstanding(self) -> int:
        """Feeds claimed and not finished: waiting, fetching or parsing."""
        return len(self.busy) + sum(len(feeds) for feeds in self.waiting.values())

    def _fetch_now(self, work: _Fetch | _ArticleFetch, host: str) -> None:
        self.fetching[host] = self.fetching.get(host, 0) + 1
        if isinstance(work, _ArticleFetch):
            self._watch(self.threads.submit(self._fetch_article, work.wanted), work)
        else:
            self._watch(self.threads.submit(self._fetch, work.feed), work)

    def _watch(self, future: Future[Any], work: _Work) -> None:
        self.busy[future] = work
        future.add_done_callback(self.done.put)

    def _fetched(self, host: str) -> None:
        """A fetch ended: its host's next waiting fetch goes out."""
        self.fetching[host] -= 1
        waiting = self.waiting.get(host)
        if waiting:
            self._fetch_now(waiting.popleft(), host)

    def _fetch(self, feed: FeedState) -> tuple[FetchOutcome, float]:
        """On a fetch thread."""
        started = time.monotonic()
        url = self._fetch_url(feed)
        outcome = self.poller.fetcher.fetch(
            url, self.now, feed.etag, feed.last_modified, known_hash=feed.body_hash
        )
        source = self._source(feed)
        if isinstance(outcome, Fetched) and source and source.channel and not feed.read_before:
            outcome = self._page_back(outcome, source.channel)
        return outcome, time.monotonic() - started

    def _page_back(self, newest: Fetched, channel: str) -> Fetched:
        """A channel's first read: its older preview pages too, while they
        last and up to a limit; a page that fails ends the paging, not the read."""
        older: list[bytes] = []
        cursor = older_page_cursor(newest.body)
        while cursor is not None and len(older) < TELEGRAM_PAGES_BACK:
            url = preview_url(self.poller.telegram_url, channel, before=cursor)
            page = self.poller.fetcher.fetch(url, self.now)
            if not isinstance(page, Fetched):
                break
            older.append(page.body)
            following = older_page_cursor(page.body)
            cursor = following if following is not None and following < cursor else None
        return replace(newest, more=tuple(older))

    def _fetch_article(self, wanted: ArticleWanted) -> FetchOutcome:
        """On a fetch thread: the page an item links to."""
        assert wanted.entry.url is not None  # only items with a link are wanted
        return self.poller.fetcher.fetch(wanted.entry.url, self.now)

    def take(self, timeout: float) -> None:
        """Take in what finished, waiting up to ``timeout`` for the first."""
        try:
            done = [self.done.get(timeout=timeout)]
        except queue.Empty:
            return
        while not self.done.empty():
            done.append(self.done.get_nowait())
        for future in done:
            work = self.busy.pop(future)
            try:
                self._next(future, work)
            except DBAPIError:
                raise  # the database, not this feed: the cycle stops, the service says so once
            except Exception as e:
                if self.poller.raise_errors:
                    raise
                # Not a feed problem but a bug: say so loudly, keep the other feeds going.
                log.exception("internal error while polling %s", work.feed.url)
                failure = FeedFailure(work.feed.url, "internal_error", f"{type(e).__name__}: {e}")
                self._failed(work.feed, failure, None)

    def _next(self, future: Future[Any], work: _Work) -> None:
        feed = work.feed
        if isinstance(work, _Parse):
            self._parsed(work, _parse_result(future, work))
            return
        if isinstance(work, _ArticleFetch | _ArticleParse):
            self._article_step(future, work)
            return
        self._fetched(host_of(self._fetch_url(feed)))
        outcome, seconds = future.result()
        if isinstance(outcome, Fetched):
            source = self._source(feed)
            parse = self.poller.parser.submit(outcome, self.poller.matcher, feed.url, source)
            self._watch(parse, _Parse(feed, outcome, seconds))
        elif isinstance(outcome, FeedFailure):
            self._failed(feed, outcome, seconds)
        else:
            change = decide(feed, outcome, self.now, self.poller.policy())
            self.finished.append(change)
            self.reports[feed.url] = FeedReport(feed.url, outcome.reason, fetch_seconds=seconds)
            self._want_articles(feed, self._retries(feed))

    def _parsed(self, work: _Parse, parsed: Parsed | FeedFailure) -> None:
        feed, now = work.feed, self.now
        if isinstance(parsed, FeedFailure):
            self._failed(feed, parsed, work.seconds)
            return
        if isinstance(parsed.feed, FeedFailure):
            self._failed(feed, parsed.feed, work.seconds)
            return
        change = decide(feed, work.fetched, now, self.poller.policy(), parsed.feed)
        entries = parsed.feed.entries
        max_age = self.poller.alert_max_age
        matches = mark_backfill(parsed.matches, entries, now, feed.read_before, max_age)
        source = self._source(feed)
        full_text = source is not None and source.full_text
        retries = self._retries(feed)  # before this save's new items are wanted
        backfill = frozenset(
            e.key for e in entries if is_backfill(e.published_at, now, feed.read_before, max_age)
        ) if full_text else frozenset()  # fmt: skip
        saved = self.poller.store.items.save(
            change, entries, matches, now, full_text=full_text,
            edits=source is not None and source.kind == "telegram", backfill=backfill,
        )  # fmt: skip
        self.poller.on_lease(-1)
        self.reports[feed.url] = FeedReport(
            feed.url, "updated", saved.new_items, saved.new_matches,
            fetch_seconds=work.seconds, matches_by_watchlist=saved.by_watchlist,
        )  # fmt: skip
        self._want_articles(feed, [*saved.articles, *retries])

    # --- full_text: each new item's article -------------------------------------

    def _retries(self, feed: FeedState) -> list[ArticleWanted]:
        """The feed's articles that failed once (or were left unread), read
        again at this poll of it."""
        source = self._source(feed)
        if source is None or not source.full_text:
            return []
        return self.poller.store.articles.to_retry(feed.url)

    def _want_articles(self, feed: FeedState, wanted: Sequence[ArticleWanted]) -> None:
        for article in wanted:
            work = _ArticleFetch(feed, article)
            self._queue(work, work.host)

    def _article_step(self, future: Future[Any], work: _ArticleFetch | _ArticleParse) -> None:
        articles, wanted = self.poller.store.articles, work.wanted
        if isinstance(work, _ArticleFetch):
            self._fetched(work.host)
            outcome = future.result()
            if isinstance(outcome, Fetched):
                read = self.poller.parser.submit_article(outcome, wanted, self.poller.matcher)
                self._watch(read, _ArticleParse(work.feed, wanted))
            else:
                assert isinstance(outcome, FeedFailure)  # no validators sent: no 304
                articles.failed(wanted, outcome.message or outcome.reason)
            return
        result = _article_result(future)
        if result.text is None:
            articles.failed(wanted, result.reason)
            return
        matches = (
            [replace(m, backfill=True) for m in result.matches]
            if wanted.old_news
            else list(result.matches)
        )
        added = articles.read(wanted, result.text, matches, self.now)
        counts = self.article_matches.setdefault(work.feed.url, {})
        for watchlist, n in added:
            counts[watchlist] = counts.get(watchlist, 0) + n

    def _failed(self, feed: FeedState, failure: FeedFailure, seconds: float | None) -> None:
        change = decide(feed, failure, self.now, self.poller.policy())
        self.finished.append(change)
        self.reports[feed.url] = FeedReport(
            feed.url, failure.reason, message=failure.message, stopped=change.stopped,
            fetch_seconds=seconds,
        )  # fmt: skip

    def record_finished(self) -> None:
        """Record (and release) the polls that stored nothing so far, in one
        transaction, and not only at the end of a long cycle, when their
        leases might have run out."""
        if not self.finished:
            return
        batch, self.finished = self.finished, []
        self.poller.store.feeds.record(batch)
        self.poller.on_lease(-len(batch))


def _parse_result(future: Future[Any], work: _Parse) -> Parsed | FeedFailure:
    """The parse's result; a parse that ran out of time or killed its
    process fails its feed."""
    url = work.feed.fetch_url
    try:
        result = future.result()
    except TimeoutError:
        return FeedFailure(url, "parse_timeout", "parsing this feed took too long")
    except OSError as e:
        from pebble import ProcessExpired  # loaded only with the parse processes

        if not isinstance(e, ProcessExpired):
            raise
        return FeedFailure(url, "parse_error", f"the parse process died on this feed ({e})")
    assert isinstance(result, Parsed)
    return result


def _article_result(future: Future[Any]) -> ArticleRead:
    """The article's read; one that ran out of time or killed its process
    is a failure recorded on its item, like any other."""
    try:
        result = future.result()
    except TimeoutError:
        return ArticleRead(None, reason="extracting this article took too long")
    except OSError as e:
        from pebble import ProcessExpired

        if not isinstance(e, ProcessExpired):
            raise
        return ArticleRead(None, reason=f"the parse process died on this article ({e})")
    assert isinstance(result, ArticleRead)
    return result
