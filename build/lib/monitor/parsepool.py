"""Parsing changed bodies, and matching their entries, in other processes.

feedparser is pure Python and holds the GIL: parsing is the one part of a
poll that wants other cores, so only changed bodies cross to a process pool
(pebble), and only the entries and matches come back. The pool starts with
the first changed body: a cycle in which nothing changed never starts it.
A parse past its time limit fails its own feed, and the process running it
is replaced; so is a process that dies (out of memory on a hostile feed),
failing only the feed it had in hand.

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
from concurrent.futures import Future
from typing import TYPE_CHECKING

from monitor.matcher import Matcher
from monitor.text import make_snippet
from monitor.types import Entry, FeedFailure, Fetched, Match, NewMatch, Parsed, Snippet

if TYPE_CHECKING:
    import pebble

log = logging.getLogger(__name__)

# How long a new process may take to start and import its modules.
START_SECONDS = 60.0
# Matcher files kept: the one in force and the one a cycle may still be using.
KEPT_MATCHER_FILES = 2


def parse_and_match(fetched: Fetched, matcher: Matcher, scope: str = "") -> Parsed:
    """A changed body's entries (``scope``: the feed's name, see
    monitor.identity), and the matches of every entry (the store keeps those
    of the items it creates)."""
    from monitor.parse import parse_feed  # feedparser: loaded where bodies are parsed

    parsed = parse_feed(fetched, scope)
    if isinstance(parsed, FeedFailure):
        return Parsed(parsed)
    return Parsed(parsed, tuple(m for e in parsed.entries for m in matches_of(matcher, e)))


def matches_of(matcher: Matcher, entry: Entry) -> list[NewMatch]:
    return [
        NewMatch(entry.key, match, snippet_of(entry, match))
        for match in matcher.match(entry.title, entry.text)
    ]


def snippet_of(entry: Entry, match: Match) -> Snippet:
    """The excerpt shown with a match: from the text when the text hit,
    else the start of the text (the title is shown anyway)."""
    spans = [(h.start, h.end) for h in match.hits if h.field == "text"]
    text, inside = make_snippet(entry.text, spans)
    return Snippet(text, tuple(inside))


# --- in a parse process --------------------------------------------------------

_loaded: tuple[str, Matcher] | None = None  # the matcher last loaded, and its file


def _parse_there(fetched: Fetched, matcher_file: str, scope: str) -> Parsed:
    global _loaded
    if _loaded is None or _loaded[0] != matcher_file:
        with open(matcher_file, "rb") as file:  # written by this worker, in its own directory
            _loaded = (matcher_file, pickle.load(file))
    return parse_and_match(fetched, _loaded[1], scope)


def _ready() -> int:
    return os.getpid()


# --- in the service's process ------------------------------------------------------


class InlineParser:
    """Parses in the calling thread: where processes cannot start, or none
    are wanted (MONITOR_PARSE_PROCESSES=0). No time limit holds here."""

    def submit(self, fetched: Fetched, matcher: Matcher, scope: str = "") -> Future[Parsed]:
        done: Future[Parsed] = Future()
        try:
            done.set_result(parse_and_match(fetched, matcher, scope))
        except Exception as e:  # a bug: the cycle reports it on this feed
            done.set_exception(e)
        return done

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

    def submit(self, fetched: Fetched, matcher: Matcher, scope: str = "") -> Future[Parsed]:
        """The body's parse, in a process; TimeoutError from the future past
        the time limit, pebble.ProcessExpired when its process died."""
        pool = self._started()
        if pool is None:
            assert self._inline is not None
            return self._inline.submit(fetched, matcher, scope)
        future: Future[Parsed] = pool.schedule(
            _parse_there, args=(fetched, self._file_of(matcher), scope), timeout=self.timeout
        )
        return future

    def _started(self) -> pebble.ProcessPool | None:
        with self._lock:
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
