"""Every kind of source through the real poll path: a Telegram channel's
preview, a page without a feed, and a feed whose articles are read in full,
each served by a real HTTP server, polled by a Worker, stored, matched."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from sqlmodel import select

from monitor.store.tables import ItemRow
from tests.conftest import FeedServer, Route, Workers, make_settings, write_watchlist

DATA = Path(__file__).parent / "data"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
HTML = {"Content-Type": "text/html; charset=utf-8"}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def items(worker: object) -> list[ItemRow]:
    with worker.store.session() as session:  # type: ignore[attr-defined]
        return list(session.exec(select(ItemRow).order_by(ItemRow.id)))


def rules_of(worker: object, title_start: str) -> set[str]:
    matches = worker.store.matches.unreported("test-watch")  # type: ignore[attr-defined]
    return {m.rule for m in matches if m.item_title.startswith(title_start)}


# --- Telegram ------------------------------------------------------------------------


def telegram_routes(feed_server: FeedServer) -> None:
    newest = (DATA / "telegram" / "kursk_watch.html").read_bytes()
    older = (DATA / "telegram" / "kursk_watch_before_2041.html").read_bytes()
    feed_server.routes["/s/kursk_watch"] = Route(newest, headers=HTML)
    feed_server.routes["/s/kursk_watch?before=2041"] = Route(older, headers=HTML)


def test_a_channel_is_read_with_its_older_pages_once_and_edits_update_its_posts(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    telegram_routes(feed_server)
    write_watchlist(workdir, ["telegram: kursk_watch"])
    clock = Clock(NOW)
    settings = make_settings(workdir, telegram_url=feed_server.url("/s/"))
    worker = workers(settings, clock, raise_errors=True)

    first = worker.poll()

    assert [(f.url, f.outcome) for f in first.feeds] == [("https://t.me/s/kursk_watch", "updated")]
    stored = items(worker)
    links = [item.url for item in stored]
    assert "https://t.me/kursk_watch/2052" in links  # the newest page
    assert "https://t.me/kursk_watch/2039" in links  # the page before it
    assert all(link and link.startswith("https://t.me/kursk_watch/") for link in links)
    assert len(links) == len(set(links)) == first.new_items
    forwarded = [item for item in stored if item.url == "https://t.me/kursk_watch/2044"]
    assert [item.note for item in forwarded] == ["Forwarded from Frontline Notes UA"]
    # The page before 2041 points at 2035, which is not served: paging stops there.
    assert feed_server.count("/s/kursk_watch?before=2041") == 1
    assert feed_server.count("/s/kursk_watch?before=2035") == 1

    # The channel's author edits a post to name the Storm Corps.
    edited = (
        (DATA / "telegram" / "kursk_watch.html")
        .read_bytes()
        .replace(
            "Північнокорейські військові помічені біля Суджі.".encode(),
            "Північнокорейські військові помічені біля Суджі. Storm Corps.".encode(),
        )
    )
    assert edited != (DATA / "telegram" / "kursk_watch.html").read_bytes()
    feed_server.routes["/s/kursk_watch"] = Route(edited, headers=HTML)
    clock.now = NOW + timedelta(hours=1)
    second = worker.poll(force=True)

    assert (second.new_items, second.new_matches) == (0, 1)
    post = [item for item in items(worker) if item.url == "https://t.me/kursk_watch/2042"]
    assert ["Суджі. Storm Corps.\n" in item.text for item in post] == [True]
    assert "storm-corps" in rules_of(worker, "Північнокорейські військові помічені біля Суджі")
    # Paging back is for the first read only.
    assert feed_server.count("/s/kursk_watch?before=2041") == 1


def test_a_channel_without_a_public_preview_is_a_recorded_readable_error(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    disabled = (DATA / "telegram" / "preview_disabled.html").read_bytes()
    feed_server.routes["/s/closed_channel"] = Route(disabled, headers=HTML)
    write_watchlist(workdir, ["telegram: closed_channel"])
    worker = workers(make_settings(workdir, telegram_url=feed_server.url("/s/")), Clock(NOW))

    report = worker.poll()

    [feed] = report.feeds
    assert feed.outcome == "telegram_unavailable"
    assert "preview is disabled or the channel does not exist" in feed.message
    statuses = worker.store.feeds.statuses()
    assert [(s.url, s.last_error_reason) for s in statuses] == [
        ("https://t.me/s/closed_channel", "telegram_unavailable")
    ]


# --- pages without feeds ---------------------------------------------------------------


def test_a_pages_new_links_become_items_and_an_unchanged_page_is_not_read_again(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    page = (DATA / "pages" / "mod-news-en.html").read_bytes()
    feed_server.routes["/en/news/"] = Route(page, headers=HTML, etag='"p1"')
    write_watchlist(workdir, [f"page: {feed_server.url('/en/news/')}\n    links: 'article h2 a'"])
    clock = Clock(NOW)
    worker = workers(make_settings(workdir), clock, raise_errors=True)

    first = worker.poll()

    assert [(f.outcome, f.new_items) for f in first.feeds] == [("updated", 5)]
    titles = [item.title for item in items(worker)]
    assert titles[0] == "Statement on North Korean troops deployed to the Kursk region"
    assert items(worker)[0].url == feed_server.url(
        "/en/news/2024/11/05/north-korean-troops-kursk.html"
    )
    assert rules_of(worker, "Statement on North Korean troops") == {"dprk", "kursk"}

    clock.now = NOW + timedelta(hours=1)
    assert [f.outcome for f in worker.poll(force=True).feeds] == ["http_304"]

    # A new statement is published at the top of the list.
    newer = page.replace(
        b"<article",
        b'<article><h2><a href="2024/11/06/pact.html">DPRK and Russia invoke their treaty'
        b"</a></h2></article><article",
        1,
    )
    feed_server.routes["/en/news/"] = Route(newer, headers=HTML, etag='"p2"')
    third = worker.poll(force=True)
    assert (third.new_items, [i.title for i in items(worker)][-1]) == (
        1,
        "DPRK and Russia invoke their treaty",
    )


def test_a_page_whose_selector_finds_nothing_says_so(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    page = (DATA / "pages" / "mod-news-en.html").read_bytes()
    feed_server.routes["/en/news/"] = Route(page, headers=HTML)
    write_watchlist(workdir, [f"page: {feed_server.url('/en/news/')}\n    links: 'li.story a'"])
    worker = workers(make_settings(workdir), Clock(NOW))

    [feed] = worker.poll().feeds

    assert (feed.outcome, feed.message) == (
        "no_links",
        "the selector 'li.story a' matched no links on this page",
    )


# --- full text -----------------------------------------------------------------------------


def article_page(body: str, boilerplate: str = "") -> bytes:
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Wire</title></head><body>"
        f"<nav><ul><li><a href='/'>Home</a></li><li><a href='/t'>{boilerplate}</a></li></ul></nav>"
        f"<main><article><h1>Report</h1>{paragraphs}</article></main>"
        f"<aside><h3>Trending</h3><ul><li><a href='/x'>{boilerplate} latest</a></li></ul></aside>"
        "<footer>© Wire example. All rights reserved.</footer></body></html>"
    ).encode()


BODY = (
    "Officials said on Monday that a column of trucks had crossed the border at night, "
    "and that the units were being moved to positions in the south.\n\n"
    "According to the officials, the men belong to the Storm Corps, which arrived "
    "in October and has since been trained by Russian instructors.\n\n"
    "The ministry did not say how many soldiers were involved, and it gave no "
    "figure for losses over the past week of fighting."
)


def teaser_feed(server: FeedServer, *guids: str) -> bytes:
    entries = "".join(
        f"<item><guid>{g}</guid><title>Trucks cross the border at night ({g})</title>"
        f"<link>{server.url('/articles/' + g)}</link>"
        "<description>Officials describe a night-time movement of units.</description>"
        f"<pubDate>Tue, 24 Nov 2026 08:30:00 GMT</pubDate></item>"
        for g in guids
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>https://wire.example/</link><description>x</description>{entries}</channel></rss>"
    ).encode()


def test_an_items_article_is_read_once_matched_and_stored_and_its_boilerplate_is_not(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/wire.xml"] = Route(teaser_feed(feed_server, "a1", "a2"), etag='"w1"')
    # a1 names the Storm Corps in its article; a2 only in its menus and trending box.
    feed_server.routes["/articles/a1"] = Route(article_page(BODY, "Kursk"), headers=HTML)
    quiet = BODY.replace("the Storm Corps", "a new formation")
    feed_server.routes["/articles/a2"] = Route(article_page(quiet, "Storm Corps"), headers=HTML)
    write_watchlist(workdir, [f"url: {feed_server.url('/wire.xml')}\n    full_text: true"])
    clock = Clock(NOW)
    worker = workers(make_settings(workdir), clock, raise_errors=True)

    report = worker.poll()

    assert (report.new_items, report.new_matches) == (2, 1)
    assert rules_of(worker, "Trucks cross the border at night (a1)") == {"storm-corps"}
    assert rules_of(worker, "Trucks cross the border at night (a2)") == set()
    stored = {item.title[-3:-1]: item for item in items(worker)}
    assert stored["a1"].text.startswith("Officials describe a night-time movement of units.\n\n")
    assert "belong to the Storm Corps" in stored["a1"].text
    assert "Trending" not in stored["a2"].text and "Storm Corps" not in stored["a2"].text
    assert {item.article_state for item in stored.values()} == {"done"}

    # Re-polls, changed or not, never read an article again.
    clock.now = NOW + timedelta(hours=1)
    worker.poll(force=True)
    feed_server.routes["/wire.xml"] = Route(teaser_feed(feed_server, "a1", "a2", "a3"))
    feed_server.routes["/articles/a3"] = Route(article_page(BODY), headers=HTML)
    worker.poll(force=True)
    assert [feed_server.count(f"/articles/{g}") for g in ("a1", "a2", "a3")] == [1, 1, 1]


def test_an_article_that_fails_is_recorded_retried_once_and_never_fails_its_feed(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/wire.xml"] = Route(teaser_feed(feed_server, "b1"), etag='"w1"')
    feed_server.routes["/articles/b1"] = Route(b"upstream down", status=503)
    write_watchlist(workdir, [f"url: {feed_server.url('/wire.xml')}\n    full_text: true"])
    clock = Clock(NOW)
    worker = workers(make_settings(workdir), clock, raise_errors=True)

    assert [f.outcome for f in worker.poll().feeds] == ["updated"]
    [item] = items(worker)
    assert (item.article_state, item.article_tries) == ("failed", 1)
    assert "503" in (item.article_error or "")

    clock.now = NOW + timedelta(minutes=20)
    assert [f.outcome for f in worker.poll(force=True).feeds] == ["http_304"]
    clock.now = NOW + timedelta(minutes=40)
    worker.poll(force=True)

    assert feed_server.count("/articles/b1") == 2  # the read and its one retry
    [item] = items(worker)
    assert (item.article_state, item.article_tries) == ("failed", 2)


def test_article_reads_hold_to_two_requests_at_once_per_host(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    guids = [f"c{n}" for n in range(8)]
    lock, state = threading.Lock(), {"now": 0, "most": 0}
    page = article_page(BODY)

    def slow_article(request: BaseHTTPRequestHandler) -> None:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.15)
        with lock:
            state["now"] -= 1
        request.send_response(200)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(page)))
        request.end_headers()
        request.wfile.write(page)

    feed_server.routes["/wire.xml"] = Route(teaser_feed(feed_server, *guids))
    for guid in guids:
        feed_server.routes[f"/articles/{guid}"] = Route(custom=slow_article)
    write_watchlist(workdir, [f"url: {feed_server.url('/wire.xml')}\n    full_text: true"])
    worker = workers(make_settings(workdir, fetch_workers=8), Clock(NOW), raise_errors=True)

    worker.poll()

    assert [feed_server.count(f"/articles/{g}") for g in guids] == [1] * 8
    assert state["most"] == 2


# --- health by kind, as the analyst reads it ---------------------------------------------


def test_status_shows_each_source_by_kind_with_its_error_and_its_articles(
    workdir: Path, feed_server: FeedServer
) -> None:
    from tests.test_cli import monitor

    telegram_routes(feed_server)
    disabled = (DATA / "telegram" / "preview_disabled.html").read_bytes()
    feed_server.routes["/s/closed_channel"] = Route(disabled, headers=HTML)
    feed_server.routes["/en/news/"] = Route(
        (DATA / "pages" / "mod-news-en.html").read_bytes(), headers=HTML
    )
    feed_server.routes["/wire.xml"] = Route(teaser_feed(feed_server, "d1", "d2"))
    feed_server.routes["/articles/d1"] = Route(article_page(BODY), headers=HTML)
    feed_server.routes["/articles/d2"] = Route(b"gone", status=404)
    write_watchlist(
        workdir,
        [
            f"url: {feed_server.url('/wire.xml')}\n    full_text: true",
            "telegram: kursk_watch",
            "telegram: closed_channel",
            f"page: {feed_server.url('/en/news/')}\n    links: 'article h2 a'",
        ],
    )
    settings = {"telegram_url": feed_server.url("/s/")}
    assert monitor(workdir, "poll", **settings).returncode == 0

    lines = monitor(workdir, "status", **settings).stdout.splitlines()

    headings = [line for line in lines if line.endswith(":") and not line.startswith(" ")]
    assert headings[:3] == ["Feeds:", "Telegram channels:", "Pages:"]
    wire = lines.index(f"  {feed_server.url('/wire.xml')} (full text)")
    assert lines[wire + 2] == "      articles: 1 read, 1 failed"
    closed = lines.index("  https://t.me/s/closed_channel")
    assert "FAILING x1 (telegram_unavailable)" in lines[closed + 1]
    assert "preview is disabled or the channel does not exist" in lines[closed + 2]


def test_tune_scores_a_watchlist_on_labelled_items(workdir: Path) -> None:
    from tests.test_cli import monitor

    write_watchlist(workdir, [])
    labels = workdir / "labels.yaml"
    labels.write_text(
        "- id: one\n  title: North Korean troops near Kursk\n  expect: [dprk, kursk]\n"
        "- id: two\n  title: The Kursk submarine, 25 years on\n  expect: []\n"
        "- id: three\n  title: Pyongyang and Moscow sign a pact\n  expect: [dprk, pact]\n",
        encoding="utf-8",
    )

    done = monitor(workdir, "tune", "test-watch", "--labels", str(labels))

    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[1:6]}
    assert rows["dprk"] == ["2", "1.000", "1.000", "1.000"]
    assert rows["kursk"] == ["1", "1.000", "1.000", "1.000"]
    labels.write_text("- id: one\n  title: x\n  expect: [no-such-rule]\n", encoding="utf-8")
    refused = monitor(workdir, "tune", "test-watch", "--labels", str(labels))
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: {labels}:3:")
    assert "Traceback" not in refused.stderr
