"""Parsing changed bodies, and matching their entries, in other processes.

feedparser is pure Python and holds the GIL: parsing is the one part of a
poll that wants other cores, so only changed bodies cross to a process pool
(pebble), and only the entries and matches come back. The pool starts with
the first changed body: a cycle in which nothing changed never starts it.
A parse past its time limit fails its own feed, and the process running it
is replaced; so is a process that dies (out of memory on a hostile feed),
failing only the feed it had in hand. A pool pebble gives up as broken is
replaced too, and the tasks it dropped are given to the new one.

A process loads the matcher once per watchlist version, from a file the
pool writes (sent with every body it would double the traffic). These
processes import the parsing and matching modules, never the store.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import pickle
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from monitor.matcher import Matcher
from monitor.text import make_snippet
from monitor.types import (
    ArticleRead,
    ArticleWanted,
    Entry,
    FeedFailure,
    Fetched,
    Match,
    NewMatch,
    Parsed,
    ParsedFeed,
    Snippet,
)
from monitor.watchlist import FeedRef

if TYPE_CHECKING:
    import pebble

    from monitor.meaning import SentenceEncoder

log = logging.getLogger(__name__)

# How long a new process may take to start and import its modules.
START_SECONDS = 60.0
# Matcher files kept: the one in force and the one a cycle may still be using.
KEPT_MATCHER_FILES = 2


def parse_and_match(
    fetched: Fetched, matcher: Matcher, scope: str = "", source: FeedRef | None = None
) -> Parsed:
    """A changed body's entries (``scope``: the feed's name, see
    monitor.identity), read as its ``source`` says (a feed when None), and
    the matches of every entry (the store keeps those of the items it creates)."""
    parsed = read_source(fetched, scope, source)
    if isinstance(parsed, FeedFailure):
        return Parsed(parsed)
    matches = [m for e in parsed.entries for m in matches_of(matcher, e)]
    return Parsed(parsed, checked(matcher, parsed.entries, matches))


def read_source(fetched: Fetched, scope: str, source: FeedRef | None) -> ParsedFeed | FeedFailure:
    # Each reader is loaded where bodies are parsed, and only by the sources that need it.
    if source is not None and source.kind == "telegram":
        from monitor.telegram import parse_telegram

        return parse_telegram(fetched, scope, fetched.more)
    if source is not None and source.kind == "page":
        from monitor.pages import parse_page

        assert source.links is not None  # a page: source has links: (monitor.watchlist)
        return parse_page(fetched, source.links, scope)
    from monitor.parse import parse_feed

    return parse_feed(fetched, scope)


def read_article(fetched: Fetched, wanted: ArticleWanted, matcher: Matcher) -> ArticleRead:
    """The item's article extracted, joined to its summary, and matched."""
    from monitor.article import extract_article  # trafilatura: loaded only for full_text

    extracted = extract_article(fetched)
    if extracted.text is None:
        return ArticleRead(None, reason=extracted.reason)
    entry = wanted.entry
    text = with_article(entry.text, extracted.text)
    read = replace(entry, text=text)
    return ArticleRead(text, checked(matcher, [read], matches_of(matcher, read)))


def with_article(summary: str, article: str) -> str:
    """The text an item is matched and shown by: its article, after the
    summary unless the article already opens with it (a teaser)."""
    lead = " ".join(summary.split())
    if not lead or lead[:200] in " ".join(article[: 4 * len(lead) + 200].split()):
        return article
    return summary + "\n\n" + article


def matches_of(matcher: Matcher, entry: Entry) -> list[NewMatch]:
    return [
        NewMatch(entry.key, match, snippet_of(entry, match))
        for match in matcher.match(entry.title, entry.text)
    ]


def checked(
    matcher: Matcher, entries: Sequence[Entry], matches: list[NewMatch]
) -> tuple[NewMatch, ...]:
    """The keyword matches, held against the about-topics' meaning when the
    watchlists have any (the model loads here, in the parse process, then)."""
    if not matcher.about_topics or not matches:
        return tuple(matches)
    from monitor.meaningcheck import check_meaning

    return check_meaning(matcher.about_topics, entries, matches, encoder(), snippet_of).matches


_encoder: SentenceEncoder | None = None  # this process's, made at the first about-topic


def encoder() -> SentenceEncoder:
    """This process's sentence encoder (the model loads at its first embed)."""
    global _encoder
    if _encoder is None:
        from monitor.meaning import SentenceEncoder

        _encoder = SentenceEncoder()
    return _encoder


def snippet_of(entry: Entry, match: Match) -> Snippet:
    """The excerpt shown with a match: from the text when the text hit,
    else the start of the text (the title is shown anyway)."""
    spans = [(h.start, h.end) for h in match.hits if h.field == "text"]
    text, inside = make_snippet(entry.text, spans)
    return Snippet(text, tuple(inside))


# --- in a parse process --------------------------------------------------------

_loaded: tuple[str, Matcher] | None = None  # the matcher last loaded, and its file


def _matcher_from(matcher_file: str) -> Matcher:
    global _loaded
    if _loaded is None or _loaded[0] != matcher_file:
        with open(matcher_file, "rb") as file:  # written by this worker, in its own directory
            _loaded = (matcher_file, pickle.load(file))
    return _loaded[1]


def _parse_there(fetched: Fetched, matcher_file: str, scope: str, source: FeedRef | None) -> Parsed:
    return parse_and_match(fetched, _matcher_from(matcher_file), scope, source)


def _article_there(fetched: Fetched, wanted: ArticleWanted, matcher_file: str) -> ArticleRead:
    return read_article(fetched, wanted, _matcher_from(matcher_file))


def _ready() -> int:
    return os.getpid()


# --- in the service's process ------------------------------------------------------

T = TypeVar("T")


def _done(work: Callable[..., T], *args: object) -> Future[T]:
    """``work`` done here, as a finished future."""
    done: Future[T] = Future()
    try:
        done.set_result(work(*args))
    except Exception as e:  # a bug: the cycle reports it on its feed
        done.set_exception(e)
    return done


class InlineParser:
    """Parses in the calling thread: where processes cannot start, or none
    are wanted (MONITOR_PARSE_PROCESSES=0). No time limit holds here."""

    def submit(
        self, fetched: Fetched, matcher: Matcher, scope: str = "", source: FeedRef | None = None
    ) -> Future[Parsed]:
        return _done(parse_and_match, fetched, matcher, scope, source)

    def submit_article(
        self, fetched: Fetched, wanted: ArticleWanted, matcher: Matcher
    ) -> Future[ArticleRead]:
        return _done(read_article, fetched, wanted, matcher)

    def close(self) -> None:
        pass


class ParsePool:
    """Processes that parse and match changed bodies, started with the first."""

    def __init__(self, processes: int, timeout: float) -> None:
        self.processes = processes
        self.timeout = timeout  # seconds a parse may take
        self._pool: pebble.ProcessPool | None = None
        self._inline: InlineParser | None = None  # once processes proved unable to start
        self._lock = threading.Lock()
        self._directory: str | None = None
        self._matcher_files: list[tuple[Matcher, str]] = []  # newest first
        self._versions = 0

    @property
    def started(self) -> bool:
        return self._pool is not None

    def start(self) -> bool:
        """Start the processes now rather than with the first changed body;
        False when they cannot start here."""
        return self._started() is not None

    def submit(
        self, fetched: Fetched, matcher: Matcher, scope: str = "", source: FeedRef | None = None
    ) -> Future[Parsed]:
        """The body's parse, in a process; TimeoutError from the future past
        the time limit, pebble.ProcessExpired when its process died."""
        if self._started() is None:
            assert self._inline is not None
            return self._inline.submit(fetched, matcher, scope, source)
        return self._scheduled(_parse_there, (fetched, self._file_of(matcher), scope, source))

    def submit_article(
        self, fetched: Fetched, wanted: ArticleWanted, matcher: Matcher
    ) -> Future[ArticleRead]:
        """An article's extraction and match, in a process, under the same limits."""
        if self._started() is None:
            assert self._inline is not None
            return self._inline.submit_article(fetched, wanted, matcher)
        return self._scheduled(_article_there, (fetched, wanted, self._file_of(matcher)))

    def _scheduled(self, function: Callable[..., T], args: tuple[object, ...]) -> Future[T]:
        """``function(*args)`` in a process, under the time limit. A process
        that dies before the pool has seen which task it took breaks the
        whole pool: pebble cannot tell whose task killed it, so it aborts
        them all (BrokenProcessPool). Each task a broken pool aborted goes
        once to a fresh pool, where the one that kills its process again
        fails alone (ProcessExpired)."""
        result: Future[T] = Future()

        def run(pool: pebble.ProcessPool, again: bool) -> None:
            task = pool.schedule(function, args=args, timeout=self.timeout)
            task.add_done_callback(lambda done: settle(done, pool, again))

        def settle(done: Future[T], pool: pebble.ProcessPool, again: bool) -> None:
            error = None if done.cancelled() else done.exception()
            if isinstance(error, BrokenProcessPool) and again:
                self._discard(pool, error)
                try:
                    fresh = self._started()
                    if fresh is not None:
                        run(fresh, again=False)
                        return
                except RuntimeError as failed:  # the fresh pool broke as well
                    error = failed
            if done.cancelled():
                result.cancel()
            elif error is not None:
                result.set_exception(error)
            else:
                result.set_result(done.result())

        pool = self._started()
        assert pool is not None  # the callers fall back to parsing inline first
        run(pool, again=True)
        return result

    def _discard(self, pool: pebble.ProcessPool, error: BaseException) -> None:
        """Let a broken pool go (once, whichever of its tasks reports it);
        the next task starts a fresh one."""
        with self._lock:
            if self._pool is not pool:
                return
            self._pool = None
        log.warning("the parse processes broke down (%s); starting them again", error)
        pool.stop()  # type: ignore[no-untyped-call]

    def _started(self) -> pebble.ProcessPool | None:
        with self._lock:
            if self._pool is not None and not self._pool.active:
                log.warning("the parse processes broke down; starting them again")
                self._pool.stop()  # type: ignore[no-untyped-call]
                self._pool = None
            if self._pool is not None or self._inline is not None:
                return self._pool
            import pebble

            # spawn, not fork: the service has threads, and a forked child
            # can inherit a lock some other thread held.
            pool = pebble.ProcessPool(self.processes, context=multiprocessing.get_context("spawn"))
            try:
                pool.schedule(_ready).result(timeout=START_SECONDS)
            except (OSError, RuntimeError, concurrent.futures.TimeoutError) as e:
                # No semaphores, no importable __main__, a sandbox: parsing
                # in this process is slower, not wrong.
                log.warning("parse processes cannot start here (%s); parsing in this process", e)
                pool.stop()  # type: ignore[no-untyped-call]
                self._inline = InlineParser()
                return None
            self._pool = pool
            return pool

    def _file_of(self, matcher: Matcher) -> str:
        with self._lock:
            for known, path in self._matcher_files:
                if known is matcher:
                    return path
            if self._directory is None:
                self._directory = tempfile.mkdtemp(prefix="monitor-matchers-")
            self._versions += 1
            path = os.path.join(self._directory, f"matcher-{self._versions}.pickle")
            with open(path, "wb") as file:
                pickle.dump(matcher, file, protocol=pickle.HIGHEST_PROTOCOL)
            self._matcher_files.insert(0, (matcher, path))
            for _, older in self._matcher_files[KEPT_MATCHER_FILES:]:
                os.remove(older)
            del self._matcher_files[KEPT_MATCHER_FILES:]
            return path

    def close(self) -> None:
        """Stop the processes and remove the matcher files."""
        with self._lock:
            pool, self._pool = self._pool, None
            directory, self._directory = self._directory, None
            self._matcher_files = []
        if pool is not None:
            pool.stop()  # type: ignore[no-untyped-call]
            pool.join(10)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
