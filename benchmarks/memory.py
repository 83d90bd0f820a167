"""python -m benchmarks.memory N: peak memory of one poll cycle of N feeds.

Run as its own process so that its peak is the cycle's alone. The parse
processes are counted as well: the figure is the larger of this process's
peak and its children's.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import bench_worker, serve_in_another_process, timed_poll, write_corpus


def main(feeds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="monitor-memory-") as temporary:
        workdir = Path(temporary)
        directory = workdir / "feeds"
        names = write_corpus(directory, feeds)
        with serve_in_another_process(directory) as base_url:
            worker = bench_worker(base_url, names, workdir, os.cpu_count() or 1)
            seconds, report = timed_poll(worker)
            worker.close()
    peak = max(
        resource.getrusage(who).ru_maxrss
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    print(f"{feeds} {report.new_items} {seconds:.1f} {peak / 1024:.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]))
