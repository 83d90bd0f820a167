"""The rendered digest in a real headless Chromium (Debian's `chromium`),
driven over the DevTools pipe: the HTML file and the email's HTML part, at
phone and desktop widths. Screenshots go to the test's tmp dir."""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from tests.browser import Chromium, chromium_binary
from tests.conftest import FeedServer, Route, Smtp, Workers, make_settings, write_watchlist
from tests.test_cli import monitor
from tests.test_pipeline import Clock
from tests.test_stories import CASES

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)

LAYOUT = """(() => {
  const visible = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const all = s => Array.from(document.querySelectorAll(s));
  return {
    scrollWidth: document.documentElement.scrollWidth,
    widest: Math.max(...all('body *').map(e => e.getBoundingClientRect().right)),
    stories: all('.story').length, hiddenStories: all('.story').filter(e => !visible(e)).length,
    links: all('a').length, hiddenLinks: all('a').filter(e => !visible(e)).length,
    svgs: all('svg.chart').map(e => {
      const r = e.getBoundingClientRect(); return [r.width, r.height];
    }),
    rects: all('svg.chart rect').length,
    cards: all('.story').map(e => e.id),
    cardHeadlines: all('.story .headline').map(e => e.textContent.trim()),
    hrefs: all('a').map(e => e.getAttribute('href')),
    bars: all('.bar').filter(visible).length,
  };
})()"""


def assert_reads_well(
    chromium: Chromium, page_file: Path, email_file: Path, shots: Path
) -> dict[str, int]:
    """The digest's page and its email at phone and desktop widths: nothing
    overflows or hides, each story has one card, every index link lands on
    a card, one chart; then the archive's index lists every digest. Returns
    the screenshots' sizes."""
    assert len(email_file.read_bytes()) < 100_000  # Gmail clips past 102 KB
    sizes = {}
    for name, path in (("page", page_file), ("email", email_file)):
        for width in (375, 1280):
            chromium.load(path.as_uri(), width)
            layout = chromium.evaluate(LAYOUT)
            assert chromium.console_errors() == []
            assert layout["scrollWidth"] <= width and layout["widest"] <= width + 0.5, layout
            assert layout["stories"] >= 10 and layout["hiddenStories"] == 0
            # Each story once: no card twice, and no headline on two cards.
            assert len(set(layout["cards"])) == len(layout["cards"])
            assert len(set(layout["cardHeadlines"])) == len(layout["cardHeadlines"])
            assert layout["links"] >= 10 and layout["hiddenLinks"] == 0
            anchors = {h[1:] for h in layout["hrefs"] if h and h.startswith("#story-")}
            assert anchors <= set(layout["cards"])  # every index link lands on a card
            if name == "page":
                assert len(layout["svgs"]) == 1  # one chart for the watchlist
                assert all(0 < w <= width and h > 0 for w, h in layout["svgs"])
                assert layout["rects"] >= 1
            else:
                assert layout["svgs"] == [] and layout["bars"] >= 1  # table bars, no SVG
            sizes[f"{name}-{width}"] = chromium.screenshot(shots / f"{name}-{width}.png")
    chromium.load((page_file.parent / "index.html").as_uri(), 375)
    archive = chromium.evaluate(LAYOUT)
    digests = {p.name for p in page_file.parent.glob("2*.html")}
    assert digests and digests <= set(archive["hrefs"]) and "feed.xml" in archive["hrefs"]
    assert archive["hiddenLinks"] == 0 and archive["scrollWidth"] <= 375
    assert all(size > 10_000 for size in sizes.values()), sizes
    return sizes


def feeds_from_cases(feed_server: FeedServer) -> list[str]:
    by_source: dict[str, list[dict[str, str]]] = defaultdict(list)
    for case in CASES:
        by_source[case["source"]].append(case)
    urls = []
    for n, (source, cases) in enumerate(by_source.items()):
        items = "".join(
            f"<item><guid>{c['id']}</guid><title>{escape(c['title'])}</title>"
            f"<link>https://news.example/{c['id']}</link>"
            f"<description>{escape(c['text'])}</description></item>"
            for c in cases
        )
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(source)}</title><link>https://news.example/</link>"
            f"<description>x</description>{items}</channel></rss>"
        )
        feed_server.routes[f"/s{n}.xml"] = Route(body.encode())
        urls.append(feed_server.url(f"/s{n}.xml"))
    return urls


@pytest.fixture
def chromium(tmp_path: Path) -> Chromium:
    binary = chromium_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed: apt-get install chromium")
    browser = Chromium(binary, tmp_path / "profile")
    browser.open_page()
    yield browser  # type: ignore[misc]
    browser.close()


def test_digest_renders_in_chromium_at_phone_and_desktop_widths(
    workers: Workers,
    workdir: Path,
    feed_server: FeedServer,
    smtp_server: Smtp,
    chromium: Chromium,
    tmp_path: Path,
) -> None:
    write_watchlist(workdir, feeds_from_cases(feed_server), digest_email="analyst@example.org")
    worker = workers(
        make_settings(workdir, smtp_url=smtp_server.url), clock=Clock(NOW), raise_errors=True
    )
    worker.poll()
    worker.digest_now(worker.watchlists.by_id["test-watch"])
    [mail] = smtp_server.sink.wait_for(1)
    email_file = tmp_path / "email.html"
    email_file.write_text(mail.get_body(("html",)).get_content(), encoding="utf-8")  # type: ignore[union-attr]
    page_file = workdir / "digests" / "test-watch" / "20261125T050000Z.html"
    sizes = assert_reads_well(chromium, page_file, email_file, tmp_path)
    print("screenshots (bytes):", sizes)
    worker.close()


def test_the_demo_digest_and_its_email_read_well(chromium: Chromium, tmp_path: Path) -> None:
    """What a new user sees first: `monitor demo`'s digest, and the email it
    would send (a preview of the same matches), at 375 and 1280 px."""
    demo = tmp_path / "demo"
    made = monitor(tmp_path, "demo", "--keep", str(demo))
    assert made.returncode == 0, made.stderr
    page_file = Path(made.stdout.strip().removeprefix("digest written: "))
    preview = monitor(
        tmp_path, "digest", "dprk-russia", "--since", "30d",
        database_url=f"sqlite:///{demo / 'demo.db'}", watchlists=str(demo / "watchlists"),
        output_dir=str(tmp_path / "preview"),
    )  # fmt: skip
    assert preview.returncode == 0, preview.stderr
    [email_file] = (tmp_path / "preview" / "dprk-russia").glob("since-*.html")
    page = page_file.read_text(encoding="utf-8")
    cards = page.count('class="story"')
    assert 0 < cards < 41  # 41 items, some of them one story: each story once
    print("demo screenshots (bytes):", assert_reads_well(chromium, page_file, email_file, tmp_path))
