"""Making one digest of 10,000 matches: read, group into stories, render, write.

5,000 generated items, each hit by two rules, polled through the real
pipeline; then `Worker.digest_now` is timed (everything a scheduled digest
does: the figures, stories, templates, CSS inlining, the outbox rows and the
HTML file).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.harness import bench_worker, serve_in_another_process, timed_poll, write_corpus

# Words every generated item contains, so each item matches both rules.
ENTITIES = """\
  officials:
    name: Officials
    aliases: [officials]
  ministry:
    name: Ministry
    aliases: [ministry]
topics: {}
digest:
  schedule: "0 7 * * *"
  timezone: Europe/Kyiv
"""


def run(feeds: int = 100, items: int = 50) -> tuple[int, float]:
    """(matches in the digest, seconds to make it)."""
    with tempfile.TemporaryDirectory(prefix="monitor-render-") as temporary:
        workdir = Path(temporary)
        directory = workdir / "feeds"
        names = write_corpus(directory, feeds, items)
        with serve_in_another_process(directory) as base_url:
            worker = bench_worker(base_url, names, workdir, 0, entities=ENTITIES)
            _, report = timed_poll(worker)
        [watchlist] = worker.watchlists.by_id.values()
        start = time.perf_counter()
        result = worker.digest_now(watchlist)
        seconds = time.perf_counter() - start
        worker.close()
        assert result.record is not None
        return report.new_matches, seconds


if __name__ == "__main__":
    matches, seconds = run()
    print(f"digest of {matches:,} matches: {seconds:.2f} s")
