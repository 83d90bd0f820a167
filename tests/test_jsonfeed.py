"""JSON Feed 1 and 1.1, read like RSS and Atom (monitor.jsonfeed, monitor.parse)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.parse import parse_feed
from monitor.types import FeedFailure, Fetched, ParsedFeed
from tests.conftest import FeedServer, Route, Workers, make_settings, write_watchlist
from tests.test_pipeline import DATA, Clock

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)


def parse(body: bytes, url: str = "https://seoul.example/feed.json") -> ParsedFeed | FeedFailure:
    return parse_feed(Fetched(url, url, body, "application/feed+json", None, None, ""), "seoul")


def test_a_json_feed_gives_entries_as_rss_would() -> None:
    parsed = parse((DATA / "seoul-desk.json").read_bytes())
    assert isinstance(parsed, ParsedFeed)
    assert parsed.title == "Seoul Desk — North Korea"
    first, second, photo, odd = parsed.entries  # "not an item" skipped
    assert first.title == "NIS: Storm Corps units rotate out of Kursk"
    assert first.text.startswith("SEOUL, Nov. 24 – South Korea’s spy agency")  # HTML made text
    assert "11th Corps" in first.text
    assert first.published_at == datetime(2026, 11, 24, 0, 30, tzinfo=UTC)
    assert second.url == "https://seoul.example/2026/11/24/pact-anniversary"  # resolved
    assert second.published_at == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    assert "June 2024" in second.text
    assert (photo.title, photo.published_at) == ("", None)  # an image, a date that is none
    assert (odd.title, odd.url, odd.text) == ("", None, "")  # wrong types left out
    assert len({e.key for e in parsed.entries}) == 4


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"version": "https://jsonfeed.org/version/1", "items": [', "not valid JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"title": "x", "items": []}', "without a JSON Feed version"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "list of items"),
        (b"{" + b'"a":[' * 100_000, "not valid JSON"),  # nested past any recursion limit
    ],
)
def test_json_that_is_not_a_json_feed_is_a_readable_failure(body: bytes, says: str) -> None:
    failed = parse(body)
    assert isinstance(failed, FeedFailure) and failed.reason == "not_a_feed"
    assert says in failed.message


def test_version_one_with_a_bom_and_numbers_for_ids() -> None:
    document = {
        "version": "https://jsonfeed.org/version/1",
        "title": "Wire",
        "items": [{"id": 7, "title": "Kursk", "url": "https://w.example/7"}, {"id": 7.0}],
    }
    parsed = parse(b"\xef\xbb\xbf" + json.dumps(document).encode())
    assert isinstance(parsed, ParsedFeed) and [e.title for e in parsed.entries] == ["Kursk", ""]


def test_a_json_feed_goes_the_whole_poll_path(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/feed.json"] = Route(
        (DATA / "seoul-desk.json").read_bytes(), headers={"Content-Type": "application/feed+json"}
    )
    write_watchlist(workdir, [feed_server.url("/feed.json")])
    clock = Clock(NOW - timedelta(hours=1))
    worker = workers(make_settings(workdir), clock=clock, raise_errors=True)
    report = worker.poll()
    assert (report.new_items, report.failures) == (4, ())
    rules = sorted(m.rule for m in worker.store.matches.unreported("test-watch"))
    assert rules == ["dprk", "kursk", "pact", "storm-corps"]  # the first names no North Korea
    clock.now = NOW
    worker.digest_now(worker.watchlists.by_id["test-watch"])
    page = (workdir / "digests" / "test-watch" / "20261125T050000Z.html").read_text()
    assert "NIS: Storm Corps units rotate out of Kursk" in page
