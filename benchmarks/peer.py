"""The peer: the `reader` package updating the same local feeds into its own SQLite.

reader is a mature feedparser-based feed library: what it costs to fetch,
parse and store a feed is what a careful implementation of the same job costs.
"""

from __future__ import annotations

import time
from pathlib import Path

from reader import make_reader


def reader_ingest(
    base_url: str, names: list[str], workdir: Path, workers: int
) -> tuple[float, int]:
    """Seconds for reader to add and update every feed once, and entries stored."""
    reader = make_reader(str(workdir / "reader.sqlite"))
    try:
        for name in names:
            reader.add_feed(f"{base_url}/{name}")
        start = time.perf_counter()
        reader.update_feeds(workers=workers)
        elapsed = time.perf_counter() - start
        return elapsed, reader.get_entry_counts().total or 0
    finally:
        reader.close()
