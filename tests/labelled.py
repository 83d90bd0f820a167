"""Score the seed watchlist against the labelled set in tests/data/matching/.

`python -m tests.labelled [FILE]` prints precision, recall and F1 per rule and
every item a rule got wrong; tests/test_labelled.py holds the suite to the
bar. The reading and scoring live in monitor/tune.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from monitor.tune import LabelledItem, RuleScore, parse_labels, rule_ids, score, table
from monitor.watchlist import load_file

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "data" / "matching" / "cases.yaml"
WATCHLIST = ROOT / "watchlists" / "dprk-russia.yaml"

# The names the tests have always used.
Case = LabelledItem
Score = RuleScore

__all__ = ["CASES", "WATCHLIST", "Case", "Score", "load_cases", "main", "rule_ids", "score"]


def load_cases(path: Path = CASES) -> list[Case]:
    """The labelled items of a file, checked against the seed watchlist's rules."""
    rules = rule_ids(load_file(WATCHLIST))
    return parse_labels(path.read_text(encoding="utf-8"), str(path), rules)


def main(argv: Sequence[str]) -> None:
    path = Path(argv[0]) if argv else CASES
    cases = load_cases(path)
    scores = score(load_file(WATCHLIST), cases).values()
    print(f"{len(cases)} labelled items in {path.name}, {WATCHLIST.relative_to(ROOT)}\n")
    print(table(scores, cap=None))


if __name__ == "__main__":
    main(sys.argv[1:])
