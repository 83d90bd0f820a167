"""What an ``about:`` topic costs at ingest: the bench corpus polled with the
seed's rules, and with one about-topic added (the meaning check embeds the
candidates: items naming an entity of the watchlist). Both in one process
(MONITOR_PARSE_PROCESSES=0), with the model loaded beforehand, so the rates
compare the check alone; its load is reported on its own line.

    python -m benchmarks.about [--feeds 40]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import bench_worker, serve_in_another_process, timed_poll, write_corpus
from monitor.config import Settings
from monitor.matcher import Matcher
from monitor.meaning import SentenceEncoder, text_for_meaning
from monitor.meaningcheck import candidates_of
from monitor.parse import parse_feed
from monitor.parsepool import matches_of
from monitor.resources import SEED, seed_watchlists
from monitor.types import Fetched, ParsedFeed
from monitor.watchlist import load_file

# The seed's real rate: six feeds, polled every 15 minutes.
SEED_FEEDS = 6
ABOUT_TOPIC = """\
  bench-about:
    query: "@dprk AND (troops OR soldiers OR forces)"
    about:
      - North Korean soldiers are fighting for Russia in the war against Ukraine
      - Troops from North Korea were deployed to the Kursk region
"""


@dataclass(frozen=True)
class AboutCost:
    items: int
    without: float  # items/s
    with_about: float  # items/s
    candidates: float  # share of the items embedded
    texts_per_second: float  # the model, sustained, batched, on the candidates' texts
    load_seconds: float
    # The corpus's first poll with the service's parse processes (the model
    # loading in each at its first about-feed), seconds: without, with.
    pooled: tuple[float, float]
    items_per_feed: int

    def seed_poll_ms(self) -> float:
        """What the check adds to a first read of the seed's six feeds, from
        the one-process rates (a later poll finds a handful of new items)."""
        items = SEED_FEEDS * self.items_per_feed
        return 1000 * items * (1 / self.with_about - 1 / self.without)


def seed_tail(with_about: bool) -> str:
    """The seed's entities:, topics: and the rest; with the about-topic first among topics."""
    seed = (seed_watchlists() / SEED).read_text(encoding="utf-8")
    tail = seed.partition("\nentities:\n")[2]
    return tail.replace("\ntopics:\n", "\ntopics:\n" + ABOUT_TOPIC, 1) if with_about else tail


def run(feeds: int = 40, items: int = 50) -> AboutCost:
    workdir = Path(tempfile.mkdtemp(prefix="monitor-bench-about-"))
    try:
        directory = workdir / "feeds"
        names = write_corpus(directory, feeds, items)
        started = time.perf_counter()
        encoder = SentenceEncoder()
        encoder.load()  # the process's one model, which the inline parser uses too
        load = time.perf_counter() - started
        with serve_in_another_process(directory) as base_url:
            inline = [first_poll(base_url, names, workdir, 0, w) for w in (False, True)]
            pooled = [first_poll(base_url, names, workdir, _cores(), w) for w in (False, True)]
        written = workdir / "run-0-True" / "watchlists" / "bench.yaml"
        texts, total = candidate_texts(written, directory, names)
        started = time.perf_counter()
        encoder.embed(texts)
        rate = len(texts) / (time.perf_counter() - started) if texts else 0.0
        share = len(texts) / total if total else 0.0
        without, with_about = (total / seconds for seconds in inline)
        return AboutCost(
            total, without, with_about, share, rate, load, (pooled[0], pooled[1]), items
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def first_poll(
    base_url: str, names: list[str], workdir: Path, processes: int, with_about: bool
) -> float:
    """Seconds of a fresh worker's first poll of the corpus, with ``processes``
    parse processes (0: in this process), with or without the about-topic.
    With processes the check runs in them: a feed waits for its own
    candidates only, and the model loads in each at its first about-feed."""
    run_dir = workdir / f"run-{processes}-{with_about}"
    run_dir.mkdir()
    worker = bench_worker(base_url, names, run_dir, processes, seed_tail(with_about))
    try:
        seconds, _ = timed_poll(worker)
    finally:
        worker.close()
    return seconds


def _cores() -> int:
    """The parse processes the service would start here (MONITOR_PARSE_PROCESSES,
    by default one per core it may run on)."""
    return max(1, Settings(_env_file=None).parse_processes)  # type: ignore[call-arg]


def candidate_texts(watchlist: Path, directory: Path, names: list[str]) -> tuple[list[str], int]:
    """The texts the check embeds over the corpus, and the number of items."""
    matcher = Matcher([load_file(watchlist)])
    texts: list[str] = []
    total = 0
    for name in names:
        body = (directory / name).read_bytes()
        fetched = Fetched(name, name, body, "application/rss+xml", None, None, "")
        parsed = parse_feed(fetched, name)
        if not isinstance(parsed, ParsedFeed):
            raise SystemExit(f"{name}: {parsed}")
        entries = parsed.entries
        total += len(entries)
        matches = [m for e in entries for m in matches_of(matcher, e)]
        chosen = candidates_of(matcher.about_topics, entries, matches)
        texts += [text_for_meaning(e.title, e.text) for e in chosen]
    return texts, total


def lines(cost: AboutCost) -> list[str]:
    pooled_without, pooled_with = cost.pooled
    return [
        f"first ingest of {cost.items:,} items, 1 process, model loaded beforehand:",
        f"  without about: topics      {cost.without:8.0f} items/s",
        f"  with one about: topic      {cost.with_about:8.0f} items/s"
        f"  ({cost.with_about / cost.without:.2f}x)",
        f"  candidates embedded        {cost.candidates:8.1%} of the items",
        f"  model, sustained, batched  {cost.texts_per_second:8.0f} texts/s (candidates)",
        f"  model load, once per process {cost.load_seconds:6.2f} s",
        f"the seed's rate ({SEED_FEEDS} feeds every 15 minutes): a first read of "
        f"{SEED_FEEDS * cost.items_per_feed} items takes {cost.seed_poll_ms():.0f} ms more",
        f"stress: the same first poll with {_cores()} parse processes (the model loading "
        f"in each): {pooled_without:.2f} s without, {pooled_with:.2f} s with"
        f" ({pooled_with / pooled_without:.2f}x)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--items", type=int, default=50)
    args = parser.parse_args()
    print("\n".join(lines(run(args.feeds, args.items))))


if __name__ == "__main__":
    main()
