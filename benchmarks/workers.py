"""python -m benchmarks.workers: one poll cycle of 2,000 feeds by 1 and by 3 workers.

The figures of the scale-out issue, measured on real parts: a throwaway
PostgreSQL cluster (tests/postgres.py), a feed server in another process
that answers every feed after 100 ms, and `monitor run` processes started
as in tests/test_workers.py. The feeds are spread over several loopback
addresses (127.0.0.2, 127.0.0.3, ...; each bound explicitly, one port each),
so the per-host limit of 2 requests at once does not decide the result.

Run A starts 1 worker, run B 3 workers, each on a fresh database, with the
server's counts reset. The cycle is timed by the server's clock: from the
first request it sees to the first request of the last of the 2,000 feeds.
A digest slot (a six-field cron, seconds first) falls after the cycle; once
every worker has had a digest tick past it, the workers get SIGTERM and the
database says how many digests each (watchlist, slot) got, the server how
many requests each feed got. Exits 1 unless both are exactly 1.

    .venv/bin/python -m benchmarks.workers [--feeds 2000] [--hosts 20] [--slot-after 40]

Both runs and the waits for the slots take about a minute and a half on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.config import Settings
from tests.conftest import ROOT
from tests.postgres import PostgresCluster, find_bindir

LATENCY = 0.1  # seconds the server waits before each feed's answer
EVERY = "1h"  # each feed is due once in the run
DIGEST_TICK = 1.0  # seconds; the default (30) would only make the run wait longer
CYCLE_TIMEOUT = 300.0
STOP_TIMEOUT = 60.0


# --- the feed server (its own process: python -m benchmarks.workers --serve N) -------


def _rss(path: str) -> bytes:
    items = "".join(
        f"<item><guid>bench:{path}#{n}</guid><title>Kursk report {n} of {path}</title>"
        f"<link>https://news.example{path}/{n}</link>"
        f"<description>From {path}: fighting near Kursk, item {n}.</description>"
        "<pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate></item>"
        for n in (1, 2)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench {path}</title><link>https://news.example/</link>"
        f"<description>x</description>{items}</channel></rss>"
    ).encode()


class FeedState:
    """Requests per path and when each path was first asked for (wall clock)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.first: dict[str, float] = {}

    async def answer(self, path: str) -> tuple[bytes, str]:
        if path == "/__seen":  # cheap enough to ask often while the cycle runs
            return json.dumps({"seen": len(self.first)}).encode(), "json"
        if path == "/__counts":
            return json.dumps({"counts": self.counts, "first": self.first}).encode(), "json"
        if path == "/__reset":
            self.counts, self.first = {}, {}
            return b"{}", "json"
        self.counts[path] = self.counts.get(path, 0) + 1
        self.first.setdefault(path, time.time())
        await asyncio.sleep(LATENCY)
        return _rss(path), "rss+xml"


async def _exchange(
    state: FeedState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """One request per connection (monitor keeps no connection alive)."""
    try:
        request = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass  # the headers: nothing in them changes the answer
        parts = request.split()
        body, kind = await state.answer(parts[1].decode() if len(parts) > 1 else "/")
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/{kind}; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
    except (ConnectionError, OSError):
        pass  # the client went away: nothing to answer
    finally:
        writer.close()


async def _serve(hosts: int) -> None:
    state = FeedState()
    servers = []
    for number in range(hosts):
        servers.append(
            await asyncio.start_server(
                lambda r, w: _exchange(state, r, w), f"127.0.0.{2 + number}", 0, backlog=512
            )
        )
    bound = [s.sockets[0].getsockname() for s in servers]
    print(json.dumps([f"{host}:{port}" for host, port in bound]), flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


@contextlib.contextmanager
def feed_server(hosts: int, log: Path) -> Iterator[list[str]]:
    """The server in another process; yields its ``host:port`` addresses."""
    with log.open("w", encoding="utf-8") as errors:
        server = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.workers", "--serve", str(hosts)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True,
        )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line:
            raise SystemExit(f"the feed server did not start:\n{log.read_text()[-2000:]}")
        yield list(json.loads(line))
    finally:
        server.terminate()
        server.wait(10)


def _control(address: str, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{address}{path}", timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


# --- the watchlist, the workers, the database ----------------------------------------


@dataclass(frozen=True)
class Setup:
    cluster: PostgresCluster
    addresses: list[str]
    feeds: int
    slot_after: float
    workdir: Path

    @property
    def urls(self) -> list[str]:
        """Feed n on address n mod hosts: consecutive feeds (as claimed) on different hosts."""
        hosts = self.addresses
        return [f"http://{hosts[n % len(hosts)]}/feed-{n}.xml" for n in range(self.feeds)]


def _write_watchlist(directory: Path, urls: list[str], slot: datetime) -> None:
    directory.mkdir(parents=True)
    listed = "\n".join(f"  - url: {url}\n    every: {EVERY}" for url in urls)
    schedule = f"{slot.second} {slot.minute} {slot.hour} * * *"
    (directory / "bench.yaml").write_text(
        f"title: Workers benchmark\nfeeds:\n{listed}\nentities:\n  kursk:\n"
        f'    aliases: [Kursk]\ndigest:\n  schedule: "{schedule}"\n  timezone: UTC\n',
        encoding="utf-8",
    )


def _environment(run: Path, database_url: str, addresses: list[str]) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")},
        "MONITOR_DATABASE_URL": database_url,
        "MONITOR_WATCHLISTS": str(run / "watchlists"),
        "MONITOR_OUTPUT_DIR": str(run / "digests"),
        "MONITOR_TEMPLATES": str(ROOT / "templates"),
        "MONITOR_ALLOW_HOSTS": ",".join(addresses),
        "MONITOR_DIGEST_TICK_SECONDS": str(DIGEST_TICK),
    }


def _query(cluster: PostgresCluster, database_url: str, sql: str) -> list[tuple[Any, ...]]:
    with cluster.connect(database_url.rsplit("/", 1)[1]) as connection:
        return list(connection.execute(sql).fetchall())


@dataclass
class Result:
    workers: int
    cycle: float  # first request -> first request of the last feed, server clock
    from_launch: float  # workers started -> the same end
    recorded: float  # first request -> every poll recorded (polled every 0.1 s)
    max_requests: int
    repeated: int  # feeds requested more than once
    unrequested: int
    digests: list[tuple[str, datetime, int]]  # (watchlist, slot, digests)
    slot: datetime
    slot_taken: int  # "this slot already has a digest" lines in the workers' logs
    items: int


class Run:
    """One run: a fresh database, the server's counts reset, N workers."""

    def __init__(self, setup: Setup, workers: int) -> None:
        self.setup = setup
        self.workers = workers
        self.dir = setup.workdir / f"run-{workers}"
        self.database_url = setup.cluster.create_database()
        self.env = _environment(self.dir, self.database_url, setup.addresses)
        self.processes: list[subprocess.Popen[bytes]] = []

    def _logs(self) -> list[str]:
        return [p.read_text(errors="replace") for p in sorted(self.dir.glob("worker-*.log"))]

    def _fail(self, why: str) -> SystemExit:
        tails = "\n".join(f"--- worker log ---\n{log[-3000:]}" for log in self._logs())
        return SystemExit(f"{self.workers} worker(s): {why}\n{tails}")

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> float:
        """Poll ``done()`` every 0.1 s while every worker lives; when it came true."""
        deadline = time.monotonic() + timeout
        while not done():
            if any(p.poll() is not None for p in self.processes):
                raise self._fail(f"a worker exited while waiting for {what}")
            if time.monotonic() > deadline:
                raise self._fail(f"no {what} after {timeout:.0f} s")
            time.sleep(0.1)
        return time.time()

    def start(self) -> tuple[float, datetime]:
        """Migrate, reset the counts, write the watchlist, start the workers."""
        subprocess.run(
            [sys.executable, "-m", "monitor.cli", "db", "upgrade"],
            cwd=ROOT, env=self.env, check=True, capture_output=True,
        )  # fmt: skip
        _control(self.setup.addresses[0], "/__reset")
        slot = datetime.fromtimestamp(int(time.time() + self.setup.slot_after) + 1, UTC)
        _write_watchlist(self.dir / "watchlists", self.setup.urls, slot)
        launched = time.time()
        for n in range(self.workers):
            with (self.dir / f"worker-{n}.log").open("wb") as log:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "monitor.cli", "run"],
                        cwd=self.dir,
                        env=self.env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        return launched, slot

    def stop(self) -> list[int | None]:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return [p.returncode for p in self.processes]

    def _counts(self) -> dict[str, Any]:
        return _control(self.setup.addresses[0], "/__counts")

    def _count(self, sql: str) -> int:
        return int(_query(self.setup.cluster, self.database_url, sql)[0][0])

    def measure(self) -> Result:
        launched, slot = self.start()
        feeds = self.setup.feeds
        self._wait(
            lambda: _control(self.setup.addresses[0], "/__seen")["seen"] >= feeds,
            CYCLE_TIMEOUT,
            "full cycle",
        )
        recorded_at = self._wait(
            lambda: (
                self._count(
                    "SELECT count(*) FROM feed WHERE last_success_at IS NOT NULL "
                    "AND lease_owner IS NULL"
                )
                >= feeds
            ),
            CYCLE_TIMEOUT,
            "recorded cycle",
        )
        cycle_end = time.time()
        # Every worker has had a digest tick or two past the slot.
        self._wait(
            lambda: (
                time.time() > slot.timestamp() + 3 * DIGEST_TICK
                and self._count("SELECT count(*) FROM digest") > 0
            ),
            self.setup.slot_after + 60,
            "digest",
        )
        codes = self.stop()
        if codes != [0] * self.workers:
            raise self._fail(f"exit codes {codes} after SIGTERM")
        if slot.timestamp() < cycle_end:
            print(f"  note: the digest slot came before the cycle ended ({self.workers} workers)")
        return self._result(launched, recorded_at, slot)

    def _result(self, launched: float, recorded_at: float, slot: datetime) -> Result:
        seen = self._counts()
        counts: dict[str, int] = seen["counts"]
        first = min(seen["first"].values())
        last = max(seen["first"].values())
        digests = _query(
            self.setup.cluster,
            self.database_url,
            "SELECT watchlist, scheduled_for, count(*) FROM digest GROUP BY 1, 2 ORDER BY 2",
        )
        return Result(
            workers=self.workers,
            cycle=last - first,
            from_launch=last - launched,
            recorded=recorded_at - first,
            max_requests=max(counts.values()),
            repeated=sum(1 for c in counts.values() if c > 1),
            unrequested=self.setup.feeds - len(counts),
            digests=[(w, s, int(c)) for w, s, c in digests],
            slot=slot,
            slot_taken=sum(log.count("this slot already has a digest") for log in self._logs()),
            items=self._count("SELECT count(*) FROM item"),
        )


# --- the report ------------------------------------------------------------------------


def digests_per_slot(result: Result) -> int:
    """Digests of the one slot expected; 0 when it got none or another slot got one."""
    slots = {(w, s): c for w, s, c in result.digests}
    if set(slots) != {("bench", result.slot)}:
        return 0
    return slots["bench", result.slot]


def report(results: list[Result], feeds: int) -> bool:
    """Print the table; True when every feed was requested once and every slot had one digest."""
    base = results[0].cycle
    print(
        f"\n{'workers':>7}  {'cycle s':>8}  {'ratio':>6}  {'max req/feed':>12}  "
        f"{'feeds >1 req':>12}  {'digests/slot':>12}"
    )
    for r in results:
        print(
            f"{r.workers:>7}  {r.cycle:>8.2f}  {base / r.cycle:>6.2f}  {r.max_requests:>12}  "
            f"{r.repeated:>12}  {digests_per_slot(r):>12}"
        )
    print(
        "\ncycle s: from the first request the server saw to the first request of the last "
        f"of the {feeds} feeds; ratio: 1-worker cycle / this cycle"
    )
    ok = True
    for r in results:
        slots = ", ".join(f"{w} {s:%H:%M:%S} UTC: {c}" for w, s, c in r.digests) or "none"
        print(
            f"{r.workers} worker(s): {r.from_launch:.2f} s from launch to the last feed's request, "
            f"every poll recorded {r.recorded:.1f} s after the first request; {r.items} items "
            f"stored; digests by slot: {slots}; workers that found the slot taken: "
            f"{r.slot_taken}"
        )
        ok = ok and r.max_requests == 1 and r.unrequested == 0 and digests_per_slot(r) == 1
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=20, help="loopback addresses, 127.0.0.2 on")
    parser.add_argument(
        "--slot-after", type=float, default=40.0, help="seconds from start to the digest slot"
    )
    parser.add_argument("--serve", type=int, metavar="HOSTS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve))
        return
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL server binaries (initdb, pg_ctl) not found")
    # SIGTERM too unwinds through the finally blocks: no process or directory left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="monitor-bench-workers-"))
    cluster = PostgresCluster(bindir)
    try:
        cluster.start()
        with feed_server(args.hosts, workdir / "server.log") as addresses:
            setup = Setup(cluster, addresses, args.feeds, args.slot_after, workdir)
            ok = _runs(setup)
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if not ok:
        raise SystemExit(1)


def _runs(setup: Setup) -> bool:
    fields = Settings.model_fields  # the defaults: the workers get no MONITOR_FETCH_WORKERS
    fetch_workers = fields["fetch_workers"].default
    parse_processes = fields["parse_processes"].get_default(call_default_factory=True)
    print(
        f"{setup.feeds} feeds, {LATENCY * 1000:.0f} ms per response, on {len(setup.addresses)} "
        f"hosts ({setup.addresses[0]} ... {setup.addresses[-1]}); per worker "
        f"MONITOR_FETCH_WORKERS={fetch_workers} (default), "
        f"{parse_processes} poll processes (default), 2 requests at once per host; "
        f"{os.cpu_count()} cores"
    )
    results = []
    for workers in (1, 3):
        run = Run(setup, workers)
        try:
            results.append(run.measure())
        finally:
            run.stop()
    return report(results, setup.feeds)


if __name__ == "__main__":
    main()
