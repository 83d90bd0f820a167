"""`monitor run` as a real process: scheduled polls, alerts, digests, reloads, SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.conftest import FeedServer, Route, Smtp, free_port, rss, write_watchlist
from tests.postgres import PostgresCluster
from tests.test_cli import monitor
from tests.test_pipeline import DATA

ROOT = Path(__file__).resolve().parent.parent


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def start_service(
    workdir: Path, smtp: Smtp, log: Path | None = None, **settings: str
) -> subprocess.Popen[str]:
    """``monitor run`` with fast ticks; ``settings`` are more MONITOR_* variables
    (overriding these); its output is piped, or written to ``log``."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")},
        "MONITOR_DATABASE_URL": f"sqlite:///{workdir / 'monitor.db'}",
        "MONITOR_WATCHLISTS": str(workdir / "watchlists"),
        "MONITOR_OUTPUT_DIR": str(workdir / "digests"),
        "MONITOR_TEMPLATES": str(ROOT / "templates"),
        "MONITOR_SMTP_URL": smtp.url,
        "MONITOR_ALLOW_HOSTS": "127.0.0.1",
        "MONITOR_POLL_TICK_SECONDS": "0.5",
        "MONITOR_DIGEST_TICK_SECONDS": "0.5",
        "MONITOR_DELIVER_TICK_SECONDS": "0.5",
        "MONITOR_RELOAD_SECONDS": "0.3",
        **{f"MONITOR_{name.upper()}": value for name, value in settings.items()},
    }
    output = log.open("w", encoding="utf-8") if log else subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "run"],
        cwd=workdir, env=env, stdout=output, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_the_service_alerts_digests_reloads_and_stops_on_sigterm(
    workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes(), etag='"1"')
    path = write_watchlist(
        workdir, [feed_server.url("/wire.xml")], alert=True, schedule="*/3 * * * * *",
        digest_email="analyst@example.org", alert_email="duty@example.org",
    )  # fmt: skip
    service = start_service(workdir, smtp_server)
    try:
        sink = smtp_server.sink
        assert wait_until(lambda: any(m["To"] == "analyst@example.org" for m in sink.wait_for(0)))
        subjects = [m["Subject"] for m in sink.wait_for(0)]
        assert not [s for s in subjects if s.startswith("[alert]")]  # a first read: old news
        digests = [m for m in sink.wait_for(0) if m["To"] == "analyst@example.org"]
        assert digests[0]["Subject"].startswith("Test watch: 5 matches")

        # A broken edit keeps the last good version in force.
        path.write_text(path.read_text() + "\n  bad: [unclosed\n", encoding="utf-8")
        before = len(sink.wait_for(0))
        assert wait_until(lambda: len(sink.wait_for(0)) > before)  # digests keep coming
    finally:
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=30)
    assert service.returncode == 0, output
    assert "the last good version stays in force" in output
    assert f"{path}:" in output and "invalid YAML" in output
    assert "poll: 1 feeds polled, 4 new items, 5 new matches, 0 failed" in output
    assert "Traceback" not in output
    assert output.rstrip().endswith("stopped")
    assert feed_server.count("/wire.xml") >= 1
    assert (workdir / "digests" / "test-watch" / "index.html").exists()


def test_the_first_digest_waits_for_the_first_poll(
    workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    """A digest due every second, a feed that takes 3 s to answer: the first
    digest holds what the first poll brought in, not an empty page."""
    body = (DATA / "wire.xml").read_bytes()

    def slow(request: BaseHTTPRequestHandler) -> None:
        time.sleep(3)
        request.send_response(200)
        request.send_header("Content-Type", "application/rss+xml")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    feed_server.routes["/wire.xml"] = Route(custom=slow)
    write_watchlist(
        workdir, [feed_server.url("/wire.xml")], schedule="* * * * * *",
        digest_email="analyst@example.org",
    )  # fmt: skip
    service = start_service(workdir, smtp_server)
    try:
        [first, *_] = smtp_server.sink.wait_for(1)
        assert first["Subject"].startswith("Test watch: 5 matches")
    finally:
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=30)
    assert service.returncode == 0, output


def test_a_new_feeds_old_items_raise_no_alert_and_the_next_new_one_raises_one(
    workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    """20 alert-worthy items, days old, in a feed read for the first time:
    they go to the digest, and alert nobody; one item published afterwards
    sends exactly one alert."""
    old = [(f"o{i}", f"Storm Corps unit {i} moved", "Near Kursk.") for i in range(20)]
    feed_server.routes["/wire"] = Route(rss(*old))  # published 24 Nov 2026
    url = feed_server.url("/wire")
    path = write_watchlist(workdir, [url], alert=True, alert_email="duty@example.org")
    path.write_text(path.read_text().replace(f"  - {url}\n", f"  - url: {url}\n    every: 1s\n"))
    service = start_service(workdir, smtp_server)
    try:
        assert wait_until(lambda: feed_server.count("/wire") >= 3)  # read, and read again
        assert smtp_server.sink.wait_for(0) == []
        fresh = format_datetime(datetime.now(UTC), usegmt=True)
        item = (
            "<item><guid>n1</guid><title>Storm Corps crosses the river</title>"
            f"<link>https://news.example/n1</link><pubDate>{fresh}</pubDate></item>"
        )
        feed_server.routes["/wire"] = Route(
            rss(*old).replace(b"<item>", item.encode() + b"<item>", 1)
        )
        [alert] = smtp_server.sink.wait_for(1)
        assert alert["Subject"] == "[alert] Test watch: Storm Corps (1 new)"
        polls = feed_server.count("/wire")
        assert wait_until(lambda: feed_server.count("/wire") >= polls + 3)
        assert len(smtp_server.sink.wait_for(0)) == 1  # and only that one
    finally:
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=30)
    assert service.returncode == 0, output
    with closing(sqlite3.connect(workdir / "monitor.db")) as db:
        rows = db.execute(
            "SELECT backfill, alert, count(*) FROM match WHERE rule = 'storm-corps' GROUP BY 1, 2"
        ).fetchall()
    assert sorted(rows) == [(0, 1, 1), (1, 0, 20)]  # the old ones stored, marked, in the digest


def test_offline_the_service_says_what_to_try_and_where_digests_go(
    workdir: Path, smtp_server: Smtp
) -> None:
    """A first `make run` on a machine without the network: the log says when
    the digest comes, where its pages go, that its mail waits for SMTP, and,
    once, that no feed answered and what to try."""
    dead = [f"http://127.0.0.1:{free_port()}/feed-{n}.xml" for n in range(2)]
    write_watchlist(workdir, dead, digest_email=ANALYST, schedule="0 7 * * *", timezone="UTC")
    log = workdir / "service.log"
    service = start_service(workdir, smtp_server, log=log, smtp_url="", poll_tick_seconds="0.2")
    try:
        assert wait_until(lambda: log.read_text(encoding="utf-8").count("poll: 2 feeds") >= 1)
        time.sleep(1)
    finally:
        stop(service)
    output = log.read_text(encoding="utf-8")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    today = datetime.now(UTC).date()
    nexts = [f"next {day:%Y-%m-%d} 07:00 UTC" for day in (today, tomorrow)]
    assert any(
        f"digest test-watch: {n}; pages in {workdir / 'digests' / 'test-watch'}/, its mail "
        "waits in the outbox until MONITOR_SMTP_URL is set" in output
        for n in nexts
    ), output
    assert output.count("no feed answered: is this machine offline") == 1, output
    assert "`make demo` (monitor demo) shows a digest" in output


# --- crashes and restarts ------------------------------------------------------

ANALYST = "analyst@example.org"


def poll_with_the_cli(workdir: Path, feed_server: FeedServer) -> list[str]:
    """``monitor poll`` once: the wire's 5 matches are stored, and the
    watchlist's digests count from now. Returns the watchlist's feeds."""
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes(), etag='"1"')
    feeds = [feed_server.url("/wire.xml")]
    write_watchlist(workdir, feeds, digest_email=ANALYST, timezone="UTC")
    polled = monitor(workdir, "poll")
    assert polled.returncode == 0 and "5 new matches" in polled.stdout, polled.stderr
    return feeds


def a_slot_just_past() -> str:
    """A daily schedule whose slot is the next whole second, once it has passed:
    due at once, and not again for a day."""
    slot = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
    time.sleep(max((slot - datetime.now(UTC)).total_seconds(), 0) + 0.05)
    return f"{slot.second} {slot.minute} {slot.hour} * * *"


def database(workdir: Path, query: str) -> list[tuple[object, ...]]:
    """Rows of the service's SQLite file; none while it has no schema yet."""
    with closing(sqlite3.connect(workdir / "monitor.db", timeout=10)) as db:
        try:
            return list(db.execute(query))
        except sqlite3.OperationalError:
            return []


def email_statuses(workdir: Path) -> list[object]:
    return [row[0] for row in database(workdir, "SELECT status FROM outbox WHERE channel='email'")]


def stop(service: subprocess.Popen[str]) -> str:
    """SIGTERM; it exits 0 without a traceback. Its output, when piped."""
    service.send_signal(signal.SIGTERM)
    output, _ = service.communicate(timeout=30)
    output = output or ""  # written to a log file instead
    assert service.returncode == 0, output
    assert "Traceback" not in output
    return output


# The digest arrives exactly once when the process dies before the message
# is committed or sent; when it dies after the server took it (250) but
# before that was recorded, it is sent again after restart, at most once more,
# with the same Message-ID. Never zero.
@pytest.mark.parametrize(
    ("fault", "before_restart", "expected"),
    [("before-outbox-commit", 0, 1), ("before-send", 0, 1), ("after-smtp-250", 1, 2)],
)
def test_a_crash_at_any_step_neither_loses_nor_repeats_the_digest(
    workdir: Path,
    feed_server: FeedServer,
    smtp_server: Smtp,
    fault: str,
    before_restart: int,
    expected: int,
) -> None:
    sink = smtp_server.sink
    feeds = poll_with_the_cli(workdir, feed_server)
    schedule = a_slot_just_past()
    write_watchlist(workdir, feeds, digest_email=ANALYST, timezone="UTC", schedule=schedule)
    # A message taken for sending is kept from others for a second, not five minutes.
    crashed = start_service(workdir, smtp_server, fault=fault, delivery_lease_seconds="1")
    output, _ = crashed.communicate(timeout=30)
    assert crashed.returncode == -signal.SIGKILL, output
    assert f"MONITOR_FAULT: killed at {fault}" in output
    assert len(sink.to(ANALYST)) == before_restart

    service = start_service(workdir, smtp_server, delivery_lease_seconds="1")
    try:
        assert wait_until(lambda: email_statuses(workdir) == ["sent"]), email_statuses(workdir)
        time.sleep(1.5)  # long enough for a lease to run out and a duplicate to be sent
    finally:
        output = stop(service)
    received = sink.to(ANALYST)
    ids = {m["Message-ID"] for m in received}
    print(
        f"\ncrash {fault}: digests expected 1, received {len(received)}, "
        f"duplicates {len(received) - len(ids) if ids else 0}, Message-IDs {len(ids)}"
    )
    assert len(received) == expected and len(ids) == 1
    assert all(m["Subject"].startswith("Test watch: 5 matches · ") for m in received)
    [(count, status)] = database(workdir, "SELECT match_count, status FROM digest")
    assert (count, status) == (5, "delivered")


def test_a_service_stopped_across_two_slots_makes_one_catch_up_digest(
    workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes(), etag='"1"')
    feeds = [feed_server.url("/wire.xml")]
    write_watchlist(workdir, feeds, timezone="UTC", schedule="0 0 7 1 1 *")  # once a year
    service = start_service(workdir, smtp_server)
    try:
        assert wait_until(lambda: database(workdir, "SELECT count(*) FROM match") == [(5,)])
    finally:
        stop(service)

    # Every two seconds from now on; the service stays down over two slots.
    write_watchlist(workdir, feeds, timezone="UTC", schedule="*/2 * * * * *")
    time.sleep(4.5)
    restarted_at = datetime.now(UTC)
    service = start_service(workdir, smtp_server)
    try:
        assert wait_until(
            lambda: database(workdir, "SELECT count(*) FROM digest") not in ([], [(0,)])
        )
    finally:
        stop(service)
    digests = [
        (datetime.fromisoformat(str(when)).replace(tzinfo=UTC), count)
        for when, count in database(
            workdir, "SELECT scheduled_for, match_count FROM digest ORDER BY id"
        )
    ]
    count = digests[0][1]
    assert count == 5 and sum(c for _, c in digests) == 5  # one digest holds every match
    # It is for the latest slot before the restart, not for the missed ones.
    assert all(slot > restarted_at - timedelta(seconds=2) for slot, _ in digests)


# --- a database that cannot be used ----------------------------------------------

CANNOT = "the database cannot be used"


def test_a_read_only_database_is_one_line_and_an_unhealthy_check(
    workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    """A service that cannot write (a read-only file, a full disk) says so
    once, keeps running, and its health check stops saying healthy."""
    poll_with_the_cli(workdir, feed_server)
    beat = {"heartbeat_seconds": "0.25"}  # the check wants a beat in the last second
    service = start_service(workdir, smtp_server, **beat)
    try:
        assert wait_until(lambda: bool(database(workdir, "SELECT worker FROM heartbeat")))
        healthy = monitor(workdir, "run", "--check", **beat)
        assert healthy.returncode == 0 and "the service beats" in healthy.stdout, healthy.stderr
    finally:
        stop(service)
    read_only = f"sqlite:///file:{workdir / 'monitor.db'}?mode=ro&uri=true"
    log = workdir / "read-only.log"
    service = start_service(workdir, smtp_server, log=log, database_url=read_only, **beat)
    try:
        assert wait_until(lambda: CANNOT in log.read_text(encoding="utf-8"))
        time.sleep(2)  # eight heartbeat ticks, three polls: still said once
        check = monitor(workdir, "run", "--check", **beat)
        assert service.poll() is None  # it runs on, waiting for the database
    finally:
        stop(service)
    output = log.read_text(encoding="utf-8")
    assert output.count(CANNOT) == 1, output
    assert "attempt to write a readonly database; the jobs wait for it" in output
    assert "Traceback" not in output
    assert check.returncode == 1, check.stdout
    assert "no `monitor run` on this host beat in the last 1 s (not since " in check.stderr


def test_a_postgresql_outage_is_one_line_when_it_goes_and_one_when_it_comes_back(
    workdir: Path,
    feed_server: FeedServer,
    smtp_server: Smtp,
    postgres_cluster: PostgresCluster,
    postgres_url: str,
) -> None:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes(), etag='"1"')
    write_watchlist(workdir, [feed_server.url("/wire.xml")], digest_email=ANALYST)
    log = workdir / "service.log"
    service = start_service(
        workdir, smtp_server, log=log, database_url=postgres_url,
        heartbeat_seconds="0.25", poll_tick_seconds="0.2",
    )  # fmt: skip
    name = postgres_url.rsplit("/", 1)[1]
    try:
        assert wait_until(lambda: "poll: 1 feeds polled" in log.read_text(encoding="utf-8"))
        with postgres_cluster.connect() as admin:
            # The database goes away: no new connections, the open ones cut.
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')  # type: ignore[arg-type]
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            assert wait_until(lambda: CANNOT in log.read_text(encoding="utf-8"))
            time.sleep(3)  # a dozen ticks of every job
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')  # type: ignore[arg-type]
        assert wait_until(lambda: "works again" in log.read_text(encoding="utf-8"))
    finally:
        stop(service)
    output = log.read_text(encoding="utf-8")
    assert output.count(CANNOT) == 1, output
    assert output.count("the database works again, after ") == 1, output
    assert "Traceback" not in output
