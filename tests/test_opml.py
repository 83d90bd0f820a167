"""`monitor opml import` and `export`: OPML read safely, written escaped,
and the watchlist file edited keeping every other byte."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from monitor.discover import NewSource
from monitor.opml import OpmlError, OpmlSources, Skipped, read_opml, write_opml
from monitor.watchlist import load_file, parse_watchlist
from tests.test_add import DATA, SEED, run, seed_with

LINK_SKIPPED = (
    "a link, not a feed: add it as a page with `monitor add WATCHLIST URL --links SELECTOR`"
)


@pytest.fixture
def seed(workdir: Path) -> Path:
    path = workdir / "watchlists" / "dprk-russia.yaml"
    shutil.copyfile(SEED, path)
    return path


# --- reading -------------------------------------------------------------------------


def test_opml_2_feeds_in_nested_categories() -> None:
    assert read_opml((DATA / "subscriptions.opml").read_bytes()) == OpmlSources(
        sources=(
            NewSource("feed", "https://www.nknews.org/feed/", "NK News"),
            NewSource("feed", "https://www.38north.org/feed/", "38 North"),
            NewSource("feed", "https://wire.example/rss?desk=seoul&lang=en", "Wire & Co: Seoul"),
            NewSource("feed", "https://www.dailynk.com/english/feed/", "Daily NK English"),
            NewSource("feed", "https://www.themoscowtimes.com/rss/news", "The Moscow Times"),
            NewSource("feed", "https://www.nknews.org/feed/", "NK News again"),
            NewSource("telegram", "rybar_channel", "Rybar"),
        ),
        skipped=(
            Skipped("gopher://old.example/feed", "not an http(s) URL"),
            Skipped("No address", "no feed URL (xmlUrl is empty)"),
            Skipped("https://example.org/", LINK_SKIPPED),
        ),
    )


def test_opml_1_in_latin_1_with_text_only_titles() -> None:
    assert read_opml((DATA / "opml1.opml").read_bytes()) == OpmlSources(
        sources=(
            NewSource("feed", "https://www.lemonde.fr/rss/une.xml", "Le Monde à la une"),
            NewSource("feed", "https://feeds.bbci.co.uk/news/world/rss.xml", "BBC World"),
            NewSource("feed", "https://cafe.example/feed", "Untitled feed"),
        ),
        skipped=(),
    )


def test_a_billion_laughs_is_refused_before_it_grows() -> None:
    with pytest.raises(OpmlError) as refused:
        read_opml((DATA / "billion-laughs.opml").read_bytes())
    assert refused.value.message == (
        "the file declares an XML entity ('lol'): refused, as an OPML file needs none "
        "(entities are how billion-laughs files and external entities attack a reader)"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<opml version="2.0"><body><outline text="&x;" xmlUrl="https://a.example/"/></body></opml>',
            "the file declares an XML entity ('x')",
        ),
        (
            b"<opml><body><outline xmlUrl='https://a.example/'></body>",
            "not well-formed XML: mismatched tag (line 1, column 52)",
        ),
        (
            b"<rss version='2.0'><channel/></rss>",
            "not an OPML file: its root element is <rss>, not <opml>",
        ),
        (b"", "not well-formed XML: no element found (line 1, column 1)"),
    ],
    ids=["external-entity", "broken", "not-opml", "empty"],
)  # fmt: skip
def test_what_is_no_opml_is_one_message(data: bytes, message: str) -> None:
    with pytest.raises(OpmlError) as refused:
        read_opml(data)
    assert refused.value.message.startswith(message)


# --- writing -------------------------------------------------------------------------

SMALL = """\
title: Wire & <Co> "desk"
feeds:
  - url: https://wire.example/rss?desk=seoul&lang=en
    title: Seoul & "Pyongyang"
  - https://plain.example/feed
  - telegram: some_channel
  - page: https://mil.example/en/news
    links: article h2 a
    title: MoD news
"""


def test_export_escapes_and_marks_what_is_no_feed() -> None:
    watchlist = parse_watchlist(SMALL, "small.yaml", "small", "UTC")
    # Escaped by hand, reviewed: what a feed reader gets.
    assert write_opml([watchlist]) == (DATA / "small.opml").read_text(encoding="utf-8")


# --- the commands --------------------------------------------------------------------------


def test_import_adds_what_is_missing_and_keeps_the_file(workdir: Path, seed: Path) -> None:
    imported = run(workdir, "opml", "import", str(DATA / "subscriptions.opml"), "dprk-russia")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.splitlines() == [
        "skipped gopher://old.example/feed: not an http(s) URL",
        "skipped No address: no feed URL (xmlUrl is empty)",
        f"skipped https://example.org/: {LINK_SKIPPED}",
        f"{seed}: 4 added, 3 already there, 3 skipped",
    ]
    expected = seed_with(
        "  - url: https://www.38north.org/feed/",
        "    title: 38 North",
        "  - url: https://wire.example/rss?desk=seoul&lang=en",
        "    title: 'Wire & Co: Seoul'",
        "  - url: https://www.dailynk.com/english/feed/",
        "    title: Daily NK English",
        "  - telegram: rybar_channel",
        "    title: Rybar",
    )
    assert seed.read_text(encoding="utf-8") == expected

    again = run(workdir, "opml", "import", str(DATA / "subscriptions.opml"), "dprk-russia")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == f"{seed}: 0 added, 7 already there, 3 skipped"
    assert seed.read_text(encoding="utf-8") == expected


def test_import_of_a_hostile_or_missing_file_is_one_line(workdir: Path, seed: Path) -> None:
    bomb = run(workdir, "opml", "import", str(DATA / "billion-laughs.opml"), "dprk-russia")
    assert (bomb.returncode, bomb.stdout) == (1, "")
    assert bomb.stderr.startswith("error: the file declares an XML entity ('lol'): refused")
    assert bomb.stderr.count("\n") == 1
    missing = run(workdir, "opml", "import", str(workdir / "none.opml"), "dprk-russia")
    assert (missing.returncode, missing.stderr) == (
        1, f"error: cannot read {workdir / 'none.opml'}: No such file or directory\n",
    )  # fmt: skip
    assert seed.read_bytes() == SEED.read_bytes()


def test_export_then_import_gives_the_same_sources(workdir: Path, seed: Path) -> None:
    (workdir / "watchlists" / "small.yaml").write_text(SMALL, encoding="utf-8")
    out = workdir / "all.opml"
    exported = run(workdir, "opml", "export", "-o", str(out))
    assert (exported.returncode, exported.stdout) == (
        0,
        f"wrote {out}: 10 sources of 2 watchlists\n",
    )

    empty = workdir / "watchlists" / "empty.yaml"
    empty.write_text("title: Empty\n", encoding="utf-8")
    imported = run(workdir, "opml", "import", str(out), "empty")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.splitlines() == [
        f"skipped https://mil.example/en/news: {LINK_SKIPPED}",
        f"{empty}: 9 added, 0 already there, 1 skipped",
    ]
    before = [*load_file(seed).feeds, *load_file(workdir / "watchlists" / "small.yaml").feeds]
    after = load_file(empty).feeds
    assert [f.url for f in after] == [f.url for f in before if f.kind != "page"]
    assert [f.kind for f in after] == ["feed"] * 8 + ["telegram"]
    assert after[6].title == 'Seoul & "Pyongyang"'


def test_export_to_stdout_of_named_watchlists(workdir: Path, seed: Path) -> None:
    (workdir / "watchlists" / "small.yaml").write_text(SMALL, encoding="utf-8")
    exported = run(workdir, "opml", "export", "small")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == write_opml([load_file(workdir / "watchlists" / "small.yaml")])
    assert "North Korea" not in exported.stdout


def test_export_refuses_a_broken_watchlist(workdir: Path, seed: Path) -> None:
    broken = workdir / "watchlists" / "broken.yaml"
    broken.write_text("title: Broken\nfeeds: [ftp://old.example/feed]\n", encoding="utf-8")
    refused = run(workdir, "opml", "export")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        f"{broken}:2:9: feeds.0.url: a feed or page URL must start with http:// or https://\n"
    )
