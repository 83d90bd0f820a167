"""python -m benchmarks: ingest throughput against bare feedparser, in one run.

Generates 200 feeds x 50 items, serves them from a local HTTP server, and
measures (1) bare `feedparser.parse` of the same bytes in one process and
(2) monitor's full poll: fetch + parse + normalise + match (the seed
watchlist) + store in a fresh SQLite file. Prints items/s and the ratio.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import feedparser

from benchmarks import matching
from benchmarks.corpus import feed
from monitor.config import PROJECT_ROOT, Settings
from monitor.service import Worker


def bare_feedparser(bodies: list[bytes]) -> tuple[float, int]:
    start = time.perf_counter()
    items = sum(len(feedparser.parse(io.BytesIO(body)).entries) for body in bodies)
    return time.perf_counter() - start, items


def monitor_ingest(
    base_url: str, names: list[str], workdir: Path, parse_processes: int
) -> tuple[float, int, int]:
    watchlists = workdir / "watchlists"
    watchlists.mkdir()
    seed = (PROJECT_ROOT / "watchlists" / "dprk-russia.yaml").read_text(encoding="utf-8")
    head, _, rest = seed.partition("\nfeeds:\n")
    _, _, tail = rest.partition("\nentities:\n")
    feeds = "\n".join(f"  - {base_url}/{name}" for name in names)
    (watchlists / "bench.yaml").write_text(
        f"{head}\nfeeds:\n{feeds}\nentities:\n{tail}", encoding="utf-8"
    )
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        watchlists=watchlists,
        output_dir=workdir / "digests",
        allow_hosts=base_url.removeprefix("http://"),
        parse_processes=parse_processes,
        _env_file=None,  # type: ignore[call-arg]
    )
    worker = Worker(settings)
    start = time.perf_counter()
    report = worker.poll(force=True)
    elapsed = time.perf_counter() - start
    worker.close()
    failures = report.failures
    if failures:
        raise SystemExit(f"benchmark feeds failed: {failures[:3]}")
    return elapsed, report.new_items, report.new_matches


@contextmanager
def serve_in_another_process(directory: Path) -> Iterator[str]:
    """A static file server in its own process, so serving costs the measured process nothing."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit("the benchmark's feed server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    try:
        directory = workdir / "feeds"
        directory.mkdir()
        names = []
        for number in range(args.feeds):
            name = f"feed-{number}.xml"
            (directory / name).write_bytes(feed(number, args.items))
            names.append(name)
        bodies = [(directory / n).read_bytes() for n in names]
        size = sum(map(len, bodies)) / len(bodies) / 1024
        shape = f"{args.feeds} feeds x {args.items} items, {size:.0f} KB per feed"
        print(f"corpus: {shape}; {os.cpu_count()} cores")
        bare_seconds, bare_items = bare_feedparser(bodies)
        bare_rate = bare_items / bare_seconds
        rows = [("bare feedparser.parse (baseline, 1 process)", bare_rate)]
        with serve_in_another_process(directory) as base_url:
            for processes, label in ((0, "1 process"), (os.cpu_count() or 1, "parse pool")):
                run = workdir / f"run-{processes}"
                run.mkdir()
                seconds, ours_items, matches = monitor_ingest(base_url, names, run, processes)
                rows.append(
                    (f"monitor poll, {label}: fetch+parse+match+store", ours_items / seconds)
                )
        print(f"{'case':<52}{'items/s':>10}{'ratio':>8}")
        for label, rate in rows:
            print(f"{label:<52}{rate:>10.0f}{rate / bare_rate:>8.2f}")
        print(f"stored {ours_items} items and {matches} matches")
        print()
        print(f"{'matching (title + text of 2,000 items)':<52}{'MB/s':>10}{'cost':>8}")
        for label, rate, cost in matching.run():
            print(f"{label:<52}{rate:>10.2f}{cost:>8.2f}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory (RSS, this process): {peak:.0f} MB")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
