"""The digest archive's index: each page's head read back (counts, top
headline, time), listed newest first in the watchlist's zone, from real
files of which only a bounded prefix is read."""

from __future__ import annotations

import html
import os
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape

from monitor.archive import HEAD_BYTES, DigestSummary, page_summary
from monitor.channels.files import Archive, read_head
from monitor.digest import Renderer
from monitor.watchlist import Watchlist, parse_watchlist
from tests.browser import Chromium, chromium_binary
from tests.conftest import ROOT, FeedServer, Route, Workers, make_settings, write_watchlist
from tests.test_pipeline import DATA, Clock

WATCHLIST = "title: Test watch\nentities:\n  a:\n    aliases: [x]\n"
HOSTILE = """<script>alert("x")</script> "Kim's" <b>ally</b> & co"""


def page(
    scheduled_for: str | None = "2026-12-05T07:00:00+00:00",
    matches: str = "35",
    stories: str = "12",
    top: str = "Storm Corps moves east",
    body: str = "<p>The digest.</p>",
) -> str:
    """A digest page's start as digest.html.j2 writes it (values escaped as
    Jinja escapes them); None for a page from before the meta."""
    meta = (
        f'<meta name="monitor:scheduled-for" content="{scheduled_for}">\n'
        f'<meta name="monitor:matches" content="{matches}">\n'
        f'<meta name="monitor:stories" content="{stories}">\n'
        f'<meta name="monitor:top" content="{html.escape(top)}">\n'
        if scheduled_for is not None
        else ""
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"{meta}<title>Test watch — digest</title>\n<style>body {{ margin: 0; }}</style>\n"
        f"</head>\n<body>{body}</body>\n</html>\n"
    )


def summary(file_name: str, text: str) -> DigestSummary:
    return page_summary(file_name, text.encode())


# --- the summary of one page (pure) -------------------------------------------


def test_a_page_with_meta_gives_its_time_counts_and_top_headline() -> None:
    got = summary("20261205T070000Z.html", page())
    assert got == DigestSummary(
        "20261205T070000Z.html",
        datetime(2026, 12, 5, 7, 0, tzinfo=UTC),
        35,
        12,
        "Storm Corps moves east",
    )
    local = got.local("Europe/Warsaw")
    assert local is not None and local.strftime("%a %d %H:%M %Z") == "Sat 05 08:00 CET"


def test_the_time_in_the_meta_is_read_in_utc_whatever_its_offset() -> None:
    got = summary("renamed.html", page(scheduled_for="2026-12-05T16:00:00+09:00"))
    assert got.scheduled_for == datetime(2026, 12, 5, 7, 0, tzinfo=UTC)


def test_a_page_from_before_the_meta_is_dated_by_its_file_name() -> None:
    got = summary("20241125T050000Z.html", page(scheduled_for=None))
    assert got == DigestSummary(
        "20241125T050000Z.html", datetime(2024, 11, 25, 5, 0, tzinfo=UTC), None, None, ""
    )


def test_the_top_headline_is_unescaped_text_on_one_line() -> None:
    got = summary("20261205T070000Z.html", page(top=f"  {HOSTILE}\n  second line "))
    assert got.top == f"{HOSTILE} second line"
    long = summary("20261205T070000Z.html", page(top="word " * 2000))
    assert len(long.top) <= 301 and long.top.endswith("…")


@pytest.mark.parametrize(
    ("scheduled_for", "matches", "stories"),
    [
        ("yesterday", "-3", "1e3"),
        ("2026-12-05T07:00:00", "", "twelve"),  # no zone: not a known moment
        ("0001-01-01T00:00:00+05:00", "٣٥", "99999999999999999999"),  # overflow, not ASCII
        ("", " 35x", "3.5"),
    ],
)
def test_bad_values_are_none_and_the_time_comes_from_the_file_name(
    scheduled_for: str, matches: str, stories: str
) -> None:
    got = summary("20261205T070000Z.html", page(scheduled_for, matches, stories))
    assert got.scheduled_for == datetime(2026, 12, 5, 7, 0, tzinfo=UTC)
    assert got.matches is None and got.stories is None


@pytest.mark.parametrize(
    ("head", "matches"),
    [
        (b"", None),
        (b"\x00\xff\xfe garbage \x80\x81" * 500, None),
        (page().encode()[:120], None),  # cut inside the first meta
        (page().encode()[:175], None),  # inside the value of the second
        ('<meta name="monitor:top" content="Kyiv — Київ'.encode()[:-1], None),  # mid-character
        (b"<meta name='monitor:matches' content='7' <meta>>" + b"<" * 9000, 7),
    ],
)
def test_a_truncated_or_garbage_page_gives_what_it_can_and_never_raises(
    head: bytes, matches: int | None
) -> None:
    got = page_summary("20261205T070000Z.html", head)
    assert got.scheduled_for == datetime(2026, 12, 5, 7, 0, tzinfo=UTC)
    assert got.matches == matches and got.stories is None and got.top == ""
    assert page_summary("notes.html", head[:100]).scheduled_for is None


def test_meta_in_the_body_or_in_other_attributes_do_not_count() -> None:
    text = page(scheduled_for=None, body='<meta name="monitor:matches" content="999">')
    assert summary("20261205T070000Z.html", text).matches is None
    forged = '<meta content="a" data-x=\'name="monitor:matches" content="9"\' name="z">'
    assert summary("x.html", f"<head>{forged}</head>").matches is None
    reordered = "<head><META content='4' NAME=monitor:stories></head>"
    assert summary("x.html", reordered).stories == 4


# --- the index on disk ------------------------------------------------------


def watchlist(zone: str) -> Watchlist:
    return parse_watchlist(WATCHLIST, "test-watch", "test-watch", zone)


def archive(tmp_path: Path) -> Archive:
    return Archive(tmp_path / "digests", Renderer(ROOT / "templates"))


def write_pages(tmp_path: Path, pages: dict[str, str | bytes]) -> Path:
    directory = tmp_path / "digests" / "test-watch"
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in pages.items():
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return directory


class _Index(HTMLParser):
    """The index's entries as (href, text of the entry) and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[tuple[str, str]] = []
        self.months: list[str] = []
        self.tags: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "li":
            self._in = "li"
            self.entries.append(("", ""))
        elif tag == "a" and self._in == "li":
            self.entries[-1] = (dict(attrs)["href"] or "", self.entries[-1][1])
        elif tag == "h2":
            self._in = "h2"
            self.months.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("li", "h2"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "li":
            self.entries[-1] = (
                self.entries[-1][0],
                " ".join(f"{self.entries[-1][1]} {data}".split()),
            )
        elif self._in == "h2":
            self.months[-1] += data.strip()


def read_index(directory: Path) -> _Index:
    parsed = _Index()
    parsed.feed((directory / "index.html").read_text(encoding="utf-8"))
    return parsed


def test_the_index_lists_every_digest_newest_first_in_the_watchlists_zone(
    tmp_path: Path,
) -> None:
    directory = write_pages(
        tmp_path,
        {
            "20261205T070000Z.html": page(),
            "20261130T070000Z.html": page("2026-11-30T07:00:00+00:00", "1", "1", "One item"),
            "20241125T050000Z.html": page(scheduled_for=None),  # an older version's page
            "notes.html": "<p>someone's notes</p>",
        },
    )
    archive(tmp_path).write_index(watchlist("Europe/Warsaw"))
    index = read_index(directory)
    assert index.entries == [
        ("20261205T070000Z.html", "Sat 5 Dec 2026, 08:00 CET 35 matches · 12 stories "
                                  "Storm Corps moves east"),
        ("20261130T070000Z.html", "Mon 30 Nov 2026, 08:00 CET 1 match · 1 story One item"),
        ("20241125T050000Z.html", "Mon 25 Nov 2024, 06:00 CET"),
        ("notes.html", "notes.html"),
    ]  # fmt: skip
    assert index.months == ["December 2026", "November 2026", "November 2024", "Other files"]
    text = (directory / "index.html").read_text(encoding="utf-8")
    assert 'href="feed.xml"' in text and 'rel="alternate" type="application/atom+xml"' in text


def test_a_zone_ahead_of_utc_can_move_a_digest_into_the_next_day_and_month(
    tmp_path: Path,
) -> None:
    directory = write_pages(
        tmp_path, {"20261130T220000Z.html": page("2026-11-30T22:00:00+00:00", "0", "0", "")}
    )
    archive(tmp_path).write_index(watchlist("Asia/Seoul"))
    index = read_index(directory)
    assert index.entries == [
        ("20261130T220000Z.html", "Tue 1 Dec 2026, 07:00 KST 0 matches · 0 stories")
    ]
    assert index.months == ["December 2026"]


def test_nothing_from_a_page_becomes_markup_in_the_index(tmp_path: Path) -> None:
    directory = write_pages(
        tmp_path,
        {
            "20261205T070000Z.html": page(top=HOSTILE),
            # a name the shell allows: it must stay a relative link
            "javascript:alert(1).html": page(top='"><script>alert(2)</script>'),
            # written by hand, unescaped, ending the attribute early
            "20261206T070000Z.html": page().replace(
                "Storm Corps moves east", 'x" onmouseover="alert(3)'
            ),
        },
    )
    archive(tmp_path).write_index(watchlist("Europe/Warsaw"))
    index = read_index(directory)
    assert "script" not in index.tags and "b" not in index.tags
    text = (directory / "index.html").read_text(encoding="utf-8")
    assert "onmouseover" not in text.replace("&#34; onmouseover=&#34;", "")
    assert str(escape(HOSTILE)) in text
    hrefs = [href for href, _ in index.entries]
    assert "javascript%3Aalert%281%29.html" in hrefs
    assert all(":" not in href for href in hrefs)
    assert any(HOSTILE in entry for _, entry in index.entries)  # shown, as text


def test_the_index_reads_a_bounded_prefix_of_each_page(tmp_path: Path) -> None:
    # 5 MB: a head with the meta but left open, then bytes that are not UTF-8,
    # and past them a meta a reader of the whole file would find.
    huge = (
        page(stories="").encode().replace(b"</head>", b"")
        + b"\xff\xfe\x80" * (5 * 2**20 // 3)
        + b'<meta name="monitor:stories" content="999"></head>'
    )
    assert len(huge) > 5 * 2**20
    directory = write_pages(tmp_path, {"20261205T070000Z.html": huge})
    assert len(read_head(directory / "20261205T070000Z.html")) == HEAD_BYTES
    archive(tmp_path).write_index(watchlist("Europe/Warsaw"))
    [(_, entry)] = read_index(directory).entries
    assert entry == "Sat 5 Dec 2026, 08:00 CET 35 matches Storm Corps moves east"
    assert (directory / "feed.xml").is_file()  # the feed still takes the page


def test_a_folder_named_like_a_page_is_not_listed(tmp_path: Path) -> None:
    directory = write_pages(tmp_path, {"20261205T070000Z.html": page()})
    (directory / "20261206T070000Z.html").mkdir()
    archive(tmp_path).write_index(watchlist("UTC"))
    assert [href for href, _ in read_index(directory).entries] == ["20261205T070000Z.html"]
    assert read_head(directory / "20261206T070000Z.html") == b""
    assert read_head(directory / "gone.html") == b""


def test_an_empty_archive_says_so(tmp_path: Path) -> None:
    directory = write_pages(tmp_path, {})
    archive(tmp_path).write_index(watchlist("UTC"))
    assert "No digests yet." in (directory / "index.html").read_text(encoding="utf-8")


# --- real digests, end to end ------------------------------------------------

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)


def test_a_real_digest_is_listed_with_its_counts_and_top_story(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes())
    write_watchlist(workdir, [feed_server.url("/wire.xml")], timezone="Asia/Seoul")
    clock = Clock(NOW - timedelta(hours=1))
    worker = workers(make_settings(workdir), clock=clock, raise_errors=True)
    worker.poll()
    clock.now = NOW
    result = worker.digest_now(worker.watchlists.by_id["test-watch"])
    assert result.record is not None and result.record.match_count == 5
    directory = workdir / "digests" / "test-watch"
    [(href, entry)] = read_index(directory).entries
    assert href == result.record.scheduled_for.strftime("%Y%m%dT%H%M%SZ.html")
    local = result.record.scheduled_for.astimezone(ZoneInfo("Asia/Seoul"))
    assert entry.startswith(f"{local:%a} {local.day} {local:%b %Y, %H:%M} KST 5 matches · ")
    head = read_head(directory / href)
    assert summary(href, head.decode("utf-8", "replace")).top in entry
    worker.close()


# --- at phone width ---------------------------------------------------------


def test_the_index_fits_a_phone(tmp_path: Path) -> None:
    binary = chromium_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed: apt-get install chromium")
    directory = write_pages(
        tmp_path,
        {
            f"202612{day:02}T070000Z.html": page(
                f"2026-12-{day:02}T07:00:00+00:00", "1234", "321", "A very long headline " * 20
            )
            for day in range(1, 29)
        },
    )
    archive(tmp_path).write_index(watchlist("Europe/Warsaw"))
    browser = Chromium(binary, tmp_path / "profile")
    try:
        browser.open_page()
        for width in (375, 1024):
            browser.load((directory / "index.html").as_uri(), width)
            layout = browser.evaluate(
                """(() => {
                  const tops = Array.from(document.querySelectorAll('.top'));
                  return {
                    fits: document.documentElement.scrollWidth <= window.innerWidth,
                    entries: document.querySelectorAll('ul.archive li').length,
                    oneLine: tops.every(e => e.getBoundingClientRect().height < 30),
                    cut: tops.every(e => e.scrollWidth > e.clientWidth),
                  };
                })()"""
            )
            assert browser.console_errors() == []
            assert layout == {"fits": True, "entries": 28, "oneLine": True, "cut": True}
    finally:
        browser.close()
