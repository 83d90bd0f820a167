"""python -m benchmarks: monitor against its baselines and its peer, in one run.

Generates 500 feeds x 50 items and serves them from a local HTTP server in
another process (benchmarks/server.py: keep-alive, ETag and 304, as feed
hosts answer; ``--server http.server`` for the standard library's HTTP/1.0
server). Measures, all in the same run: bare `feedparser.parse` of
the same bytes in one process (the baseline); monitor's full first poll
(fetch + parse + normalise + match with the seed watchlist + store in a
fresh SQLite file) in one process and with its poll processes; the `reader`
package updating the same feeds into its own SQLite; re-polling unchanged
feeds against re-polling changed ones (wall and CPU time); matching at 10 to 10,000 aliases;
the digest's window queries at 10,000 and 1,000,000 stored items; grouping
200 reports into stories by words and by meaning; making a digest of about
10,000 matches (more reports than MONITOR_STORIES_MAX_REPORTS: by words);
and, in a child process, the peak memory of one poll cycle of 2,000 feeds.

Run separately: `python -m benchmarks.workers` (2,000 feeds by 1 and 3 workers on PostgreSQL).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

import feedparser
import feedparser.mixin
from sqlalchemy import text

from benchmarks import about, clients, cron, matching, render, stories, window
from benchmarks.corpus import feed
from benchmarks.harness import (
    SERVERS,
    bench_worker,
    serve_in_another_process,
    timed_poll,
    write_corpus,
)
from benchmarks.peer import reader_ingest
from monitor.app import Worker
from monitor.parse import UNCACHED_FEEDPARSER_FUNCTIONS
from monitor.parsepool import ParsePool
from monitor.types import CycleReport

Row = tuple[str, float]


@contextmanager
def stock_feedparser() -> Iterator[None]:
    """feedparser as installed, without the cache monitor.parse puts on two of
    its functions: the baseline and the peer run what they would run alone."""
    cached = {name: getattr(feedparser.mixin, name) for name in UNCACHED_FEEDPARSER_FUNCTIONS}
    for name, function in UNCACHED_FEEDPARSER_FUNCTIONS.items():
        setattr(feedparser.mixin, name, function)
    try:
        yield
    finally:
        for name, function in cached.items():
            setattr(feedparser.mixin, name, function)


def bare_feedparser(bodies: list[bytes]) -> tuple[float, int]:
    with stock_feedparser():
        start = time.perf_counter()
        items = sum(len(feedparser.parse(io.BytesIO(body)).entries) for body in bodies)
        return time.perf_counter() - start, items


# Each re-poll case is measured this many times; the table shows the median
# (the first cycle after an ingest also pays for collecting its garbage).
ROUNDS = 3


def repoll_costs(
    worker: Worker, directory: Path, names: list[str], items: int
) -> tuple[list[Row], list[Row]]:
    """Median wall and CPU seconds of a re-poll of every feed: unchanged (304,
    then an identical body without validators) against changed (5 of the 50
    items new, 5 more each round)."""
    not_modified = [_timed_outcome(worker, "http_304") for _ in range(ROUNDS)]
    exchanges = [_http_exchanges_alone(worker) for _ in range(ROUNDS)]
    same_body = []
    for _ in range(ROUNDS):
        with worker.store.session() as s:  # no validators: the server sends the body again
            s.execute(text("UPDATE feed SET etag = NULL, last_modified = NULL"))
        same_body.append(_timed_outcome(worker, "same_body"))
    changed = []
    for round_ in range(1, ROUNDS + 1):
        later = time.time() + 10 * round_  # Last-Modified has one-second resolution
        for number, name in enumerate(names):
            path = directory / name
            path.write_bytes(feed(number, items, first=5 * round_))
            os.utime(path, (later, later))
        changed.append(_timed_outcome(worker, "updated"))
    cases = [
        ("re-poll changed (5 of 50 items new): baseline", changed),
        ("re-poll unchanged, 304", not_modified),
        ("the same 304 exchanges alone, on threads of one process", exchanges),
        ("re-poll unchanged, identical body (no validators)", same_body),
    ]
    wall = [(label, median(w for w, _ in runs)) for label, runs in cases]
    cpu = [(label, median(c for _, c in runs)) for label, runs in cases]
    return wall, cpu


def _http_exchanges_alone(worker: Worker) -> tuple[float, float]:
    """Seconds for the conditional GETs of a 304 re-poll with nothing else:
    no claims, no records, no cycle, no other process."""
    with worker.store.session() as s:
        feeds = s.execute(text("SELECT url, etag, last_modified, body_hash FROM feed")).all()
    now = datetime.now(UTC)
    with ThreadPoolExecutor(worker.settings.fetch_workers) as threads:
        start, cpu = time.perf_counter(), cpu_seconds(worker)
        outcomes = list(threads.map(lambda f: worker.fetcher.fetch(f[0], now, *f[1:]), feeds))
        elapsed, used = time.perf_counter() - start, cpu_seconds(worker) - cpu
    assert {type(o).__name__ for o in outcomes} == {"NotModified"}, outcomes[:3]
    return elapsed, used


def _timed_outcome(worker: Worker, outcome: str) -> tuple[float, float]:
    cpu = cpu_seconds(worker)
    seconds, report = timed_poll(worker)
    assert {f.outcome for f in report.feeds} == {outcome}, report.summary()
    return seconds, cpu_seconds(worker) - cpu


def cpu_seconds(worker: Worker) -> float:
    """CPU time used so far by this process and the worker's parse processes
    (Linux: /proc/PID/stat, in clock ticks)."""
    used = os.times()
    total = used.user + used.system
    tick = os.sysconf("SC_CLK_TCK")
    for pid in (child.pid for child in multiprocessing.active_children()):
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def memory_of_one_cycle(feeds: int) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", str(feeds)],
        capture_output=True,
        text=True,
        check=True,
    )
    _, items, seconds, peak = done.stdout.split()
    return (
        f"one poll cycle of {feeds} feeds ({items} items, {seconds} s, parse processes): "
        f"peak RSS {peak} MB"
    )


def ingest_rows(
    base_url: str, directory: Path, names: list[str], items: int, workdir: Path
) -> tuple[list[Row], tuple[list[Row], list[Row]], CycleReport, float]:
    """First-ingest rates (monitor in one process, with the pool, and the
    peer) and the re-poll costs measured on the pooled worker's database."""
    rows: list[Row] = []
    repolls: tuple[list[Row], list[Row]] = ([], [])
    report = CycleReport(())
    pool_start = 0.0
    for processes, label in ((0, "1 process"), (os.cpu_count() or 1, "parse processes")):
        worker = bench_worker(base_url, names, _fresh(workdir / f"run-{processes}"), processes)
        if isinstance(worker.parser, ParsePool):
            # The service starts its parse processes once and keeps them;
            # their start-up is reported on its own line.
            started = time.perf_counter()
            worker.parser.start()
            pool_start = time.perf_counter() - started
        seconds, report = timed_poll(worker)
        rows.append((f"monitor poll, {label}: fetch+parse+match+store", report.new_items / seconds))
        if processes:
            repolls = repoll_costs(worker, directory, names, items)
            for number, name in enumerate(names):  # the first version again, for the peer
                (directory / name).write_bytes(feed(number, items))
        worker.close()
    for workers in (1, os.cpu_count() or 1):
        run = _fresh(workdir / f"reader-{workers}")
        with stock_feedparser():
            seconds, peer_items = reader_ingest(base_url, names, run, workers)
        if peer_items != report.new_items:
            raise SystemExit(f"reader stored {peer_items} entries, monitor {report.new_items}")
        rows.append((f"peer: reader update_feeds, {workers} worker(s)", peer_items / seconds))
    return rows, repolls, report, pool_start


def _fresh(directory: Path) -> Path:
    directory.mkdir()
    return directory


def print_table(title: str, unit: str, rows: list[tuple[str, float, float]], digits: int) -> None:
    print(f"\n{title:<70}{unit:>10}{'ratio':>8}")
    for label, value, ratio in rows:
        print(f"{label:<70}{value:>10.{digits}f}{ratio:>8.3f}")


def print_clients(rows: list[tuple[str, float, float]]) -> None:
    """CPU per request of each HTTP client, as ratios to the standard library's."""
    base_304, base_200 = rows[0][1], rows[0][2]
    print(f"\n{'HTTP clients, CPU per request (one kept-alive connection)':<62}"
          f"{'304 µs':>8}{'ratio':>8}{'200 µs':>9}{'ratio':>8}")  # fmt: skip
    for label, not_modified, full in rows:
        print(
            f"{label:<62}{not_modified:>8.0f}{not_modified / base_304:>8.2f}"
            f"{full:>9.0f}{full / base_200:>8.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--memory-feeds", type=int, default=2000, help="0 to skip")
    parser.add_argument("--cron-feeds", type=int, default=200)
    parser.add_argument(
        "--server",
        choices=sorted(SERVERS),
        default="static",
        help="the feed server: keep-alive, ETag and 304 like a feed host (static), "
        "or the standard library's HTTP/1.0 http.server",
    )
    args = parser.parse_args()
    # First, while this process is small: a child inherits its parent's peak.
    memory = memory_of_one_cycle(args.memory_feeds) if args.memory_feeds else ""
    workdir = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    try:
        directory = workdir / "feeds"
        names = write_corpus(directory, args.feeds, args.items)
        bodies = [(directory / n).read_bytes() for n in names]
        size = sum(map(len, bodies)) / len(bodies) / 1024
        print(
            f"corpus: {args.feeds} feeds x {args.items} items, {size:.0f} KB per feed; "
            f"{os.cpu_count()} cores; feed server: {args.server}"
        )
        bare_seconds, bare_items = bare_feedparser(bodies)
        bare_rate = bare_items / bare_seconds
        with serve_in_another_process(directory, args.server) as base_url:
            rows, repolls, report, pool_start = ingest_rows(
                base_url, directory, names, args.items, workdir
            )
        rows.insert(0, ("bare feedparser.parse (baseline, 1 process)", bare_rate))
        print_table("first ingest", "items/s", [(n, r, r / bare_rate) for n, r in rows], 0)
        print(f"stored {report.new_items} items and {report.new_matches} matches")
        print(f"parse processes' start-up, once per service, not in the rate: {pool_start:.2f} s")
        wall, cpu = repolls
        tables = (
            (f"re-polling {len(names)} feeds (parse processes), wall, median of {ROUNDS}", wall),
            ("the same cycles, CPU of this process and its parse processes", cpu),
        )
        for title, costs in tables:
            print_table(title, "ms", [(n, s * 1000, s / costs[0][1]) for n, s in costs], 0)
        print_table("matching (title + text of 2,000 items)", "MB/s", matching.run(), 2)
        print("\nthe meaning check (about: topics)\n" + "\n".join(about.lines(about.run())))
        print_clients(clients.run())
        ingest, rerun, startup = cron.run(args.cron_feeds)
        print_table(f"whole process, {args.cron_feeds} feeds: first ingest", "items/s", ingest, 0)
        print_table("whole process: the same command again", "ms", rerun, 0)
        print_table("whole process: start-up of a read-only command", "ms", startup, 0)
        print_table("digest window queries (the same rows at each size)", "ms", window.run(), 1)
        print("\ngrouping a digest's stories\n" + "\n".join(stories.lines(stories.run())))
        digest_matches, digest_seconds = render.run()
        print(f"\nmaking one digest of {digest_matches:,} matches: {digest_seconds:.2f} s")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\npeak memory (RSS, this process, 1,000,000-item database included): {peak:.0f} MB")
        if memory:
            print(memory)

    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
