"""The cross-outlet story set (tests/data/stories/*.yaml) and its pairwise
score: how many of the pairs of reports labelled one story are grouped
together (recall), and how many grouped pairs are labelled one story
(precision).

``python -m tests.storyset [-v]`` prints the score of the grouping with the
reports' publication times and without them (as it was before it used
them), per file, and with -v the pairs it gets wrong.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import yaml

from monitor.stories import Report, group

DIRECTORY = Path(__file__).parent / "data" / "stories"


@dataclass(frozen=True)
class Score:
    true_pairs: int  # grouped and labelled one story
    grouped_pairs: int
    labelled_pairs: int

    @property
    def precision(self) -> float:
        return self.true_pairs / self.grouped_pairs if self.grouped_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_pairs / self.labelled_pairs if self.labelled_pairs else 1.0

    def __str__(self) -> str:
        return (
            f"precision {self.precision:.3f} ({self.true_pairs}/{self.grouped_pairs}), "
            f"recall {self.recall:.3f} ({self.true_pairs}/{self.labelled_pairs})"
        )


def load(directory: Path = DIRECTORY) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        cases += yaml.safe_load(path.read_text(encoding="utf-8"))
    return cases


def when(case: dict[str, Any]) -> datetime:
    published = case["published"]
    return published if isinstance(published, datetime) else datetime.fromisoformat(published)


def reports(cases: Sequence[dict[str, Any]]) -> list[Report]:
    return [Report(c["title"], c["text"], (c["source"],), when(c)) for c in cases]


def pairs(groups: Iterable[Iterable[int]]) -> set[tuple[int, int]]:
    return {(i, j) for members in groups for i, j in combinations(sorted(members), 2)}


def labelled_groups(cases: Sequence[dict[str, Any]]) -> list[list[int]]:
    by_story: dict[str, list[int]] = {}
    for i, case in enumerate(cases):
        by_story.setdefault(case["story"], []).append(i)
    return list(by_story.values())


def score(cases: Sequence[dict[str, Any]], groups: Iterable[Iterable[int]]) -> Score:
    grouped, labelled = pairs(groups), pairs(labelled_groups(cases))
    return Score(len(grouped & labelled), len(grouped), len(labelled))


def _main() -> None:  # pragma: no cover - a measuring tool
    cases = load()
    dated = reports(cases)
    undated = [replace(r, when=None) for r in dated]
    print(f"{len(cases)} reports, {len(labelled_groups(cases))} stories")
    for name, rs in (("with publication times", dated), ("without (as before)", undated)):
        print(f"{name}: {score(cases, group(rs))}")
        for prefix in sorted({c["id"].split("-")[0] for c in cases}):
            part = [i for i, c in enumerate(cases) if c["id"].startswith(prefix + "-")]
            sub = [cases[i] for i in part]
            print(f"  {prefix}-*: {score(sub, group([rs[i] for i in part]))}")
    if "-v" in sys.argv:
        grouped, labelled = pairs(group(dated)), pairs(labelled_groups(cases))
        for kind, wrong in (("joined apart", grouped - labelled), ("missed", labelled - grouped)):
            for i, j in sorted(wrong):
                a, b = cases[i], cases[j]
                print(f"{kind} {a['id']}: {a['title']} | {b['id']}: {b['title']}")


if __name__ == "__main__":
    _main()
