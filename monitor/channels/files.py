"""The digest archive on disk: digests/<watchlist>/ holds every digest as
HTML, an index.html and feed.xml, an Atom feed of the latest digests."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from monitor.archive import (
    FEED_ENTRIES,
    HEAD_BYTES,
    archive_entry,
    atom_feed,
    newest_first,
    page_summary,
)
from monitor.digest import Renderer
from monitor.errors import DeliveryError
from monitor.watchlist import Watchlist


def digest_file_name(scheduled_for: datetime) -> str:
    return scheduled_for.strftime("%Y%m%dT%H%M%SZ") + ".html"


class Archive:
    def __init__(self, output_dir: Path, renderer: Renderer) -> None:
        self.output_dir = output_dir
        self.renderer = renderer

    def write(self, relative_path: str, html: str, watchlist: Watchlist | None) -> None:
        """One digest page, then its watchlist's index and feed anew."""
        path = self.output_dir / relative_path
        try:
            write_atomically(path, html)
            if watchlist is not None:
                self.write_index(watchlist)
        except OSError as e:
            raise DeliveryError(f"cannot write {path}: {e}") from e

    def write_index(self, watchlist: Watchlist) -> Path:
        """digests/<watchlist>/index.html: every digest with its time, counts
        and top headline, from the first HEAD_BYTES of each page."""
        directory = self.output_dir / watchlist.id
        files = sorted(
            (p.name for p in directory.glob("*.html") if p.name != "index.html" and p.is_file()),
            reverse=True,
        )
        entries = newest_first([page_summary(name, read_head(directory / name)) for name in files])
        index = directory / "index.html"
        write_atomically(index, self.renderer.index(watchlist, entries))
        self.write_feed(watchlist, files[:FEED_ENTRIES])
        return index

    def write_feed(self, watchlist: Watchlist, files: Sequence[str]) -> Path:
        """digests/<watchlist>/feed.xml: the latest digests as an Atom feed."""
        directory = self.output_dir / watchlist.id
        entries = []
        for name in files:
            path = directory / name
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            page = path.read_bytes().decode("utf-8", errors="replace")  # an edit may break it
            entries.append(archive_entry(name, page, modified))
        feed = directory / "feed.xml"
        now = entries[0].updated if entries else datetime.fromtimestamp(0, UTC)
        write_atomically(feed, atom_feed(watchlist.id, watchlist.title, entries, now))
        return feed


def read_head(path: Path) -> bytes:
    """The start of a page, HEAD_BYTES at most: its meta without the rest of
    a page that may weigh hundreds of KB, times thousands in an archive."""
    try:
        with path.open("rb") as page:
            return page.read(HEAD_BYTES)
    except OSError:  # gone or unreadable since it was listed: listed by its name alone
        return b""


def write_atomically(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(content, encoding="utf-8")
    os.replace(temporary, path)
