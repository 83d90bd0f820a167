"""The seed watchlist against the labelled set: precision and recall per rule.

`python -m tests.labelled` prints the same figures as a table.
"""

from __future__ import annotations

from collections import Counter

import pytest

from monitor.watchlist import load_file
from tests.labelled import WATCHLIST, Score, load_cases, rule_ids, score

BAR = 0.95
CASES = load_cases()
SEED = load_file(WATCHLIST)
SCORES = score(SEED, CASES)


def test_the_set_is_large_and_covers_every_rule() -> None:
    assert len(CASES) >= 150
    assert len({case.id for case in CASES}) == len(CASES)
    positives = Counter(rule for case in CASES for rule in case.expect)
    # A rule with a handful of positives would make recall meaningless.
    assert {rule: positives[rule] for rule in rule_ids(SEED) if positives[rule] < 8} == {}
    assert set(positives) <= set(rule_ids(SEED)), "labels name rules the watchlist lacks"
    negatives = [case for case in CASES if not case.expect]
    assert len(negatives) >= 40


@pytest.mark.parametrize("rule", rule_ids(SEED))
def test_precision_and_recall(rule: str) -> None:
    result: Score = SCORES[rule]
    assert result.precision >= BAR, f"{rule} wrongly hit: {result.false_positives}"
    assert result.recall >= BAR, f"{rule} missed: {result.false_negatives}"
