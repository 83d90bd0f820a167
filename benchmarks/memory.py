"""python -m benchmarks.memory N: peak memory of one poll cycle of N feeds.

Run as its own process so that its peak is the cycle's alone. A process
started from a large one inherits that one's peak in its resource usage, so
this process resets its high-water mark first (Linux: /proc/self/clear_refs)
and reads it back (VmHWM). The poll processes are counted as well: the
figure is the larger of this process's peak and its children's.
"""

from __future__ import annotations

import os
import re
import resource
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import bench_worker, serve_in_another_process, timed_poll, write_corpus


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5", encoding="ascii")


def own_peak_kb() -> int:
    status = Path("/proc/self/status").read_text(encoding="ascii")
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    assert found, "no VmHWM in /proc/self/status"
    return int(found.group(1))


def main(feeds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="monitor-memory-") as temporary:
        workdir = Path(temporary)
        directory = workdir / "feeds"
        names = write_corpus(directory, feeds)
        reset_peak()
        with serve_in_another_process(directory) as base_url:
            worker = bench_worker(base_url, names, workdir, os.cpu_count() or 1)
            seconds, report = timed_poll(worker)
            worker.close()
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak = max(own_peak_kb(), children)
    print(f"{feeds} {report.new_items} {seconds:.1f} {peak / 1024:.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]))
