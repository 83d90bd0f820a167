"""The watchlists in force while the service runs, reloaded when their files
change: a file that fails to load keeps its last good version, a deleted
file is dropped, and the matcher is compiled again only when the set changed."""

from __future__ import annotations

import logging
from pathlib import Path

from monitor.errors import Diagnostic, WatchlistError
from monitor.matcher import Matcher
from monitor.watchlist import Watchlist, load_file, watchlist_files

log = logging.getLogger(__name__)


class LiveWatchlists:
    def __init__(self, directory: Path, default_timezone: str) -> None:
        self.directory = directory
        self.default_timezone = default_timezone
        self.by_id: dict[str, Watchlist] = {}
        self.problems: tuple[Diagnostic, ...] = ()
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
            except WatchlistError as e:
                problems.extend(e.diagnostics)
                if path.stem in self.by_id:
                    loaded[path.stem] = self.by_id[path.stem]
                    log.error("%s is broken; the last good version stays in force", path)
                for diagnostic in e.diagnostics:
                    log.error("%s", diagnostic)
        self.by_id, self.problems = loaded, tuple(problems)
        self.matcher = Matcher(loaded.values())
        log.info("watchlists in force: %s", ", ".join(sorted(loaded)) or "none")
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
