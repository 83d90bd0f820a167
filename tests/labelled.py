"""Score the seed watchlist against the labelled set in tests/data/matching/.

`python -m tests.labelled [FILE]` prints precision and recall per rule and
every item a rule got wrong; tests/test_labelled.py holds the suite to the bar.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from monitor.matcher import Matcher
from monitor.watchlist import Watchlist, load_file

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "data" / "matching" / "cases.yaml"
WATCHLIST = ROOT / "watchlists" / "dprk-russia.yaml"


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    summary: str
    expect: frozenset[str]


@dataclass
class Score:
    rule: str
    true_positives: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)
    false_negatives: list[str] = field(default_factory=list)

    @property
    def positives(self) -> int:
        return len(self.true_positives) + len(self.false_negatives)

    @property
    def precision(self) -> float:
        found = len(self.true_positives) + len(self.false_positives)
        return len(self.true_positives) / found if found else 1.0

    @property
    def recall(self) -> float:
        return len(self.true_positives) / self.positives if self.positives else 1.0


def load_cases(path: Path = CASES) -> list[Case]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Case(
            id=entry["id"],
            title=entry["title"],
            summary=entry.get("summary", ""),
            expect=frozenset(entry.get("expect") or ()),
        )
        for entry in raw
    ]


def rule_ids(watchlist: Watchlist) -> list[str]:
    return [*(entity.id for entity in watchlist.entities), *(t.id for t in watchlist.topics)]


def score(watchlist: Watchlist, cases: Iterable[Case]) -> dict[str, Score]:
    matcher = Matcher([watchlist])
    scores = {rule: Score(rule) for rule in rule_ids(watchlist)}
    for case in cases:
        found = {match.rule for match in matcher.match(case.title, case.summary)}
        for rule, rule_score in scores.items():
            if rule in found and rule in case.expect:
                rule_score.true_positives.append(case.id)
            elif rule in found:
                rule_score.false_positives.append(case.id)
            elif rule in case.expect:
                rule_score.false_negatives.append(case.id)
    return scores


def table(scores: Sequence[Score]) -> str:
    lines = [f"{'rule':<26} {'items':>5} {'precision':>9} {'recall':>7}"]
    for rule_score in scores:
        lines.append(
            f"{rule_score.rule:<26} {rule_score.positives:>5} "
            f"{rule_score.precision:>9.3f} {rule_score.recall:>7.3f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
    path = Path(argv[0]) if argv else CASES
    cases = load_cases(path)
    scores = list(score(load_file(WATCHLIST), cases).values())
    print(f"{len(cases)} labelled items in {path.name}, {WATCHLIST.relative_to(ROOT)}\n")
    print(table(scores))
    for rule_score in scores:
        for label, ids in (
            ("wrongly hit", rule_score.false_positives),
            ("missed", rule_score.false_negatives),
        ):
            if ids:
                print(f"{rule_score.rule} {label}: {', '.join(ids)}")


if __name__ == "__main__":
    main(sys.argv[1:])
