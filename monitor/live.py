"""The watchlists in force while the service runs, reloaded when their files
change: a file that fails to load keeps its last good version, a deleted
file is dropped, and the matcher is compiled again only when the set changed."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from monitor.errors import Diagnostic, WatchlistError
from monitor.matcher import Matcher
from monitor.targets import unset_notes
from monitor.text import counted
from monitor.watchlist import FeedRef, Watchlist, load_file, unreadable, watchlist_files

log = logging.getLogger(__name__)


class LiveWatchlists:
    def __init__(self, directory: Path, default_timezone: str) -> None:
        self.directory = directory
        self.default_timezone = default_timezone
        self.by_id: dict[str, Watchlist] = {}
        self.problems: tuple[Diagnostic, ...] = ()
        self.notes: tuple[str, ...] = ()  # what works, but not wholly (an unset variable)
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
            except Exception as e:  # a broken file costs itself, never the others
                diagnostics = (
                    e.diagnostics if isinstance(e, WatchlistError) else [unreadable(path, e)]
                )
                if not isinstance(e, WatchlistError):
                    log.exception("%s could not be loaded", path)
                problems.extend(diagnostics)
                if path.stem in self.by_id:
                    loaded[path.stem] = self.by_id[path.stem]
                    log.error("%s is broken; the last good version stays in force", path)
                for diagnostic in diagnostics:
                    log.error("%s", diagnostic)
        before = self.by_id
        self.by_id, self.problems = loaded, tuple(problems)
        self.matcher = Matcher(loaded.values())
        log.info("watchlists %s", changes(before, loaded))
        self.notes = tuple(unset_notes(loaded.values(), os.environ))
        for note in self.notes:
            log.warning("%s", note)
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

    @property
    def sources(self) -> dict[str, FeedRef]:
        """How each source is read, by URL. Where two watchlists name one
        source, the first says how, and its articles are read if either wants them."""
        out: dict[str, FeedRef] = {}
        for watchlist in self.by_id.values():
            for feed in watchlist.feeds:
                known = out.get(feed.url)
                if known is None:
                    out[feed.url] = feed
                elif feed.full_text and not known.full_text:
                    out[feed.url] = replace(known, full_text=True)
        return out


def changes(before: dict[str, Watchlist], after: dict[str, Watchlist]) -> str:
    """What a reload changed, for the log: "added a; changed b (3 rules, 6
    feeds); removed c; in force: a, b"."""
    parts = []
    if added := sorted(set(after) - set(before)):
        parts.append("added " + ", ".join(_sized(after[w]) for w in added))
    if changed := sorted(w for w in set(after) & set(before) if after[w] != before[w]):
        parts.append("changed " + ", ".join(_sized(after[w]) for w in changed))
    if removed := sorted(set(before) - set(after)):
        parts.append("removed " + ", ".join(removed))
    parts.append("in force: " + (", ".join(sorted(after)) or "none"))
    return "; ".join(parts)


def _sized(watchlist: Watchlist) -> str:
    rules = len(watchlist.entities) + len(watchlist.topics)
    feeds = len(watchlist.feeds)
    return f"{watchlist.id} ({counted(rules, 'rule')}, {counted(feeds, 'feed')})"
