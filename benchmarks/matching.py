"""Matching throughput at 10, 1,000 and 10,000 aliases, against a loop of regexes."""

from __future__ import annotations

import random
import re
import time

from benchmarks.corpus import feed
from monitor.matcher import Matcher
from monitor.parse import parse_feed
from monitor.schedule import Cron
from monitor.types import FeedFailure, Fetched
from monitor.watchlist import Alias, Entity, Watchlist

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def aliases(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = {"kursk", "north korea", "storm corps"}
    while len(out) < count:
        words = rng.randint(1, 2)
        out.add(
            " ".join(
                "".join(rng.choice(LETTERS) for _ in range(rng.randint(5, 9))) for _ in range(words)
            )
        )
    return sorted(out)[:count]


def watchlist(alias_texts: list[str]) -> Watchlist:
    per_entity = 10
    entities = tuple(
        Entity(
            f"e{i}", f"e{i}", tuple(Alias(a) for a in alias_texts[i : i + per_entity]), (), False
        )
        for i in range(0, len(alias_texts), per_entity)
    )
    return Watchlist(
        "bench", "bench.yaml", "bench", "", (), entities, (), Cron("0 7 * * *", "UTC"), (), (), ()
    )


def documents(feeds: int = 40) -> list[tuple[str, str]]:
    docs = []
    for number in range(feeds):
        parsed = parse_feed(Fetched("u", "u", feed(number), "application/xml", None, None, ""))
        if isinstance(parsed, FeedFailure):
            raise SystemExit(f"benchmark corpus does not parse: {parsed.message}")
        docs += [(e.title, e.text) for e in parsed.entries]
    return docs


def matcher_seconds(matcher: Matcher, docs: list[tuple[str, str]]) -> float:
    start = time.perf_counter()
    for title, text in docs:
        matcher.match(title, text)
    return time.perf_counter() - start


def regex_loop_seconds(alias_texts: list[str], docs: list[tuple[str, str]]) -> float:
    patterns = [re.compile(rf"\b{re.escape(a)}\b", re.IGNORECASE) for a in alias_texts]
    start = time.perf_counter()
    for title, text in docs:
        document = f"{title}\n{text}"
        for pattern in patterns:
            pattern.search(document)
    return time.perf_counter() - start


def run() -> list[tuple[str, float, float]]:
    """Rows of (case, MB/s of text, time per MB relative to the 10-alias matcher)."""
    docs = documents()
    megabytes = sum(len(t.encode()) + len(x.encode()) for t, x in docs) / 1e6
    rows = []
    base = 0.0
    for count in (10, 1_000, 10_000):
        texts = aliases(count)
        seconds = matcher_seconds(Matcher([watchlist(texts)]), docs)
        rate = megabytes / seconds
        base = base or rate
        rows.append((f"matcher, {count:,} aliases", rate, base / rate))
    for count in (10, 1_000):
        seconds = regex_loop_seconds(aliases(count), docs)
        rate = megabytes / seconds
        rows.append((f"naive regex loop, {count:,} aliases", rate, base / rate))
    return rows
