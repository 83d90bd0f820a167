"""`monitor add`: what a URL is (pure), the file edited keeping every other
byte, and the command as a user runs it against a real HTTP server."""

from __future__ import annotations

import codecs
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.discover import Discovery, NewSource, choose, discover, source_key, telegram_source
from monitor.errors import MonitorError
from monitor.sourcefile import with_sources
from monitor.watchlist import load_file
from tests.conftest import ROOT, FeedServer, Route, free_port

DATA = Path(__file__).parent / "data" / "discover"
SEED = ROOT / "watchlists" / "dprk-russia.yaml"
PAGE = "http://news.example/en/index.html"
HTML = "text/html; charset=utf-8"


def run(
    workdir: Path, *args: str, stdin: int | None = subprocess.DEVNULL
) -> subprocess.CompletedProcess[str]:
    """``monitor ARGS`` as a user runs it, on ``workdir``'s watchlists; stdin
    is no terminal unless a test gives one."""
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": f"sqlite:///{workdir / 'monitor.db'}",
        "MONITOR_WATCHLISTS": str(workdir / "watchlists"),
        "MONITOR_ALLOW_HOSTS": "127.0.0.1",
    }
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        cwd=workdir, env=env, stdin=stdin, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


@pytest.fixture
def seed(workdir: Path) -> Path:
    """The seed watchlist, copied: the file the analyst edits."""
    path = workdir / "watchlists" / "dprk-russia.yaml"
    shutil.copyfile(SEED, path)
    return path


BBC = "  - https://feeds.bbci.co.uk/news/world/rss.xml      # BBC World\n"


def seed_with(*added: str) -> str:
    """The seed's exact text with ``added`` lines after its last feed (and nothing else changed)."""
    text = SEED.read_text(encoding="utf-8")
    assert text.count(BBC) == 1
    return text.replace(BBC, BBC + "".join(line + "\n" for line in added))


# --- what a body is ------------------------------------------------------------------


def test_a_page_lists_its_feeds_absolute_in_its_order_each_once() -> None:
    found = discover((DATA / "home.html").read_bytes(), HTML, PAGE)
    assert found.kind == "alternates"
    assert [(f.url, f.title, f.type) for f in found.feeds] == [
        (
            "http://news.example/rss/northkorea.xml",
            "Example Wire: North Korea",
            "application/rss+xml",
        ),
        (
            "https://wire.example/atom/russia",
            "Example Wire: Russia & Ukraine",
            "application/atom+xml",
        ),
    ]  # WordPress's REST API, oEmbed and a language version are no feeds
    assert choose(found) == NewSource(
        "feed", "http://news.example/rss/northkorea.xml", "Example Wire: North Korea"
    )
    assert choose(found, 2).target == "https://wire.example/atom/russia"
    with pytest.raises(MonitorError, match="--pick 3: the page lists 2 feeds"):
        choose(found, 3)


def test_base_href_and_a_json_feed_link() -> None:
    page = (
        b'<html><head><base href="/feeds/"><link rel="Alternate feed" type="application/feed+json"'
        b' href="all.json" title="JSON Feed"></head><body></body></html>'
    )
    found = discover(page, "text/html", PAGE)
    assert [f.url for f in found.feeds] == ["http://news.example/feeds/all.json"]
    assert choose(found).title is None  # a title that only names the format is not kept


@pytest.mark.parametrize(
    ("body", "title"),
    [
        ((DATA / "feed.xml").read_bytes(), "Example Wire: North Korea"),
        (
            b'<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            b'<title type="html">Wire &lt;b&gt;Korea&lt;/b&gt; &amp;amp; co</title></feed>',
            "Wire Korea & co",
        ),
        (
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b"<channel><title><![CDATA[Q&A desk]]></title></channel></rdf:RDF>",
            "Q&A desk",
        ),
        (
            b'{"version": "https://jsonfeed.org/version/1.1", "title": "Seoul desk", "items": []}',
            "Seoul desk",
        ),
        (codecs.BOM_UTF16_LE + "<rss><channel><title>Кремль</title>".encode("utf-16-le"), "Кремль"),
    ],
    ids=["rss", "atom", "rdf", "json-feed", "utf-16"],
)
def test_a_feed_is_sniffed_by_its_first_element(body: bytes, title: str) -> None:
    found = discover(body, "application/xml", "https://wire.example/feed")
    assert (found.kind, found.title) == ("feed", title)
    assert choose(found) == NewSource("feed", "https://wire.example/feed", title)


def test_a_page_without_feeds_gets_a_suggested_selector() -> None:
    found = discover((DATA / "list.html").read_bytes(), HTML, "https://mil.example/en/news")
    assert (found.kind, found.links, found.suggested, found.link_count) == (
        "page", "article h2 a", True, 4,
    )  # fmt: skip
    assert found.samples == (
        "Minister meets NATO chief", "Exercise in the north ends", "Statement on Kursk",
    )  # fmt: skip
    assert choose(found) == NewSource(
        "page", "https://mil.example/en/news", "Ministry of Defence — News", "article h2 a"
    )


def test_a_selector_given_is_counted_and_wins_over_feeds() -> None:
    given = discover((DATA / "home.html").read_bytes(), HTML, PAGE, links="h2 a")
    assert (given.kind, given.links, given.suggested, given.link_count) == (
        "page",
        "h2 a",
        False,
        1,
    )
    nothing = discover((DATA / "list.html").read_bytes(), HTML, PAGE, links="li.story a")
    with pytest.raises(MonitorError, match=r"--links 'li\.story a' matches no link on"):
        choose(nothing)
    with pytest.raises(MonitorError, match="--links: not a CSS selector"):
        discover((DATA / "list.html").read_bytes(), HTML, PAGE, links="a[")


def test_a_page_with_nothing_to_follow_asks_for_links() -> None:
    found = discover((DATA / "landing.html").read_bytes(), HTML, PAGE)
    assert (found.kind, found.links) == ("page", None)
    with pytest.raises(MonitorError, match=r"pass --links SELECTOR"):
        choose(found)


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"", "text/html", "the body is empty"),
        (b'{"data": []}', "application/json", "a JSON document that is no JSON Feed"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png", "binary content (image/png)"),
        (b"just words, no markup", "text/plain", "no HTML markup (text/plain)"),
    ],
)
def test_what_is_neither_feed_nor_page(body: bytes, content_type: str, reason: str) -> None:
    found = discover(body, content_type, PAGE)
    assert found == Discovery("neither", PAGE, reason=reason)
    with pytest.raises(MonitorError, match="is neither a feed nor an HTML page"):
        choose(found)
    with pytest.raises(MonitorError, match="--pick chooses among the feeds a page lists"):
        choose(found, 1)


@pytest.mark.parametrize(
    "text",
    ["@some_channel", "t.me/some_channel", "https://t.me/some_channel", "https://t.me/s/some_channel",
     "http://telegram.me/some_channel/1234", "https://t.me/s/some_channel?before=10"],
)  # fmt: skip
def test_telegram_links_are_channels(text: str) -> None:
    assert telegram_source(text) == NewSource("telegram", "some_channel")


@pytest.mark.parametrize(
    "text", ["@ab", "https://t.me/joinchat/AAAA", "https://t.me/+AbCd", "t.me/"]
)
def test_telegram_links_that_are_no_public_channel(text: str) -> None:
    with pytest.raises(MonitorError, match="is not a public Telegram channel"):
        telegram_source(text)


def test_other_urls_are_no_telegram_and_sources_compare_loosely() -> None:
    assert telegram_source("https://example.com/t.me/x") is None
    assert source_key("feed", "https://Example.com:443/feed/") == source_key(
        "feed", "http://example.com/feed#top"
    )
    assert source_key("feed", "https://example.com/feed?a=1") != source_key(
        "feed", "https://example.com/feed?a=2"
    )
    assert source_key("telegram", "Some_Channel") == source_key("telegram", "some_channel")


# --- the edit keeps the file -----------------------------------------------------------


def test_the_seed_is_kept_byte_for_byte_around_the_added_entries() -> None:
    sources = [
        NewSource("feed", "https://wire.example/rss?a=1&b=2", "Wire: Korea # desk"),
        NewSource("telegram", "some_channel"),
        NewSource("page", "https://mil.example/en/news", None, "article h2 a"),
    ]
    assert with_sources(SEED.read_text(encoding="utf-8"), sources) == seed_with(
        "  - url: https://wire.example/rss?a=1&b=2",
        "    title: 'Wire: Korea # desk'",
        "  - telegram: some_channel",
        "  - page: https://mil.example/en/news",
        "    links: article h2 a",
    )


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (  # the list's own indentation, not another list's
            "title: T\nfeeds:\n- https://a.example/rss\n-   url: https://b.example/rss\n"
            "entities:\n  x:\n    aliases:\n      - X\n    exclude: [a,b]   # tight\n",
            "title: T\nfeeds:\n- https://a.example/rss\n-   url: https://b.example/rss\n"
            "- telegram: some_channel\n"
            "entities:\n  x:\n    aliases:\n      - X\n    exclude: [a,b]   # tight\n",
        ),
        (
            "title: T\nfeeds: []   # none yet\nx-note: 1\n",
            "title: T\nfeeds:    # none yet\n  - telegram: some_channel\nx-note: 1\n",
        ),
        ("title: T\nfeeds:\n  []\n", "title: T\nfeeds:\n  - telegram: some_channel\n"),
        (
            "title: T\nfeeds: [https://a.example/rss]  # flow\n",
            "title: T\nfeeds: [https://a.example/rss, {telegram: some_channel}]  # flow\n",
        ),
        (
            "title: T  # no feeds yet",
            "title: T  # no feeds yet\nfeeds:\n  - telegram: some_channel\n",
        ),
    ],
    ids=["mixed-indentation", "empty-flow", "empty-flow-own-line", "flow", "no-feeds-key"],
)
def test_the_list_is_extended_as_it_is_written(before: str, after: str) -> None:
    assert with_sources(before, [NewSource("telegram", "some_channel")]) == after


def test_feeds_written_elsewhere_by_an_alias_are_not_edited() -> None:
    text = "x-feeds: &f [https://a.example/rss]\ntitle: T\nfeeds: *f\n"
    with pytest.raises(MonitorError, match="feeds: is an alias"):
        with_sources(text, [NewSource("telegram", "some_channel")])


# --- the command --------------------------------------------------------------------------


def test_add_takes_the_first_feed_a_page_lists(
    feed_server: FeedServer, workdir: Path, seed: Path
) -> None:
    feed_server.routes["/"] = Route(
        (DATA / "home.html").read_bytes(), headers={"Content-Type": HTML}
    )
    added = run(workdir, "add", "dprk-russia", feed_server.url("/"), "--yes")
    assert added.returncode == 0, added.stderr
    feed = feed_server.url("/rss/northkorea.xml")
    assert added.stdout == (
        f"{feed_server.url('/')} lists 2 feeds:\n"
        f"  1. Example Wire: North Korea  {feed}\n"
        "  2. Example Wire: Russia & Ukraine  https://wire.example/atom/russia\n"
        "the first is taken; --pick N takes another\n"
        f"added to {seed}: url: {feed}, title: Example Wire: North Korea\n"
    )
    assert added.stderr == ""
    assert seed.read_text(encoding="utf-8") == seed_with(
        f"  - url: {feed}", "    title: 'Example Wire: North Korea'"
    )
    assert load_file(seed).feeds[-1].title == "Example Wire: North Korea"

    picked = run(workdir, "add", str(seed), feed_server.url("/"), "--pick", "2", "-y")
    assert picked.returncode == 0, picked.stderr
    assert seed.read_text(encoding="utf-8") == seed_with(
        f"  - url: {feed}",
        "    title: 'Example Wire: North Korea'",
        "  - url: https://wire.example/atom/russia",
        "    title: 'Example Wire: Russia & Ukraine'",
    )


def test_add_a_feed_itself_and_then_again(
    feed_server: FeedServer, workdir: Path, seed: Path
) -> None:
    feed_server.routes["/feed.xml"] = Route((DATA / "feed.xml").read_bytes())
    url = feed_server.url("/feed.xml")
    added = run(workdir, "add", "dprk-russia", url, "--yes")
    assert added.returncode == 0, added.stderr
    assert added.stdout == f"added to {seed}: url: {url}, title: Example Wire: North Korea\n"
    expected = seed_with(f"  - url: {url}", "    title: 'Example Wire: North Korea'")
    assert seed.read_text(encoding="utf-8") == expected

    again = run(workdir, "add", "dprk-russia", url.replace("/feed.xml", "/feed.xml/"), "--yes")
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"already in {seed}: url: {url}; nothing changed\n"
    assert feed_server.count("/feed.xml") == 1  # known: not fetched again
    assert seed.read_text(encoding="utf-8") == expected


def test_a_feed_that_moved_for_good_is_added_at_its_new_url(
    feed_server: FeedServer, workdir: Path, seed: Path
) -> None:
    feed_server.routes["/feed.xml"] = Route((DATA / "feed.xml").read_bytes())
    feed_server.routes["/old"] = Route(status=301, headers={"Location": "/feed.xml"})
    url = feed_server.url("/feed.xml")
    added = run(workdir, "add", "dprk-russia", feed_server.url("/old"), "--yes")
    assert added.stdout == f"added to {seed}: url: {url}, title: Example Wire: North Korea\n"
    links = run(workdir, "add", "dprk-russia", feed_server.url("/old"), "--links", "a", "--yes")
    assert (links.returncode, links.stderr) == (
        1,
        f"error: {url} is a feed: --links is for web pages\n",
    )


def test_add_a_page_with_the_suggested_or_the_given_selector(
    feed_server: FeedServer, workdir: Path, seed: Path
) -> None:
    feed_server.routes["/en/news"] = Route(
        (DATA / "list.html").read_bytes(), headers={"Content-Type": HTML}
    )
    url = feed_server.url("/en/news")
    added = run(workdir, "add", "dprk-russia", url, "--yes")
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines() == [
        f"{url} lists no feed; as a page, its article links: 'article h2 a' picks 4 links, such as "
        "'Minister meets NATO chief', 'Exercise in the north ends', 'Statement on Kursk'",
        "that selector is a suggestion: check it, or give your own with --links",
        f"added to {seed}: page: {url}, links: article h2 a, title: Ministry of Defence — News",
    ]
    expected = seed_with(
        f"  - page: {url}", "    links: article h2 a", "    title: Ministry of Defence — News"
    )
    assert seed.read_text(encoding="utf-8") == expected

    feed_server.routes["/other"] = Route(
        (DATA / "landing.html").read_bytes(), headers={"Content-Type": HTML}
    )
    given = run(
        workdir, "add", "dprk-russia", feed_server.url("/other"), "--links", "p > a", "--yes"
    )
    assert given.returncode == 0, given.stderr
    assert (
        given.stdout.splitlines()[0]
        == f"{feed_server.url('/other')}: 'p > a' picks 1 links, such as 'Contact us'"
    )
    assert seed.read_text(encoding="utf-8") == expected.replace(
        "    title: Ministry of Defence — News\n",
        "    title: Ministry of Defence — News\n"
        f"  - page: {feed_server.url('/other')}\n    links: p > a\n    title: Coming soon\n",
    )


def test_add_a_telegram_channel_without_fetching(workdir: Path, seed: Path) -> None:
    added = run(workdir, "add", "dprk-russia", "https://t.me/s/Some_Channel", "--yes")
    assert (added.returncode, added.stdout, added.stderr) == (
        0, f"added to {seed}: telegram: Some_Channel\n", "",
    )  # fmt: skip
    assert seed.read_text(encoding="utf-8") == seed_with("  - telegram: Some_Channel")
    again = run(workdir, "add", "dprk-russia", "@some_channel")
    assert (again.returncode, again.stdout) == (
        0, f"already in {seed}: telegram: Some_Channel; nothing changed\n",
    )  # fmt: skip


def test_without_a_terminal_it_asks_for_yes(
    feed_server: FeedServer, workdir: Path, seed: Path
) -> None:
    refused = run(workdir, "add", "dprk-russia", "@some_channel")
    assert refused.returncode == 1
    assert refused.stderr == (
        "error: not added (telegram: some_channel): stdin is not a terminal to ask on; "
        "--yes adds without asking\n"
    )
    assert seed.read_bytes() == SEED.read_bytes()


@pytest.mark.parametrize(("answer", "code"), [(b"y\n", 0), (b"n\n", 1)])
def test_on_a_terminal_it_asks(workdir: Path, seed: Path, answer: bytes, code: int) -> None:
    controller, terminal = pty.openpty()
    env = {**os.environ, "MONITOR_WATCHLISTS": str(workdir / "watchlists")}
    with subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "add", "dprk-russia", "@some_channel"],
        cwd=workdir, env=env, stdin=terminal, stdout=terminal, stderr=terminal,
    ) as process:  # fmt: skip
        os.close(terminal)
        shown = _read_until(controller, b"]: ")
        os.write(controller, answer)
        shown += _read_until(controller, b"")
        process.wait(30)
    os.close(controller)
    screen = shown.decode("utf-8", "replace").replace("\r\n", "\n")
    assert f"add to {seed}: telegram: some_channel? [Y/n]: " in screen
    assert process.returncode == code
    if code == 0:
        assert f"added to {seed}: telegram: some_channel\n" in screen
        assert seed.read_text(encoding="utf-8") == seed_with("  - telegram: some_channel")
    else:
        assert "nothing written" in screen
        assert seed.read_bytes() == SEED.read_bytes()


def _read_until(fd: int, end: bytes) -> bytes:
    """What the terminal shows, until ``end`` shows (or, for b"", until it closes)."""
    shown = b""
    while not (end and end in shown):
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other end closed
            break
        if not chunk:
            break
        shown += chunk
    return shown


@pytest.mark.parametrize(
    ("path", "route", "message"),
    [
        ("/gone", Route(b"gone", 404), "cannot fetch {url}: HTTP 404 Not Found"),
        ("/logo.png", Route(b"\x89PNG\r\n\x1a\n\x00", headers={"Content-Type": "image/png"}),
         "{url} is neither a feed nor an HTML page: binary content (image/png)"),
        ("/landing", Route((DATA / "landing.html").read_bytes(), headers={"Content-Type": HTML}),
         "{url} lists no feed, and no selector of its article links stands out: pass --links "
         "SELECTOR (a CSS selector, such as 'article h2 a') to follow it as a page"),
    ],
    ids=["http-404", "not-html", "nothing-to-follow"],
)  # fmt: skip
def test_what_cannot_be_added_is_one_line(
    feed_server: FeedServer, workdir: Path, seed: Path, path: str, route: Route, message: str
) -> None:
    feed_server.routes[path] = route
    url = feed_server.url(path)
    failed = run(workdir, "add", "dprk-russia", url, "--yes")
    assert (failed.returncode, failed.stdout) == (1, "")
    assert failed.stderr == f"error: {message.format(url=url)}\n"
    assert seed.read_bytes() == SEED.read_bytes()


def test_unreachable_missing_and_broken_files(workdir: Path, seed: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/feed"
    unreachable = run(workdir, "add", "dprk-russia", url, "--yes")
    assert unreachable.returncode == 1 and unreachable.stdout == ""
    assert unreachable.stderr.startswith(f"error: cannot fetch {url}: cannot connect: ")
    assert unreachable.stderr.count("\n") == 1 and "Traceback" not in unreachable.stderr

    missing = run(workdir, "add", "nope", "@some_channel", "--yes")
    assert (missing.returncode, missing.stderr) == (
        1, f"error: no watchlist 'nope' (looked for {workdir / 'watchlists' / 'nope.yaml'})\n",
    )  # fmt: skip

    broken = workdir / "watchlists" / "broken.yaml"
    broken.write_text("title: Broken\nfeeds:\n  - ftp://old.example/feed\n", encoding="utf-8")
    refused = run(workdir, "add", "broken", "@some_channel", "--yes")
    assert (refused.returncode, refused.stderr) == (
        1, f"{broken}:3:5: feeds.0.url: a feed or page URL must start with http:// or https://\n",
    )  # fmt: skip
    assert (
        broken.read_text(encoding="utf-8") == "title: Broken\nfeeds:\n  - ftp://old.example/feed\n"
    )


def test_line_endings_and_permissions_are_kept(workdir: Path) -> None:
    path = workdir / "watchlists" / "crlf.yaml"
    path.write_bytes(b"title: CRLF\r\nfeeds:\r\n  - https://a.example/rss\r\n")
    path.chmod(0o640)
    added = run(workdir, "add", "crlf", "@some_channel", "--yes")
    assert added.returncode == 0, added.stderr
    assert path.read_bytes() == (
        b"title: CRLF\r\nfeeds:\r\n  - https://a.example/rss\r\n  - telegram: some_channel\r\n"
    )
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["crlf.yaml"]  # no temporary file left
