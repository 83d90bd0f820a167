"""monitor/tune.py: labels read and checked, rules scored, a threshold picked."""

from __future__ import annotations

import ast
import math
from collections import Counter
from pathlib import Path

import pytest

from monitor.matcher import EntityExplanation, Explanation, Matcher
from monitor.tune import (
    LabelledItem,
    LabelsError,
    RuleScore,
    Threshold,
    best_threshold,
    overall,
    parse_labels,
    rule_ids,
    score,
    table,
    tally,
)
from monitor.watchlist import load_file, parse_watchlist

ROOT = Path(__file__).resolve().parent.parent
REPORTS_A = ROOT / "tests" / "data" / "matching" / "reports-a.yaml"
SEED = ROOT / "watchlists" / "dprk-russia.yaml"

LABELS = """\
# a comment
- id: a-1
  title: "Troops shell Kursk"
  summary: |
    First paragraph.

    Second paragraph.
  expect: [kursk, war]
- id: a-2
  title: Putin speaks
  expect: []
  must_not: [war]
- id: a-3
  title: No summary
  expect:
"""


def problems(source: str, rules: list[str] | None = None) -> list[str]:
    with pytest.raises(LabelsError) as caught:
        parse_labels(source, "l.yaml", rules)
    return [str(d) for d in caught.value.diagnostics]


# --- reading ------------------------------------------------------------------------


def test_items_are_read_with_their_labels_and_lines() -> None:
    items = parse_labels(LABELS, "l.yaml", ["kursk", "war", "putin"])
    assert items == [
        LabelledItem(
            "a-1",
            "Troops shell Kursk",
            "First paragraph.\n\nSecond paragraph.\n",
            frozenset({"kursk", "war"}),
            None,
            2,
        ),
        LabelledItem("a-2", "Putin speaks", "", frozenset(), frozenset({"war"}), 9),
        LabelledItem("a-3", "No summary", "", frozenset(), None, 13),
    ]


def test_without_must_not_expect_is_complete_with_it_only_named_rules_are_judged() -> None:
    complete, partial, _ = parse_labels(LABELS, "l.yaml")
    assert [complete.judges(rule) for rule in ("kursk", "war", "putin")] == [True, True, True]
    assert [partial.judges(rule) for rule in ("kursk", "war", "putin")] == [False, True, False]


def test_every_problem_is_reported_at_once_at_its_line_and_column() -> None:
    source = """\
- id: one
  title: First
  expect: [dprk, kursk]
- id: one
  title: Second
  expect: [dprk, nowhere, dprk]
- title: No id
  expect: []
- id: four
  title: Missing expect
- id: five
  title: Both
  expect: [dprk]
  must_not: [dprk, putin]
- id: six
  title: ""
  expect: dprk
  colour: red
- just text
"""
    assert problems(source, ["dprk", "kursk", "putin"]) == [
        "l.yaml:4:7: duplicate id 'one' (first at line 1)",
        "l.yaml:6:18: item 'one': expect: no rule 'nowhere' in the watchlist",
        "l.yaml:6:27: item 'one': expect: 'dprk' listed twice",
        "l.yaml:7:3: item at line 7: id: missing",
        "l.yaml:9:3: item 'four': expect: missing (use [] when no rule should hit)",
        "l.yaml:14:13: item 'five': 'dprk' is in both expect and must_not",
        "l.yaml:16:10: item 'six': title: empty",
        "l.yaml:17:11: item 'six': expect: must be a list of rule ids, e.g. [dprk, kursk]",
        "l.yaml:18:3: unknown key 'colour' (known: id, title, summary, expect, must_not)",
        "l.yaml:19:3: an item is a mapping (id: ..., title: ..., expect: [...])",
    ]


def test_unknown_rules_are_only_an_error_when_the_rules_are_given() -> None:
    source = "- id: x\n  title: T\n  expect: [nowhere]\n  must_not: [elsewhere]\n"
    assert parse_labels(source, "l.yaml")[0].expect == frozenset({"nowhere"})
    assert problems(source, ["dprk"]) == [
        "l.yaml:3:12: item 'x': expect: no rule 'nowhere' in the watchlist",
        "l.yaml:4:14: item 'x': must_not: no rule 'elsewhere' in the watchlist",
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("- id: a\n  title: [x\n", "l.yaml:3:1: not YAML: did not find expected ',' or ']'"),
        ("", "l.yaml:1:1: no labelled items"),
        ("[]\n", "l.yaml:1:1: no labelled items"),
        ("id: a\n", "l.yaml:1:1: a labels file is a YAML list of items (- id: ...)"),
        ("- id: [a]\n  title: T\n  expect: []\n", "l.yaml:1:7: item at line 1: id: must be text"),
        ("- id: a\n  id: b\n  title: T\n  expect: []\n", "l.yaml:2:3: key 'id' given twice"),
    ],
)
def test_a_file_that_is_not_a_list_of_items_is_refused(source: str, message: str) -> None:
    assert problems(source) == [message]


def test_the_error_message_holds_every_problem() -> None:
    with pytest.raises(LabelsError) as caught:
        parse_labels("- title: A\n  expect: []\n- title: B\n  expect: []\n", "x.yaml")
    assert caught.value.message == (
        "x.yaml:1:3: item at line 1: id: missing\nx.yaml:3:3: item at line 3: id: missing"
    )


# --- scoring ------------------------------------------------------------------------


def item(item_id: str, expect: set[str], must_not: set[str] | None = None) -> LabelledItem:
    judged = None if must_not is None else frozenset(must_not)
    return LabelledItem(item_id, item_id, "", frozenset(expect), judged)


def test_tally_counts_a_wrong_hit_only_where_the_item_judges_the_rule() -> None:
    items = [
        item("both", {"a", "b"}),
        item("none", set()),
        item("partial", {"a"}, must_not={"b"}),
        item("unlabelled", {"a"}, must_not=set()),
    ]
    hits = {"both": {"a"}, "none": {"a", "b"}, "partial": {"b", "c"}, "unlabelled": {"b", "c"}}
    scores = tally(["a", "b", "c"], items, lambda i: hits[i.id])
    assert scores == {
        "a": RuleScore("a", ["both"], ["none"], ["partial", "unlabelled"]),
        "b": RuleScore("b", [], ["none", "partial"], ["both"]),
        "c": RuleScore("c", [], [], []),
    }


def test_precision_recall_and_f1() -> None:
    rule = RuleScore("r", ["a", "b", "c"], ["d"], ["e", "f"])
    assert (rule.positives, rule.precision, rule.recall) == (5, 0.75, 0.6)
    assert rule.f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    # Nothing found and nothing to find: nothing was wrong.
    assert (RuleScore("r").precision, RuleScore("r").recall, RuleScore("r").f1) == (1.0, 1.0, 1.0)
    # Only wrong hits: no precision, and recall is vacuous.
    assert (RuleScore("r", [], ["x"]).precision, RuleScore("r", [], ["x"]).f1) == (0.0, 0.0)
    pooled = overall([rule, RuleScore("s", ["g"], [], ["h"])])
    assert (pooled.rule, pooled.positives, pooled.precision, pooled.recall) == (
        "all rules",
        7,
        0.8,
        4 / 7,
    )


WATCHLIST = """\
title: Test
entities:
  kursk:
    aliases: [Kursk]
  putin:
    aliases: [Putin]
topics:
  war:
    query: "@kursk AND troops"
"""


def test_score_runs_the_watchlists_matcher_over_the_items() -> None:
    watchlist = parse_watchlist(WATCHLIST, "w.yaml", "w", "UTC")
    labels = """\
- {id: a, title: "Troops shell Kursk", expect: [kursk, war]}
- {id: b, title: "Putin visits Kursk", expect: [putin]}
- {id: c, title: "Putin speaks", expect: [], must_not: [war]}
- {id: d, title: "Troops near Kursk", expect: [kursk], must_not: [putin]}
- {id: e, title: "Putin and the front", summary: "Troops dig in.", expect: [putin, war]}
"""
    items = parse_labels(labels, "l.yaml", rule_ids(watchlist))
    assert rule_ids(watchlist) == ["kursk", "putin", "war"]
    assert score(watchlist, items) == {
        "kursk": RuleScore("kursk", ["a", "d"], ["b"], []),
        "putin": RuleScore("putin", ["b", "e"], [], []),
        "war": RuleScore("war", ["a"], [], ["e"]),
    }


def test_the_table_shows_each_rule_then_what_it_got_wrong_capped() -> None:
    scores = [
        RuleScore("kursk", ["a", "b", "c"], ["d"], ["e"]),
        RuleScore("nato-secretary-general", ["a"], [], []),
    ]
    assert table(scores, cap=2) == "\n".join(
        [
            "rule                    positives  precision  recall     F1",
            "kursk                           4      0.750   0.750  0.750",
            "nato-secretary-general          1      1.000   1.000  1.000",
            "all rules                       5      0.800   0.800  0.800",
            "",
            "kursk wrongly hit (1): d",
            "kursk missed (1): e",
        ]
    )
    many = RuleScore("r", [], [f"x{n}" for n in range(5)], [])
    assert table([many], cap=3).splitlines()[-1] == "r wrongly hit (5): x0, x1, x2, ... and 2 more"
    assert table([many], cap=None).splitlines()[-1] == "r wrongly hit (5): x0, x1, x2, x3, x4"
    assert table([many], cap=5).splitlines()[-1] == "r wrongly hit (5): x0, x1, x2, x3, x4"
    assert "\n\n" not in table([RuleScore("r", ["a"])])


# --- the threshold ------------------------------------------------------------------


def rounded(best: Threshold) -> tuple[float, ...]:
    return tuple(round(value, 6) for value in best)


def test_best_threshold_maximises_f1() -> None:
    scored = [
        (0.6, True),
        (0.9, True),
        (0.8, False),
        (0.7, True),
        (0.5, False),
        (0.3, True),
        (0.2, False),
    ]
    # 0.6 keeps 3 of 4 positives and 1 negative (F1 0.75); 0.3 keeps all
    # four positives and two negatives (P 2/3, R 1, F1 0.8).
    best = best_threshold(scored)
    assert isinstance(best, Threshold)
    threshold, precision, recall, f1 = best
    assert (threshold, round(precision, 6), recall, round(f1, 6)) == (0.3, 0.666667, 1.0, 0.8)


def test_a_tie_in_f1_goes_to_the_higher_precision() -> None:
    # 0.9: TP 1, FN 1 (P 1, R 0.5); 0.3: TP 2, FP 2 (P 0.5, R 1): both F1 2/3.
    scored = [(0.9, True), (0.5, False), (0.4, False), (0.3, True)]
    assert rounded(best_threshold(scored)) == (0.9, 1.0, 0.5, 0.666667)


@pytest.mark.parametrize("scored", [[(0.7, True), (0.7, False)], [(0.7, False), (0.7, True)]])
def test_equal_similarities_are_kept_or_dropped_together(scored: list[tuple[float, bool]]) -> None:
    assert rounded(best_threshold(scored)) == (0.7, 0.5, 1.0, 0.666667)


def test_with_no_positives_the_threshold_drops_every_candidate() -> None:
    best = best_threshold([(0.2, False), (0.4, False)])
    assert best == Threshold(math.nextafter(0.4, math.inf), 1.0, 1.0, 1.0)
    assert best.threshold > 0.4


def test_a_single_positive_is_kept() -> None:
    assert best_threshold([(-0.25, True)]) == Threshold(-0.25, 1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("scored", "message"),
    [([], "no scored candidates"), ([(math.nan, True)], "NaN")],
)
def test_best_threshold_refuses_what_it_cannot_rank(
    scored: list[tuple[float, bool]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        best_threshold(scored)


# --- the module and the labelled set ------------------------------------------------


def test_tune_imports_only_the_model_layer() -> None:
    tree = ast.parse((ROOT / "monitor" / "tune.py").read_text(encoding="utf-8"))
    imported = {
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    project = {name for name in imported if name.startswith("monitor")}
    assert project == {
        "monitor.errors", "monitor.matcher", "monitor.meaning", "monitor.meaningcheck",
        "monitor.watchlist",
    }  # fmt: skip
    assert imported - project <= {"__future__", "ast", "math", "collections.abc", "dataclasses",
                                  "typing", "yaml"}  # fmt: skip


def test_reports_a_is_large_covers_every_rule_and_names_only_seed_rules() -> None:
    rules = rule_ids(load_file(SEED))
    items = parse_labels(REPORTS_A.read_text(encoding="utf-8"), str(REPORTS_A), rules)
    languages = Counter(entry.id.split("-")[1] for entry in items)
    assert len(items) >= 170
    assert languages["en"] >= 65 and languages["ko"] >= 45 and languages["pl"] >= 45
    assert set(languages) == {"en", "ko", "pl"}
    positives = Counter(rule for entry in items for rule in entry.expect)
    assert {rule: positives[rule] for rule in rules if positives[rule] < 6} == {}
    assert sum(1 for entry in items if not entry.expect) >= 40
    assert all(entry.must_not is None for entry in items)


LABELLED_SETS = [
    "cases",
    "holdout",
    "reports-a",
    "reports-b",
    "blind",
    "blind2",
    "blind3",
    "blind4",
    "blind5",
    "blind6",
    "blind7",
    "blind8",
    "blind9",
    "blind10",
    "blind11",
]


@pytest.mark.parametrize("name", LABELLED_SETS)
def test_every_labelled_set_reads_and_names_only_the_seeds_rules(name: str) -> None:
    path = ROOT / "tests" / "data" / "matching" / f"{name}.yaml"
    items = parse_labels(path.read_text(encoding="utf-8"), str(path), rule_ids(load_file(SEED)))
    assert len(items) >= 80
    assert len({entry.id for entry in items}) == len(items)


@pytest.mark.parametrize("name", LABELLED_SETS)
def test_what_matches_is_what_monitor_test_explains(name: str) -> None:
    """The matcher skips topics whose terms cannot all be present; the
    explanation evaluates every one. On real-shaped items both say the same
    (they did not when a title and a dateline named the same place)."""
    path = ROOT / "tests" / "data" / "matching" / f"{name}.yaml"
    watchlist = load_file(SEED)
    matcher = Matcher([watchlist])
    items = parse_labels(path.read_text(encoding="utf-8"), str(path), rule_ids(watchlist))
    differ = {
        entry.id
        for entry in items
        if {m.rule for m in matcher.match(entry.title, entry.summary)}
        != {_rule(e) for e in matcher.explain(entry.title, entry.summary) if e.matched}
    }
    assert differ == set()


def _rule(explanation: Explanation) -> str:
    if isinstance(explanation, EntityExplanation):
        return explanation.entity.id
    return explanation.topic.id
