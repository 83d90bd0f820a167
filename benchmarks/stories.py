"""What grouping a digest's stories costs: the reports of the labelled story
sets (each outlet's own words, five languages) grouped by words (the
baseline), then by meaning with the model's vectors made fresh (as a
digest's first grouping of new reports) and again from the process's cache
(a preview, then the digest).

    python -m benchmarks.stories [--reports 200]
"""

from __future__ import annotations

import argparse
import time

import yaml

from monitor.events import EventGrouping, Told
from monitor.language import language_of
from monitor.meaning import EventEncoder, text_for_meaning
from monitor.stories import Report, group
from tests.storyset import DIRECTORY, reports


def story_reports(count: int) -> list[Report]:
    found: list[Report] = []
    for path in sorted(DIRECTORY.glob("*.yaml")):
        found += reports(yaml.safe_load(path.read_text(encoding="utf-8")))
    return found[:count]


def run(count: int = 200) -> list[tuple[str, float, float]]:
    """(what, seconds, ratio to the word grouping) for ``count`` reports."""
    found = story_reports(count)
    start = time.perf_counter()
    group(found)
    words = time.perf_counter() - start
    told = [Told(r, language_of(text_for_meaning(r.title, r.text))) for r in found]
    start = time.perf_counter()
    EventEncoder().embed(["the model's first call"])
    load = time.perf_counter() - start
    grouping = EventGrouping(EventEncoder(), max_reports=len(told))
    start = time.perf_counter()
    grouping.groups(told)
    fresh = time.perf_counter() - start
    start = time.perf_counter()
    grouping.groups(told)
    cached = time.perf_counter() - start
    return [
        (f"by words, {len(found)} reports (baseline)", words, 1.0),
        ("model load and first call, once per process", load, load / words),
        ("by meaning, vectors made fresh", fresh, fresh / words),
        ("by meaning, vectors from the process's cache", cached, cached / words),
    ]


def lines(rows: list[tuple[str, float, float]]) -> list[str]:
    return [f"  {what:<48} {seconds:8.2f} s  {ratio:8.1f}x" for what, seconds, ratio in rows]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=200)
    print("\n".join(lines(run(parser.parse_args().reports))))
