"""The HTTP layer on the wire, against a real local server."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import FeedError
from monitor.fetch import Fetcher, FetchPolicy, guard_url, retry_after
from monitor.types import FeedFailure, Fetched, NotModified
from tests.conftest import FeedServer, Route, rss

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture
def fetcher(feed_server: FeedServer) -> Fetcher:
    policy = FetchPolicy(5.0, 1024 * 1024, "monitor-test/1", frozenset({"127.0.0.1"}))
    fetcher = Fetcher(policy)
    yield fetcher
    fetcher.close()


def test_conditional_get_turns_304_into_not_modified(
    feed_server: FeedServer, fetcher: Fetcher
) -> None:
    feed_server.routes["/feed"] = Route(
        rss(("1", "t", "d")),
        etag='"v1"',
        headers={"Last-Modified": "Tue, 24 Nov 2026 08:00:00 GMT"},
    )
    first = fetcher.fetch(feed_server.url("/feed"), NOW)
    assert isinstance(first, Fetched) and first.etag == '"v1"'
    second = fetcher.fetch(feed_server.url("/feed"), NOW, first.etag, first.last_modified)
    assert second == NotModified(feed_server.url("/feed"), "http_304")
    _, headers = feed_server.requests[-1]
    assert headers["If-None-Match"] == '"v1"'
    assert headers["If-Modified-Since"] == "Tue, 24 Nov 2026 08:00:00 GMT"
    assert headers["User-Agent"] == "monitor-test/1"


def test_an_identical_body_is_not_modified(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.routes["/feed"] = Route(rss(("1", "t", "d")))
    first = fetcher.fetch(feed_server.url("/feed"), NOW)
    assert isinstance(first, Fetched)
    again = fetcher.fetch(feed_server.url("/feed"), NOW, known_hash=first.body_hash)
    assert isinstance(again, NotModified) and again.reason == "same_body"


def test_http_errors_are_values_with_retry_after(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.routes["/busy"] = Route(b"slow down", 429, {"Retry-After": "120"})
    outcome = fetcher.fetch(feed_server.url("/busy"), NOW)
    assert isinstance(outcome, FeedFailure)
    assert (outcome.reason, outcome.retry_after) == ("http_429", timedelta(seconds=120))
    assert fetcher.fetch(feed_server.url("/missing"), NOW).reason == "http_404"  # type: ignore[union-attr]


def test_gzip_is_decompressed_and_measured_after(feed_server: FeedServer) -> None:
    body = b"<rss>" + b" " * 200_000 + b"</rss>"
    feed_server.routes["/gz"] = Route(gzip.compress(body), headers={"Content-Encoding": "gzip"})
    small = Fetcher(FetchPolicy(5.0, 100_000, "t", frozenset({"127.0.0.1"})))
    outcome = small.fetch(feed_server.url("/gz"), NOW)
    small.close()
    assert isinstance(outcome, FeedFailure) and outcome.reason == "too_large"


def test_redirects_are_followed_and_loops_cut(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.routes["/old"] = Route(b"", 301, {"Location": "/new"})
    feed_server.routes["/new"] = Route(rss(("1", "t", "d")))
    outcome = fetcher.fetch(feed_server.url("/old"), NOW)
    assert isinstance(outcome, Fetched) and outcome.final_url == feed_server.url("/new")
    feed_server.routes["/loop"] = Route(b"", 302, {"Location": "/loop"})
    loop = fetcher.fetch(feed_server.url("/loop"), NOW)
    assert isinstance(loop, FeedFailure) and loop.reason == "too_many_redirects"
    assert feed_server.count("/loop") == 6


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "blocked_scheme"),
        ("http://127.0.0.1:9/feed", "blocked_address"),
        ("http://localhost:9/feed", "blocked_address"),
        ("http://169.254.169.254/latest/meta-data", "blocked_address"),
        ("http://10.1.2.3/feed", "blocked_address"),
        ("http://[::1]/feed", "blocked_address"),
    ],
)
def test_the_url_guard_blocks_internal_targets(url: str, reason: str) -> None:
    with pytest.raises(FeedError) as caught:
        guard_url(url, frozenset())
    assert caught.value.reason == reason


def test_the_allowlist_lets_a_host_through() -> None:
    guard_url("http://127.0.0.1:8080/feed", frozenset({"127.0.0.1:8080"}))


def test_retry_after_as_an_http_date() -> None:
    assert retry_after("Wed, 25 Nov 2026 08:05:00 GMT", NOW) == timedelta(minutes=5)
    assert retry_after("soon", NOW) is None
