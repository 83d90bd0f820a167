"""Parsing and matching in other processes.

feedparser is pure Python and holds the GIL, so only another process can put
a second core to work on it. A parse process also matches the new entries,
leaving the service's process to fetch and store. Each process loads the
matcher once per watchlist version from a file the pool writes (sending it
with every feed would double the traffic), and skips the entries this worker
stored from the same feed at its last poll, which the pool remembers as
8-byte digests.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import pickle
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from monitor.matcher import Matcher
from monitor.parse import parse_feed
from monitor.store import NewMatch
from monitor.text import make_snippet
from monitor.types import Entry, FeedFailure, Fetched, Match, ParsedFeed, Snippet

log = logging.getLogger(__name__)


# Matches made with the parse, by entry key; None: matched after the store
# says which entries are new.
Premade = dict[str, tuple[NewMatch, ...]]
Parse = Callable[[Fetched], tuple[ParsedFeed | FeedFailure, Premade | None]]


def parse_here(fetched: Fetched) -> tuple[ParsedFeed | FeedFailure, Premade | None]:
    return parse_feed(fetched), None


def matches_of(matcher: Matcher, entry: Entry) -> list[NewMatch]:
    return [
        NewMatch(entry.key, match, snippet_of(entry, match))
        for match in matcher.match(entry.title, entry.text)
    ]


# In a parse process: the matcher last loaded, and the file it came from.
_loaded_matcher: tuple[str, Matcher] | None = None


def key_digest(key: str) -> bytes:
    """8 bytes standing for an entry key in the pool's memory of stored
    entries. Two keys sharing one only cost a check against the store."""
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def _digests(packed: bytes) -> set[bytes]:
    return {packed[i : i + 8] for i in range(0, len(packed), 8)}


def parse_and_match(
    fetched: Fetched, matcher_file: str, skip: bytes
) -> tuple[ParsedFeed | FeedFailure, Premade]:
    """Run in a parse process: parse, then match every entry whose key's
    digest is not in ``skip`` (entries this worker stored from the feed
    before, as key_digest values end to end)."""
    global _loaded_matcher
    parsed = parse_feed(fetched)
    if isinstance(parsed, FeedFailure):
        return parsed, {}
    if _loaded_matcher is None or _loaded_matcher[0] != matcher_file:
        with open(matcher_file, "rb") as file:  # written by this worker, in its own directory
            _loaded_matcher = (matcher_file, pickle.load(file))
    matcher = _loaded_matcher[1]
    stored = _digests(skip)
    made = {
        e.key: tuple(matches_of(matcher, e))
        for e in parsed.entries
        if key_digest(e.key) not in stored
    }
    return parsed, made


# Matcher files kept: the one in force and the one a cycle may still be using.
KEPT_MATCHER_FILES = 2


def _ready() -> None:
    """A parse process's first task: being started, with this module imported."""


class ParsePool:
    """Processes that parse and match (see the module's docstring), started
    with the first parse or by ``start``; parsing falls back to the calling
    process when they cannot start."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._parsed = 0  # results that came back from a process
        self._unavailable = False
        self._directory: str | None = None
        # The matchers whose files processes may be reading, newest first:
        # the one in force and the one before (a cycle running as it changed).
        self._matcher_files: list[tuple[Matcher, str]] = []
        self._versions = 0
        # Feed URL -> the digests of its entries' keys at its last stored
        # poll (8 bytes a key: 2,000 feeds of 50 entries take under 1 MB).
        self._stored_keys: dict[str, bytes] = {}

    def parse(
        self, fetched: Fetched, matcher: Matcher
    ) -> tuple[ParsedFeed | FeedFailure, Premade | None]:
        if self._unavailable:
            return parse_here(fetched)
        skip = self._stored_keys.get(fetched.url, b"")
        try:
            future = self._get().submit(parse_and_match, fetched, self._file_of(matcher), skip)
            result = future.result()
        except BrokenProcessPool:
            self.close()
            if self._parsed == 0:
                # Not one parse ever came back: the processes cannot start
                # here (no importable __main__, no semaphores, a sandbox).
                # Parsing in this process is slower, not wrong.
                self._give_up()
                return parse_here(fetched)
            # It worked before, so this feed killed a parser (memory, a
            # crash): fail the feed, start afresh for the next one.
            failure = FeedFailure(
                fetched.url, "parse_error", "the parser process died on this feed"
            )
            return failure, None
        self._parsed += 1
        return result

    def start(self) -> None:
        """Start the processes now rather than with the first parse (they
        then stay for the life of the pool)."""
        if self._unavailable:
            return
        try:
            for started in [self._get().submit(_ready) for _ in range(self.processes)]:
                started.result()
        except BrokenProcessPool:
            self.close()
            self._give_up()

    def remember(self, url: str, keys: Iterable[str]) -> None:
        """The keys of the feed's entries, now stored."""
        self._stored_keys[url] = b"".join({key_digest(key) for key in keys})

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

    def _give_up(self) -> None:
        with self._lock:
            if not self._unavailable:
                log.warning("parser processes cannot start here; parsing in this process")
            self._unavailable = True

    def _get(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # spawn, not fork: the service has threads, and a forked child
                # can inherit a lock some other thread held.
                context = multiprocessing.get_context("spawn")
                self._executor = ProcessPoolExecutor(self.processes, mp_context=context)
            return self._executor

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None

    def cleanup(self) -> None:
        """Close, and remove the matcher files."""
        self.close()
        with self._lock:
            if self._directory is not None:
                shutil.rmtree(self._directory, ignore_errors=True)
            self._directory, self._matcher_files = None, []


def snippet_of(entry: Entry, match: Match) -> Snippet:
    """The excerpt shown with a match: from the text when the text hit,
    else the start of the text (the title is shown anyway)."""
    spans = [(h.start, h.end) for h in match.hits if h.field == "text"]
    text, inside = make_snippet(entry.text, spans)
    return Snippet(text, tuple(inside))
