"""python -m benchmarks.fulltext: ingest with ``full_text: true`` against the
same feeds read as teasers only, in one run, on local article pages.

Each feed's items link to article pages on the same local server (about
25 KB each: a menu, a trending box, related links and a footer around six
paragraphs). The article reads go through the same fetcher, per-host limit
and parse processes as the feeds. The share of time in extraction is the
in-process time of extracting every article page alone, over the wall time
of the full-text ingest in one process.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from benchmarks.corpus import WORDS
from benchmarks.harness import bench_worker, serve_in_another_process, timed_poll
from monitor.article import extract_article
from monitor.parsepool import ParsePool
from monitor.types import Fetched

Row = tuple[str, float, float]


def sentence(rng: random.Random, words: int = 18) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def article_page(rng: random.Random, number: int) -> bytes:
    menu = "".join(f"<li><a href='/s{n}'>Section {n}</a></li>" for n in range(30))
    trending = "".join(f"<li><a href='/t{n}'>{sentence(rng, 8)}</a></li>" for n in range(10))
    related = "".join(f"<li><a href='/r{n}'>{sentence(rng, 10)}</a></li>" for n in range(12))
    paragraphs = "".join(
        f"<p>{sentence(rng)} {sentence(rng)} {sentence(rng)}</p>" for _ in range(6)
    )
    # One in five articles names the Storm Corps in its body only.
    if number % 5 == 0:
        paragraphs += "<p>Officials said units of the Storm Corps moved near Kursk.</p>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Wire</title></head><body>"
        f"<header><nav><ul>{menu}</ul></nav></header><main><article><h1>{sentence(rng, 9)}</h1>"
        f"{paragraphs}</article><section class='related'><h3>Related</h3><ul>{related}</ul>"
        f"</section></main><aside><h3>Trending</h3><ul>{trending}</ul></aside>"
        f"<footer><p>{sentence(rng, 40)}</p><p>© Wire example</p></footer></body></html>"
    ).encode()


def teaser_feed(base_url: str, feed: int, items: int, rng: random.Random) -> bytes:
    when = datetime.now(UTC) - timedelta(hours=1)
    entries = "".join(
        f"<item><guid>f{feed}-i{i}</guid><title>{sentence(rng, 9)}</title>"
        f"<link>{base_url}/a-{feed}-{i}.html</link><description>{sentence(rng)}</description>"
        f"<pubDate>{format_datetime(when)}</pubDate></item>"
        for i in range(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>{base_url}/</link><description>x</description>{entries}</channel></rss>"
    ).encode()


def write_site(directory: Path, feeds: int, items: int) -> list[str]:
    """The article pages; the feeds are written once the server's URL is known."""
    rng = random.Random(7)
    directory.mkdir(parents=True)
    for feed in range(feeds):
        for item in range(items):
            (directory / f"a-{feed}-{item}.html").write_bytes(article_page(rng, item))
    return [f"feed-{feed}.xml" for feed in range(feeds)]


def extraction_seconds(directory: Path) -> float:
    pages = [(p.name, p.read_bytes()) for p in sorted(directory.glob("a-*.html"))]
    start = time.perf_counter()
    for name, body in pages:
        extract_article(Fetched(name, name, body, "text/html; charset=utf-8", None, None, ""))
    return time.perf_counter() - start


def run(feeds: int = 20, items: int = 25) -> tuple[list[Row], float, int, int]:
    """Rows of (label, items/s, ratio to teasers only), the share of the
    one-process full-text ingest spent extracting, and the matches found
    from teasers only and with the articles."""
    workdir = Path(tempfile.mkdtemp(prefix="monitor-fulltext-"))
    try:
        site = workdir / "site"
        names = write_site(site, feeds, items)
        with serve_in_another_process(site) as base_url:
            rng = random.Random(11)
            for feed, name in enumerate(names):
                (site / name).write_bytes(teaser_feed(base_url, feed, items, rng))
            rates, teasers, added, one_process_wall = [], 0, 0, 0.0
            cases = ((False, 0), (True, 0), (False, 2), (True, 2))
            for full_text, processes in cases:
                run_dir = workdir / f"run-{full_text}-{processes}"
                run_dir.mkdir()
                worker = bench_worker(base_url, names, run_dir, processes)
                if full_text:
                    _read_full_text(worker)
                if isinstance(worker.parser, ParsePool):
                    worker.parser.start()  # once per service: not in the rate
                seconds, report = timed_poll(worker)
                if full_text and not processes:
                    one_process_wall, added = seconds, report.new_matches
                elif not processes:
                    teasers = report.new_matches
                where = "1 process" if not processes else f"{processes} parse processes"
                kind = "full_text: true" if full_text else "teasers only"
                rates.append((f"ingest, {kind}, {where}", report.new_items / seconds))
                worker.close()
        share = extraction_seconds(site) / one_process_wall
        rows = [
            (label, rate, rate / rates[0 if "1 process" in label else 2][1])
            for label, rate in rates
        ]
        return rows, share, teasers, added
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _read_full_text(worker: object) -> None:
    """The bench watchlist's feeds, each with ``full_text: true``."""
    path = Path(worker.settings.watchlists) / "bench.yaml"  # type: ignore[attr-defined]
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(".xml\n", ".xml\n    full_text: true\n").replace("  - http", "  - url: http"),
        encoding="utf-8",
    )
    worker.reload()  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--items", type=int, default=25)
    args = parser.parse_args()
    rows, share, teasers, added = run(args.feeds, args.items)
    print(f"\n{'full text (local article pages, ~25 KB each)':<70}{'items/s':>10}{'ratio':>8}")
    for label, rate, ratio in rows:
        print(f"{label:<70}{rate:>10.0f}{ratio:>8.3f}")
    print(f"share of the one-process full-text ingest spent extracting articles: {share:.0%}")
    print(f"matches: {teasers} from the teasers, {added} with the articles")


if __name__ == "__main__":
    main()
