"""Poll -> match -> store, end to end against a local feed server and a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from monitor.app import Worker
from monitor.fetch import Fetcher
from monitor.matcher import Matcher
from monitor.parse import parse_feed
from monitor.parsepool import ParsePool
from monitor.pipeline import Poller
from monitor.types import Entry, FeedFailure, Fetched, Match
from tests.conftest import FeedServer, Route, Smtp, Workers, make_settings, rss, write_watchlist
from tests.golden import assert_golden

DATA = Path(__file__).resolve().parent / "data" / "feeds"
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_worker(workers: Workers, workdir: Path, clock: Clock, **overrides: object) -> Worker:
    return workers(make_settings(workdir, **overrides), clock=clock, raise_errors=True)


def test_golden_feed_to_entries() -> None:
    body = (DATA / "wire.xml").read_bytes()
    parsed = parse_feed(Fetched("u", "u", body, "application/rss+xml", None, None, "h"))
    assert not isinstance(parsed, FeedFailure)
    entries = [
        {**e.__dict__, "published_at": e.published_at.isoformat() if e.published_at else None}
        for e in parsed.entries
    ]
    document = {"title": parsed.title, "ttl_minutes": 30, "entries": entries}
    assert parsed.ttl == timedelta(minutes=30)
    assert_golden("wire.entries.json", json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def test_poll_matches_and_stores_once(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes(), etag='"w1"')
    write_watchlist(workdir, [feed_server.url("/wire.xml")])
    clock = Clock(NOW)
    worker = make_worker(workers, workdir, clock)
    first = worker.poll()
    assert [(f.outcome, f.new_items) for f in first.feeds] == [("updated", 4)]
    stored = {(m.rule, m.item_title) for m in worker.store.matches.unreported("test-watch")}
    assert stored == {
        ("storm-corps", "North Korean troops of the Storm Corps seen near Kursk"),
        ("kursk", "North Korean troops of the Storm Corps seen near Kursk"),
        ("dprk", "North Korean troops of the Storm Corps seen near Kursk"),
        ("dprk", "Pyongyang and Moscow mark the mutual assistance treaty"),
        ("pact", "Pyongyang and Moscow mark the mutual assistance treaty"),
    }
    clock.now = NOW + timedelta(hours=1)
    second = worker.poll()
    assert [f.outcome for f in second.feeds] == ["http_304"]
    assert feed_server.count("/wire.xml") == 2
    forced = worker.poll(force=True)
    assert [(f.outcome, f.new_items, f.new_matches) for f in forced.feeds] == [("http_304", 0, 0)]
    assert worker.store.counts() == {"feeds": 1, "items": 4, "matches": 5, "digests": 0}
    worker.close()


def test_a_changed_feed_adds_only_new_items(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/f"] = Route(rss(("a", "North Korea one", "x")))
    write_watchlist(workdir, [feed_server.url("/f")])
    worker = make_worker(workers, workdir, Clock(NOW))
    worker.poll()
    feed_server.routes["/f"] = Route(rss(("a", "North Korea one", "x"), ("b", "DPRK two", "y")))
    report = worker.poll(force=True)
    assert (report.new_items, report.new_matches) == (1, 1)
    assert worker.store.counts()["matches"] == 2
    worker.close()


def test_an_item_carried_by_two_feeds_is_one_item(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    item = ("shared-guid", "North Korea and Russia sign a treaty in Moscow", "pact")
    feed_server.routes["/a"] = Route(rss(item, title="Feed A"))
    feed_server.routes["/b"] = Route(rss(item, ("only-b", "Kursk", "x"), title="Feed B"))
    write_watchlist(workdir, [feed_server.url("/a"), feed_server.url("/b")])
    worker = make_worker(workers, workdir, Clock(NOW))
    report = worker.poll()
    assert report.new_items == 2
    matches = worker.store.matches.unreported("test-watch")
    pact = next(m for m in matches if m.rule == "pact")
    assert sorted(pact.sources) == ["Feed A", "Feed B"]
    assert len([m for m in matches if m.rule == "pact"]) == 1
    worker.close()


def test_feeds_that_number_their_guids_alike_keep_their_own_items(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    """A guid such as 1 or 2 identifies an item within its feed only: two
    outlets numbering theirs alike are four items, all matched."""
    one = ("1", "Kursk: the first outlet's report", "x")
    two = ("2", "North Korea: the first outlet's second", "y")
    feed_server.routes["/a"] = Route(rss(one, two, title="A", site="a.example"))
    other = (("1", "Kursk: another outlet's own report", "x"), ("2", "DPRK elsewhere", "y"))
    feed_server.routes["/b"] = Route(rss(*other, title="B", site="b.example"))
    write_watchlist(workdir, [feed_server.url("/a"), feed_server.url("/b")])
    worker = make_worker(workers, workdir, Clock(NOW))
    report = worker.poll()
    assert [(f.new_items, f.new_matches) for f in report.feeds] == [(2, 2), (2, 2)]
    titles = {m.item_title for m in worker.store.matches.unreported("test-watch")}
    assert titles == {one[1], two[1], *(item[1] for item in other)}
    assert worker.poll(force=True).new_items == 0  # and each is known at the next poll


def test_one_story_under_each_outlets_own_guid_is_one_item_by_its_link(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    story = "https://wire.example/storm-corps-kursk?utm_source=rss"
    for path, guid in (("/a", "a-991"), ("/b", "B7")):
        body = (
            f'<rss version="2.0"><channel><title>{path}</title><item><guid>{guid}</guid>'
            f"<title>Storm Corps in Kursk</title><link>{story}</link></item></channel></rss>"
        )
        feed_server.routes[path] = Route(body.encode())
    write_watchlist(workdir, [feed_server.url("/a"), feed_server.url("/b")])
    worker = make_worker(workers, workdir, Clock(NOW))
    assert worker.poll().new_items == 1
    [match, *_] = worker.store.matches.unreported("test-watch")
    assert sorted(match.sources) == ["/a", "/b"]


def test_a_live_blogs_updates_sharing_its_address_are_items_of_their_own(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    updates = "".join(
        f"<item><guid>update-{n}</guid><title>Kursk live: update {n}</title>"
        "<link>https://news.example/live/kursk</link></item>"
        for n in (1, 2)
    )
    body = f'<rss version="2.0"><channel><title>Live</title>{updates}</channel></rss>'
    feed_server.routes["/live"] = Route(body.encode())
    write_watchlist(workdir, [feed_server.url("/live")])
    worker = make_worker(workers, workdir, Clock(NOW))
    assert worker.poll().new_items == 2


def test_a_failing_feed_is_recorded_and_loses_nothing(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/f"] = Route(rss(("a", "North Korea one", "x")))
    write_watchlist(workdir, [feed_server.url("/f")])
    clock = Clock(NOW)
    worker = make_worker(workers, workdir, clock)
    worker.poll()
    feed_server.routes["/f"] = Route(
        b"<html><body>Please log in</body></html>", headers={"Content-Type": "text/html"}
    )
    clock.now = NOW + timedelta(hours=1)
    report = worker.poll(force=True)
    assert [f.outcome for f in report.feeds] == ["not_a_feed"]
    [status] = worker.store.feeds.statuses()
    assert (status.consecutive_errors, status.last_error_reason) == (1, "not_a_feed")
    assert status.next_poll_at is not None and status.next_poll_at > clock.now
    assert worker.store.counts()["items"] == 1
    feed_server.routes["/f"] = Route(rss(("a", "North Korea one", "x")))
    worker.poll(force=True)
    [status] = worker.store.feeds.statuses()
    assert status.consecutive_errors == 0 and status.last_error is None
    worker.close()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not_a_feed"),
        (b"<html><p>hi</p></html>", "not_a_feed"),
        (b"\x00\x01garbage", "not_a_feed"),
    ],
)
def test_not_a_feed(body: bytes, reason: str) -> None:
    outcome = parse_feed(Fetched("u", "u", body, "text/html", None, None, "h"))
    assert isinstance(outcome, FeedFailure) and outcome.reason == reason


def test_feedparser_never_sees_a_url_or_a_path(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes(rss(("s", "secret", "x")))
    outcome = parse_feed(Fetched("u", "u", str(secret).encode(), "text/plain", None, None, "h"))
    assert isinstance(outcome, FeedFailure)


# Enough feeds that both parse processes get work.
FEEDS = 8


def test_changed_bodies_are_parsed_in_other_processes_and_unchanged_ones_start_none(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    urls = []
    for number in range(FEEDS):
        feed_server.routes[f"/f{number}"] = Route(
            rss((f"{number}-a", "North Korea news", "x"), (f"{number}-b", "Weather", "y")),
            etag=f'"{number}"',
        )
        urls.append(feed_server.url(f"/f{number}"))
    write_watchlist(workdir, urls)
    worker = make_worker(workers, workdir, Clock(NOW), parse_processes=2)
    assert isinstance(worker.parser, ParsePool) and not worker.parser.started
    report = worker.poll()
    assert [f.outcome for f in report.feeds] == ["updated"] * FEEDS
    assert (report.new_items, report.new_matches) == (2 * FEEDS, FEEDS)
    assert worker.parser.started  # the processes really parsed them
    worker.close()
    # Unchanged now: a new worker's cycle of 304s never starts its processes.
    again = make_worker(workers, workdir, Clock(NOW), parse_processes=2)
    assert [f.outcome for f in again.poll(force=True).feeds] == ["http_304"] * FEEDS
    assert isinstance(again.parser, ParsePool) and not again.parser.started
    again.close()


def test_parse_processes_match_with_the_rules_in_force(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    urls = [feed_server.url(f"/p{number}") for number in range(FEEDS)]
    for number in range(FEEDS):
        feed_server.routes[f"/p{number}"] = Route(rss((f"{number}-a", "Kursk news", "x")))
    path = write_watchlist(workdir, urls)
    worker = make_worker(workers, workdir, Clock(NOW), parse_processes=2)
    first = worker.poll()
    assert (first.new_items, first.new_matches) == (FEEDS, FEEDS)
    # A rule added while the service runs reaches the processes: the old
    # items are not matched again, the new ones are, by the new rule only.
    added = "  weather:\n    name: Weather\n    aliases: [Weather]\ntopics:"
    path.write_text(path.read_text(encoding="utf-8").replace("topics:", added, 1), "utf-8")
    assert worker.reload()
    for number in range(FEEDS):
        items = ((f"{number}-a", "Kursk news", "x"), (f"{number}-b", "Weather today", "y"))
        feed_server.routes[f"/p{number}"] = Route(rss(*items))
    second = worker.poll(force=True)
    assert (second.new_items, second.new_matches) == (FEEDS, FEEDS)
    rules = {m.rule for m in worker.store.matches.unreported("test-watch")}
    assert rules == {"kursk", "weather"}
    assert isinstance(worker.parser, ParsePool) and worker.parser.started
    worker.close()


def test_410_retires_a_feed_and_tells_the_operator_once(
    workers: Workers, workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    feed_server.routes["/gone"] = Route(b"gone", 410)
    write_watchlist(workdir, [feed_server.url("/gone")], alert_email="duty@example.org")
    clock = Clock(NOW)
    worker = make_worker(workers, workdir, clock, smtp_url=smtp_server.url)
    report = worker.poll()
    assert [(f.outcome, f.stopped) for f in report.feeds] == [("http_410", "gone")]
    for hours in range(1, 4):
        clock.now = NOW + timedelta(days=hours)
        assert worker.poll().feeds == ()
    assert feed_server.count("/gone") == 1
    [message] = smtp_server.sink.wait_for(1)
    assert message["Subject"] == f"[feed gone] Test watch: {feed_server.url('/gone')}"
    [status] = worker.store.feeds.statuses()
    assert (status.status, status.last_error_reason) == ("gone", "http_410")
    worker.close()


def test_repeated_failures_pause_a_feed_until_it_works_again(
    workers: Workers, workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    feed_server.routes["/flaky"] = Route(b"oops", 500)
    write_watchlist(workdir, [feed_server.url("/flaky")], alert_email="duty@example.org")
    clock = Clock(NOW)
    worker = make_worker(workers, workdir, clock, smtp_url=smtp_server.url, pause_after=3)
    stopped = []
    for day in range(6):
        clock.now = NOW + timedelta(days=day)
        stopped += [f.stopped for f in worker.poll().feeds]
    assert stopped == [None, None, "paused"]  # then no more polls on schedule
    assert len(smtp_server.sink.wait_for(1)) == 1
    feed_server.routes["/flaky"] = Route(rss(("a", "North Korea", "x")))
    resumed = worker.poll(urls=[feed_server.url("/flaky")])
    assert [f.outcome for f in resumed.feeds] == ["updated"]
    [status] = worker.store.feeds.statuses()
    assert (status.status, status.consecutive_errors) == ("active", 0)
    worker.close()


def test_a_permanent_redirect_moves_the_feed_once_it_repeats(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/old"] = Route(b"", 301, {"Location": "/new"})
    feed_server.routes["/new"] = Route(rss(("a", "North Korea", "x")))
    write_watchlist(workdir, [feed_server.url("/old")])
    worker = make_worker(workers, workdir, Clock(NOW))
    worker.poll()
    assert worker.store.feeds.fetch_urls() == {feed_server.url("/old"): feed_server.url("/old")}
    worker.poll(force=True)  # the same move again: adopted
    assert worker.store.feeds.fetch_urls() == {feed_server.url("/old"): feed_server.url("/new")}
    worker.poll(force=True)
    assert (feed_server.count("/old"), feed_server.count("/new")) == (2, 3)
    [status] = worker.store.feeds.statuses()
    assert status.url == feed_server.url("/old")  # still the watchlist's name for it
    worker.close()


def test_a_redirect_that_does_not_repeat_moves_nothing(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/f"] = Route(b"", 301, {"Location": "/elsewhere"})
    feed_server.routes["/elsewhere"] = Route(rss(("a", "North Korea", "x")))
    write_watchlist(workdir, [feed_server.url("/f")])
    worker = make_worker(workers, workdir, Clock(NOW))
    worker.poll()
    feed_server.routes["/f"] = Route(rss(("a", "North Korea", "x")))  # a one-off
    worker.poll(force=True)
    feed_server.routes["/f"] = Route(b"", 301, {"Location": "/elsewhere"})
    worker.poll(force=True)  # seen once more, but not twice in a row
    assert worker.store.feeds.fetch_urls() == {feed_server.url("/f"): feed_server.url("/f")}
    worker.close()


def test_links_that_are_not_http_are_not_stored() -> None:
    body = rss(("a", "t", "d"))
    body = body.replace(b"https://news.example/a", b"javascript:alert(1)")
    parsed = parse_feed(Fetched("u", "http://example.org/feed", body, "", None, None, "h"))
    assert not isinstance(parsed, FeedFailure)
    [entry] = parsed.entries
    assert entry.url is None


def test_nul_bytes_and_lone_surrogates_never_reach_storage() -> None:
    body = rss(("g\x00uid", "North&#0; Korea", "text &#xD800; here"))
    parsed = parse_feed(Fetched("u", "http://example.org/feed", body, "", None, None, "h"))
    assert not isinstance(parsed, FeedFailure)
    [entry] = parsed.entries
    for value in (entry.key, entry.title, entry.text):
        assert "\x00" not in value
        assert not any("\ud800" <= char <= "\udfff" for char in value)


def test_parsing_falls_back_to_this_process_when_processes_cannot_start(
    workdir: Path, feed_server: FeedServer
) -> None:
    # Spawned processes import the main module first: one that cannot be
    # imported kills each of them while bootstrapping. Polling must go on.
    urls = []
    for number in range(FEEDS):
        feed_server.routes[f"/u{number}"] = Route(rss((f"{number}", "North Korea", "x")))
        urls.append(feed_server.url(f"/u{number}"))
    write_watchlist(workdir, urls)
    script = workdir / "unguarded.py"
    script.write_text(
        "import sys\n"
        "if __name__ != '__main__':\n"
        "    sys.exit('not importable')\n"
        "from pathlib import Path\n"
        "from monitor.app import Worker\n"
        "from tests.conftest import make_settings\n"
        f"worker = Worker(make_settings(Path({str(workdir)!r}), parse_processes=1))\n"
        "report = worker.poll()\n"
        "print(report.summary(), worker.parser.started)\n"
        "worker.close()\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    expected = f"{FEEDS} feeds polled, {FEEDS} new items, "
    assert done.stdout.splitlines()[-1].startswith(expected), done.stderr[-2000:]
    assert done.stdout.splitlines()[-1].endswith("0 failed False"), done.stdout
    assert "parsing in this process" in done.stderr


@pytest.mark.parametrize("reference", [b"&#1114112;", b"&#55296;", b"&#xD800;", b"&#0;"])
def test_a_reference_to_no_character_costs_that_reference_not_the_feed(reference: bytes) -> None:
    body = rss(("a", "North Korea TITLE", "x"), ("b", "Second", "y"))
    body = body.replace(b"TITLE", reference)
    parsed = parse_feed(Fetched("u", "http://example.org/feed", body, "", None, None, "h"))
    assert not isinstance(parsed, FeedFailure), parsed.message
    assert [e.title for e in parsed.entries] == ["North Korea", "Second"]


def test_an_item_back_after_retention_removed_it_is_old_news(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/f"] = Route(rss(("a", "Storm Corps in Kursk", "x")))
    write_watchlist(workdir, [feed_server.url("/f")], alert=True)
    clock = Clock(NOW)
    worker = make_worker(workers, workdir, clock, retention_days=90)
    worker.poll()
    clock.now = NOW + timedelta(days=100)
    # Matches no digest has reported yet are never removed.
    assert worker.prune() == 0
    worker.digest_now(worker.watchlists.by_id["test-watch"])
    assert worker.prune() == 1
    assert worker.store.counts() | {"digests": 0} == {
        "feeds": 1,
        "items": 0,
        "matches": 0,
        "digests": 0,
    }
    feed_server.routes["/f"] = Route(rss(("a", "Storm Corps in Kursk", "x"), ("b", "Kursk", "y")))
    report = worker.poll(force=True)
    assert (report.new_items, report.new_matches) == (1, 1)  # only "b"
    assert [m.item_title for m in worker.store.matches.unreported("test-watch")] == ["Kursk"]
    worker.close()


def _entries(items: bytes) -> list[Entry]:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        + items
        + b"</channel></rss>"
    )
    parsed = parse_feed(Fetched("u", "https://news.example/feed", body, "", None, None, "h"))
    assert not isinstance(parsed, FeedFailure), parsed.message
    return list(parsed.entries)


def test_identity_guid_then_canonical_link_then_content() -> None:
    by_guid, by_link, by_content = _entries(
        b"<item><guid>http://news.example/1</guid><title>One</title></item>"
        b"<item><link>HTTPS://News.Example/2?utm_source=x&amp;id=7#top</link><title>Two</title>"
        b"</item><item><title>Three</title><description>body</description></item>"
    )
    [same_guid_over_https] = _entries(
        b"<item><guid>https://news.example/1</guid><title>One, edited</title></item>"
    )
    assert by_guid.key == same_guid_over_https.key == "guid:news.example/1"
    assert by_link.key == "link:news.example/2?id=7"
    assert by_content.key.startswith("hash:")


def test_two_different_items_sharing_a_guid_are_both_kept() -> None:
    first, second = _entries(
        b"<item><guid>same</guid><title>Storm Corps in Kursk</title></item>"
        b"<item><guid>same</guid><title>Pact ratified</title></item>"
    )
    assert first.key != second.key
    assert {first.title, second.title} == {"Storm Corps in Kursk", "Pact ratified"}


@pytest.mark.parametrize(
    "date",
    [b"", b"<pubDate>not a date</pubDate>", b"<pubDate>Tue, 24 Nov 2199 08:00:00 GMT</pubDate>"],
)
def test_missing_unparseable_and_future_dates_never_crash(date: bytes) -> None:
    [entry] = _entries(b"<item><guid>g</guid><title>t</title>" + date + b"</item>")
    assert entry.published_at is None or entry.published_at.year == 2199


def test_the_parse_pool_keeps_the_files_of_two_matcher_versions() -> None:
    """A long-running service reloads its watchlists many times: the pool
    keeps the file of the matcher in force and of the one before, no more."""
    pool = ParsePool(1, 60.0)
    versions = [Matcher(()) for _ in range(4)]
    paths = [pool._file_of(matcher) for matcher in versions]
    assert len(set(paths)) == 4
    assert pool._file_of(versions[-1]) == paths[-1]  # written once per version
    assert [os.path.exists(path) for path in paths] == [False, False, True, True]
    pool.close()
    assert not any(os.path.exists(path) for path in paths)


class DiesOnDeadly(Matcher):
    """A matcher that ends its process at an entry titled DEADLY, as the
    kernel's OOM killer would end a process that a feed blew up."""

    def __init__(self) -> None:
        super().__init__(())

    def match(self, title: str, text: str) -> list[Match]:
        if "DEADLY" in title:
            os._exit(1)
        return super().match(title, text)


class HangsOnSlow(Matcher):
    """A matcher that never ends at an entry titled SLOW: a parse stuck on
    a hostile feed."""

    def __init__(self) -> None:
        super().__init__(())

    def match(self, title: str, text: str) -> list[Match]:
        if "SLOW" in title:
            time.sleep(3600)
        return super().match(title, text)


class UnsendableAtOdd(Matcher):
    """A matcher whose match for an entry titled ODD cannot be pickled (a
    bug of that kind in a parse process)."""

    def __init__(self) -> None:
        super().__init__(())

    def match(self, title: str, text: str) -> list[Match]:
        if "ODD" not in title:
            return []
        match = Match("w", "r", "entity", (), alert=False)
        object.__setattr__(match, "lock", threading.Lock())  # pickle refuses locks
        return [match]


def _refused_on_arrival() -> None:
    raise TypeError("this object cannot be unpickled here")


class _RefusedOnArrival:
    """Pickles in the parse process, fails to unpickle in the service's."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return _refused_on_arrival, ()


class BreaksThePoolOnce(Matcher):
    """A matcher whose first match for an entry titled POISON cannot be read
    back by the service: pebble then declares the whole pool broken and
    aborts every task in it, as when a process dies before the pool knew
    which task it had taken."""

    def __init__(self, marker: Path) -> None:
        super().__init__(())
        self.marker = str(marker)

    def match(self, title: str, text: str) -> list[Match]:
        if "POISON" not in title or os.path.exists(self.marker):
            return []
        Path(self.marker).touch()
        match = Match("w", "r", "entity", (), alert=False)
        object.__setattr__(match, "poison", _RefusedOnArrival())
        return [match]


def test_a_broken_pool_is_replaced_and_its_tasks_parsed_again(
    workers: Workers, workdir: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    matcher = BreaksThePoolOnce(workdir / "poisoned")
    worker, pool, odd, others = _pooled_cycle_with_one_odd_feed(
        workers, workdir, feed_server, matcher, "POISON"
    )
    try:
        assert (workdir / "poisoned").exists()  # the pool did break
        assert "the parse processes broke down" in caplog.text
        assert odd == ("updated", "") and others == {("updated", "")}
        assert pool.started
    finally:
        pool.close()
        worker.close()


def _pooled_cycle_with_one_odd_feed(
    workers: Workers, workdir: Path, feed_server: FeedServer, matcher: Matcher, odd_title: str
) -> tuple[Worker, ParsePool, tuple[str, str], set[tuple[str, str]]]:
    """A cycle of FEEDS feeds parsed in one process (1 s allowed each), the
    fourth with an entry titled ``odd_title``: the worker, the pool, that
    feed's outcome and message, and those of the others."""
    urls = []
    for number in range(FEEDS):
        title = odd_title if number == 3 else "Kursk"
        feed_server.routes[f"/d{number}"] = Route(rss((f"{number}", title, "x")))
        urls.append(feed_server.url(f"/d{number}"))
    write_watchlist(workdir, urls)
    worker = make_worker(workers, workdir, Clock(NOW), parse_processes=0)
    worker.store.feeds.sync([(url, 900) for url in urls], NOW)
    pool = ParsePool(1, timeout=5.0)
    poller = Poller(worker.store, worker.fetcher, pool, matcher)
    report = poller.cycle(NOW, urls)
    outcomes = {f.url: (f.outcome, f.message) for f in report.feeds}
    odd = outcomes.pop(urls[3])
    return worker, pool, odd, set(outcomes.values())


@pytest.mark.parametrize(
    ("matcher", "title", "reason", "message"),
    [
        (DiesOnDeadly, "DEADLY", "parse_error", "the parse process died on this feed"),
        (HangsOnSlow, "SLOW", "parse_timeout", "parsing this feed took too long"),
        (UnsendableAtOdd, "ODD", "internal_error", ""),
    ],
)
def test_a_parse_that_dies_hangs_or_breaks_fails_its_own_feed_and_no_other(
    workers: Workers,
    workdir: Path,
    feed_server: FeedServer,
    matcher: type[Matcher],
    title: str,
    reason: str,
    message: str,
) -> None:
    worker, pool, odd, others = _pooled_cycle_with_one_odd_feed(
        workers, workdir, feed_server, matcher(), title
    )
    try:
        assert odd[0] == reason and odd[1].startswith(message), odd
        assert others == {("updated", "")}
        # The pool goes on: the next cycle's changed bodies are parsed in it.
        urls = [feed_server.url(f"/d{number}") for number in range(FEEDS)]
        for number in range(FEEDS):
            feed_server.routes[f"/d{number}"] = Route(rss((f"{number}-new", "Kursk", "x")))
        again = Poller(worker.store, worker.fetcher, pool, Matcher(()))
        assert {f.outcome for f in again.cycle(NOW, urls, force=True).feeds} == {"updated"}
        assert pool.started
    finally:
        pool.close()
        worker.close()


@pytest.mark.parametrize("per_host", [1, 2, 3])
def test_a_cycle_keeps_to_a_hosts_limit(
    workers: Workers, workdir: Path, feed_server: FeedServer, per_host: int
) -> None:
    """However many threads fetch, a host gets at most ``per_host`` requests at once."""
    lock = threading.Lock()
    in_flight, most = 0, 0

    def slow(handler: BaseHTTPRequestHandler) -> None:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.1)
        with lock:
            in_flight -= 1
        body = rss((handler.path, "Kursk", "x"))
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    urls = []
    for number in range(12):
        feed_server.routes[f"/h{number}"] = Route(custom=slow)
        urls.append(feed_server.url(f"/h{number}"))
    write_watchlist(workdir, urls)
    worker = make_worker(workers, workdir, Clock(NOW), parse_processes=0)
    worker.store.feeds.sync([(url, 900) for url in urls], NOW)
    fetcher = Fetcher(replace(worker.fetcher.policy, per_host=per_host))
    poller = replace(worker.poller(), fetcher=fetcher, per_host=per_host, workers=8)
    report = poller.cycle(NOW, urls)
    fetcher.close()
    worker.close()
    assert [f.outcome for f in report.feeds] == ["updated"] * 12
    assert most == per_host


def test_a_busy_host_does_not_hold_up_the_feeds_of_another(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    """A feed whose host has all its requests out waits for that host, not
    on a thread: the other host's feeds go first."""
    lock = threading.Lock()
    arrivals: list[str] = []

    def answer(handler: BaseHTTPRequestHandler) -> None:
        with lock:
            arrivals.append(handler.path)
        if handler.path.startswith("/a"):
            time.sleep(0.3)  # the busy host is slow too
        body = rss((handler.path, "Kursk", "x"))
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    port = feed_server.host.rpartition(":")[2]
    busy = [feed_server.url(f"/a{number}") for number in range(12)]
    other = [f"http://localhost:{port}/b{number}" for number in range(4)]
    for url in busy + other:
        feed_server.routes[urlsplit(url).path] = Route(custom=answer)
    write_watchlist(workdir, busy + other)
    worker = make_worker(
        workers, workdir, Clock(NOW), parse_processes=0, allow_hosts="127.0.0.1,localhost"
    )
    worker.store.feeds.sync([(url, 900) for url in busy + other], NOW)
    report = worker.poller().cycle(NOW, busy + other)  # the busy host's feeds first
    worker.close()
    assert [f.outcome for f in report.feeds] == ["updated"] * 16
    # Two of the busy host's feeds were out; all the other host's came next,
    # before the busy host's second round.
    assert {f"/b{number}" for number in range(4)} <= set(arrivals[:6]), arrivals


def test_titles_and_texts_are_capped_when_stored() -> None:
    """A 1 MB title made a 12 MB alert: it is cut at 1,000 characters (and a
    text at 100,000), and still matches."""
    body = rss(("g", "Kursk " + "x" * 1_000_000, "y" * 300_000))
    parsed = parse_feed(Fetched("u", "https://news.example/f", body, "", None, None, "h"))
    assert not isinstance(parsed, FeedFailure)
    [entry] = parsed.entries
    assert len(entry.title) == 1000 and entry.title.endswith("…")
    assert len(entry.text) == 100_000 and entry.title.startswith("Kursk ")


def test_an_item_without_guid_or_link_keeps_its_key_now_that_its_paragraphs_are_kept() -> None:
    from monitor.identity import identity_key

    flattened = identity_key(None, None, "Talks in Moscow", "First paragraph. Second one.")
    with_lines = identity_key(None, None, "Talks in Moscow", "First paragraph.\n\nSecond one.")
    assert flattened == with_lines
    assert flattened != identity_key(None, None, "Talks in Moscow", "First paragraph.")
