"""Several workers on one database: feed leases, one digest per slot, one
SQLite worker, and three real `monitor run` processes sharing PostgreSQL."""

from __future__ import annotations

import itertools
import signal
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import psycopg
from sqlmodel import select

from monitor.migrations import upgrade
from monitor.store import Store
from monitor.store.tables import FeedRow
from monitor.types import FeedChange, Health
from tests.conftest import FeedServer, Route, Smtp, all_at_once, rss, write_watchlist
from tests.test_service import start_service, wait_until

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


def _store(url: str) -> Store:
    store = Store(url)
    upgrade(store.engine)
    return store


FEEDS = [f"http://127.0.0.1:9/f{n}" for n in range(5)]


# --- the store's feed leases, on both backends -----------------------------------


def test_a_claimed_feed_is_kept_from_other_workers_until_its_lease_runs_out(
    database_url: str,
) -> None:
    mine, theirs, other = (_store(database_url) for _ in range(3))  # three workers
    assert len({mine.owner, theirs.owner, other.owner}) == 3
    mine.feeds.sync([(url, 3600) for url in FEEDS], NOW)
    # A claim takes no more than its batch, oldest due first.
    batch = mine.feeds.claim(NOW, FEEDS, limit=2, lease=LEASE)
    assert [f.url for f in batch] == FEEDS[:2]
    rest = theirs.feeds.claim(NOW, FEEDS, lease=LEASE)
    assert [f.url for f in rest] == FEEDS[2:]
    # Everything is leased: neither due polls nor forced ones take a held feed.
    assert other.feeds.claim(NOW, FEEDS, force=True, lease=LEASE) == []
    assert set(_lease_owners(mine).values()) == {mine.owner, theirs.owner}

    # The worker holding f0 finishes it: the lease is cleared, and f0 is not
    # due again before its interval. The one holding f2-f4 is still at work
    # and renews its leases. f1's holder died: once its lease has run out,
    # another worker takes it at once, whatever its interval says.
    mine.feeds.record([_unchanged(FEEDS[0], NOW + timedelta(hours=1))])
    assert theirs.feeds.renew(NOW + timedelta(minutes=1), LEASE) == 3
    expired = NOW + LEASE
    assert other.feeds.claim(expired - timedelta(seconds=1), FEEDS, lease=LEASE) == []
    taken = other.feeds.claim(expired, FEEDS, lease=LEASE)
    assert [f.url for f in taken] == [FEEDS[1]]
    assert mine.feeds.renew(expired, LEASE) == 0  # it has none left to renew
    # The dead worker's late report does not clear the new holder's lease.
    mine.feeds.record([_unchanged(FEEDS[1], expired + timedelta(hours=1))])
    owners = _lease_owners(mine)
    assert owners == {FEEDS[0]: None, FEEDS[1]: other.owner} | dict.fromkeys(
        FEEDS[2:], theirs.owner
    )
    other.feeds.record([_unchanged(FEEDS[1], expired + timedelta(hours=1))])
    assert _lease_owners(mine)[FEEDS[1]] is None
    for store in (mine, theirs, other):
        store.close()


def test_workers_claiming_at_once_never_take_the_same_feed(database_url: str) -> None:
    urls = [f"http://127.0.0.1:9/g{n}" for n in range(60)]
    stores = [_store(database_url) for _ in range(3)]
    stores[0].feeds.sync([(url, 60) for url in urls], NOW)
    taken: dict[str, list[str]] = defaultdict(list)

    def claim(store: Store) -> None:
        while batch := store.feeds.claim(NOW, urls, limit=4, lease=LEASE):
            taken[store.owner] += [f.url for f in batch]

    assert all_at_once(claim, stores) == []
    claims = [url for urls_of_one in taken.values() for url in urls_of_one]
    assert sorted(claims) == sorted(urls)  # each exactly once
    print(f"\nclaims per worker: {sorted(len(v) for v in taken.values())}")
    for store in stores:
        store.close()


def _lease_owners(store: Store) -> dict[str, str | None]:
    with store.session() as s:
        return dict(s.exec(select(FeedRow.url, FeedRow.lease_owner)).all())


def _unchanged(url: str, next_poll_at: datetime) -> FeedChange:
    return FeedChange(url, Health("active", next_poll_at))


# --- SQLite: one worker ------------------------------------------------------------


def _lock_holder(workdir: Path) -> str:
    lock = workdir / "monitor.db.lock"
    return lock.read_text(encoding="utf-8").strip() if lock.exists() else ""


def test_a_second_service_on_one_sqlite_file_refuses_to_start(
    workdir: Path, smtp_server: Smtp
) -> None:
    write_watchlist(workdir, [])
    first = start_service(workdir, smtp_server)
    try:
        assert wait_until(lambda: _lock_holder(workdir) == str(first.pid))
        second = start_service(workdir, smtp_server)
        output, _ = second.communicate(timeout=60)
        lines = output.strip().splitlines()
        assert second.returncode == 1, output
        assert len(lines) == 1 and "Traceback" not in output, output
        assert (
            f"another `monitor run` (pid {first.pid}) is using {workdir / 'monitor.db'}"
            in (lines[0])
        )
        assert first.poll() is None  # the first one runs on
    finally:
        first.send_signal(signal.SIGKILL)  # a crash: the OS drops its lock
        first.communicate(timeout=30)
    # Once the first one is gone, another starts, and in JSON logs the refusal is JSON too.
    third = start_service(workdir, smtp_server)
    try:
        assert wait_until(lambda: _lock_holder(workdir) == str(third.pid))
        refused = start_service(workdir, smtp_server, log_format="json")
        output, _ = refused.communicate(timeout=60)
        assert refused.returncode == 1 and output.startswith('{"time": '), output
        assert "SQLite takes one worker" in output and len(output.strip().splitlines()) == 1
    finally:
        third.send_signal(signal.SIGTERM)
        output, _ = third.communicate(timeout=30)
    assert third.returncode == 0, output


def test_a_restarted_sqlite_worker_takes_back_its_killed_predecessors_leases(
    workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    """Killed while polling, a worker leaves its feed leased. On SQLite the
    file lock proves the next one alone: it polls that feed at once, not when
    the lease (ten minutes here) runs out."""
    feeds = CountingFeeds(feed_server)
    url = feeds.add("/hangs.xml", hang=True)
    _watchlist(workdir, "kursk", [url], "0 0 1 1 *", "analyst@example.org")
    settings = {"poll_tick_seconds": "0.2", "fetch_timeout": "60", "feed_lease_seconds": "600"}
    first = start_service(workdir, smtp_server, log=workdir / "first.log", **settings)
    try:
        assert wait_until(lambda: len(feeds.times["/hangs.xml"]) == 1)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    second = start_service(workdir, smtp_server, log=workdir / "second.log", **settings)
    try:
        assert wait_until(lambda: len(feeds.times["/hangs.xml"]) == 2, timeout=20)
    finally:
        feeds.killed.set()  # the hanging requests end, and the worker with them
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    output = (workdir / "second.log").read_text(encoding="utf-8")
    assert "took back 1 feed lease a stopped worker held" in output, output
    assert second.returncode == 0 and "Traceback" not in output


# --- three `monitor run` processes on one PostgreSQL database --------------------------

EVERY = 2.0  # seconds between polls of a feed
LEASE_SECONDS = 4.0
FETCH_TIMEOUT = 3.0
# A feed is claimed when due by the claiming worker's clock, and its next poll
# is set from that moment: claims of one feed are at least EVERY apart. The
# feed server sees each request a little after its claim (the cycle's own
# queries come first), so request times may come closer by that delay, which
# stays far below this bound; two workers polling one feed at the same time
# would show gaps of a poll tick or less.
REQUEST_DELAY = 0.5
RECIPIENTS = ("analyst@example.org", "editor@example.org")


class CountingFeeds:
    """Feeds on the local server that answer a new Kursk item on every
    request and remember when each request came; ``hang`` feeds leave every
    request hanging until ``killed`` is set (then they answer)."""

    def __init__(self, server: FeedServer) -> None:
        self.server = server
        self.times: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()
        self.killed = threading.Event()

    def add(self, path: str, hang: bool = False) -> str:
        self.server.routes[path] = Route(custom=self._responder(path, hang))
        return self.server.url(path)

    def _responder(self, path: str, hang: bool) -> Callable[[BaseHTTPRequestHandler], None]:
        def respond(request: BaseHTTPRequestHandler) -> None:
            with self.lock:
                number = len(self.times[path])
                self.times[path].append(time.time())
            if hang and not self.killed.is_set():
                self.killed.wait(30)
                return
            body = rss((f"{path}#{number}", f"Kursk report {number}", f"From {path}, Kursk."))
            request.send_response(200)
            request.send_header("Content-Type", "application/rss+xml")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)

        return respond


def _watchlist(workdir: Path, name: str, feeds: list[str], schedule: str, emails: str) -> None:
    listed = "\n".join(f"  - url: {url}\n    every: {EVERY:g}s" for url in feeds)
    (workdir / "watchlists" / f"{name}.yaml").write_text(
        f"title: {name}\nfeeds:\n{listed}\nentities:\n  kursk:\n    aliases: [Kursk]\n"
        f'digest:\n  schedule: "{schedule}"\n  timezone: UTC\n  email: [{emails}]\n',
        encoding="utf-8",
    )


def _start_worker(workdir: Path, database_url: str, smtp: Smtp, n: int) -> subprocess.Popen[str]:
    return start_service(
        workdir, smtp, log=workdir / f"worker-{n}.log",
        database_url=database_url, poll_tick_seconds="0.2", digest_tick_seconds="0.25",
        deliver_tick_seconds="0.25", fetch_timeout=str(FETCH_TIMEOUT),
        feed_lease_seconds=str(LEASE_SECONDS), delivery_lease_seconds="3", parse_processes="0",
    )  # fmt: skip


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url.replace("+psycopg", "")) as connection:
        return list(connection.execute(sql).fetchall())  # type: ignore[arg-type]


def _two_slots_from(start: float, first: float, second: float) -> tuple[str, list[datetime]]:
    """A six-field cron that fires at ``first`` and ``second`` seconds after
    ``start`` (whole seconds), and not again for a minute."""
    slots = [
        datetime.fromtimestamp(int(start + offset), UTC).replace(microsecond=0)
        for offset in (first, second)
    ]
    return f"{slots[0].second},{slots[1].second} * * * * *", slots


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_three_workers_on_postgresql_share_feeds_digests_and_a_dead_workers_leases(
    workdir: Path, postgres_url: str, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    feeds = CountingFeeds(feed_server)
    regular = [feeds.add(f"/feed-{n}.xml") for n in range(8)]
    started = time.time()
    schedule, slots = _two_slots_from(started, 8, 12)
    _watchlist(workdir, "wire", regular, schedule, ", ".join(RECIPIENTS))
    workers = [_start_worker(workdir, postgres_url, smtp_server, n) for n in range(3)]
    sink = smtp_server.sink
    try:
        # Phase 1: several intervals, two digest slots, all three workers live.
        expected_mail = len(slots) * len(RECIPIENTS)
        assert wait_until(lambda: len(sink.wait_for(0)) >= expected_mail, timeout=40)
        assert wait_until(
            lambda: (
                _query(postgres_url, "SELECT count(*) FROM outbox WHERE status='pending'") == [(0,)]
            )
        )
        # Phase 2: a worker takes three feeds whose first request hangs, and dies.
        hanging = [feeds.add(f"/hang-{n}.xml", hang=True) for n in range(3)]
        _watchlist(workdir, "hang", hanging, "0 0 7 1 1 *", "")
        hang_paths = [f"/hang-{n}.xml" for n in range(3)]
        # Two at a time: a worker sends at most two requests at once to one host.
        assert wait_until(lambda: sum(bool(feeds.times[p]) for p in hang_paths) >= 2, 20)
        leases = _query(
            postgres_url,
            "SELECT url, lease_owner, lease_until FROM feed WHERE url LIKE '%/hang-%'",
        )
        first = min(hang_paths, key=lambda p: feeds.times[p][0] if feeds.times[p] else 1e12)
        owner = next(o for u, o, _ in leases if u.endswith(first))
        pid = int(owner.rsplit(":", 2)[1])
        [victim] = [w for w in workers if w.pid == pid]
        held = {u: until for u, o, until in leases if o == owner}
        killed_at = time.time()
        # Killed before its hanging requests are answered: answered first, the
        # victim could send its next request (for a feed it holds) before the
        # signal lands, and that request would look like an early takeover.
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        feeds.killed.set()
        assert all(until.timestamp() > killed_at for until in held.values())  # it held them
        orphaned = [u.removeprefix(f"http://{feed_server.host}") for u in held]

        def recovered() -> bool:
            rows = _query(
                postgres_url,
                "SELECT url FROM feed WHERE lease_owner IS NULL AND last_success_at IS NOT NULL",
            )
            return set(held) <= {url for (url,) in rows}

        assert wait_until(recovered, timeout=LEASE_SECONDS + 10)
        time.sleep(EVERY)  # the survivors poll on; nothing more is mailed
    finally:
        feeds.killed.set()
        outputs = []
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
            worker.wait(30)
        for n in range(3):
            outputs.append((workdir / f"worker-{n}.log").read_text(encoding="utf-8"))
    survivors = [w for w in workers if w is not victim]
    assert all(w.returncode == 0 for w in survivors), outputs
    assert not any("Traceback" in output for output in outputs), outputs

    # Each feed fetched at most once per interval, over the whole run.
    ended = time.time()
    run_seconds = ended - started
    gaps = {path: _gaps(times) for path, times in feeds.times.items() if "/feed-" in path}
    smallest = min(min(g) for g in gaps.values())
    # Requests per interval over the time each feed was polled.
    per_interval = [len(g) / ((sum(g) or 1) / EVERY) for g in gaps.values()]
    assert smallest >= EVERY - REQUEST_DELAY, gaps

    # The dead worker's feeds were taken over once their leases ran out, not before.
    recovery = []
    for path, (url, until) in zip(orphaned, held.items(), strict=True):
        # The first request after the kill (the dead worker's were left hanging).
        taken_over = min(t for t in feeds.times[path] if t > killed_at)
        assert taken_over >= until.timestamp() - 0.01, (url, taken_over, until)
        recovery.append(taken_over - killed_at)

    # One digest per slot, each mailed once to each recipient.
    digests = _query(postgres_url, "SELECT scheduled_for FROM digest WHERE watchlist='wire'")
    assert sorted(d for (d,) in digests) == slots
    per_recipient = {r: [m["Message-ID"] for m in sink.to(r)] for r in RECIPIENTS}
    for ids in per_recipient.values():
        assert len(ids) == len(slots) and len(set(ids)) == len(slots), per_recipient
    already = sum(o.count("this slot already has a digest") for o in outputs)

    print(
        f"\n3 workers, {len(gaps)} feeds every {EVERY:g}s over {run_seconds:.1f}s: "
        f"requests per feed per interval {min(per_interval):.2f}-{max(per_interval):.2f}, "
        f"smallest gap between two requests of one feed {smallest:.2f}s"
        f"\ndigest slots {len(slots)}, digests made {len(digests)}, emails per recipient "
        f"per digest {[len(ids) // len(slots) for ids in per_recipient.values()]}, "
        f"workers that found the slot taken {already}"
        f"\nkilled worker held {len(held)} feed leases ({LEASE_SECONDS:g}s); taken over "
        f"{min(recovery):.2f}-{max(recovery):.2f}s after the SIGKILL"
    )
