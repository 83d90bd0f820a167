"""The meaning check's decisions, with a hand-written encoder: each text is
a vector over a few marker words, so the similarities are known."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from monitor.matcher import Matcher
from monitor.meaning import Vectors, normalise
from monitor.meaningcheck import Checked, check_meaning, similarity_line
from monitor.parsepool import matches_of, snippet_of
from monitor.types import Entry
from monitor.watchlist import Watchlist, parse_watchlist

WATCHLIST = """\
entities:
  dprk: {aliases: [North Korea]}
topics:
  troops:
    query: "@dprk AND troops"
    about: ["war soldiers"]
    min_similarity: 0.6
"""
AXES = ("war", "soldiers", "parade", "football")


class FakeEncoder:
    """A vector per text from the marker words in it; records each batch."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.batches.append(list(texts))
        rows = [[float(word in text.lower()) for word in AXES] + [0.01] for text in texts]
        return normalise(np.array(rows, dtype=np.float32))


def watchlist() -> Watchlist:
    return parse_watchlist(WATCHLIST, "w.yaml", "w", "UTC")


def entry(key: str, title: str, text: str = "") -> Entry:
    return Entry(key, title, text, None, None)


def check(entries: list[Entry], encoder: FakeEncoder, language: str = "en") -> Checked:
    matcher = Matcher([watchlist()])
    matches = [m for e in entries for m in matches_of(matcher, e)]
    return check_meaning(
        matcher.about_topics, entries, matches, encoder, snippet_of, lambda _: language
    )


def rules(checked: Checked, key: str) -> set[str]:
    return {m.match.rule for m in checked.matches if m.item_key == key}


def test_a_keyword_match_below_the_threshold_is_dropped_and_one_above_kept() -> None:
    on = entry("on", "North Korea troops", "soldiers at war near Kursk")
    off = entry("off", "North Korea troops", "a parade and football")
    checked = check([on, off], FakeEncoder())
    assert rules(checked, "on") == {"dprk", "troops"}
    assert rules(checked, "off") == {"dprk"}  # the entity match stays
    assert (checked.candidates, checked.dropped, checked.added) == (2, 1, 0)


def test_an_entity_item_close_to_about_gains_the_topic_and_says_why() -> None:
    near = entry("near", "North Korea sends soldiers", "to the war")
    far = entry("far", "North Korea football", "a parade")
    checked = check([near, far], FakeEncoder())
    assert rules(checked, "far") == {"dprk"}
    gained = next(
        m.match for m in checked.matches if m.item_key == "near" and m.match.kind == "topic"
    )
    assert gained.rule == "troops"
    assert gained.terms[0].startswith("about: ") and "≥ 0.60" in gained.terms[0]
    assert gained.terms[1:] == ("North Korea",)
    assert checked.added == 1


def test_a_ukrainian_item_keeps_what_its_keywords_matched() -> None:
    off = entry("off", "North Korea troops", "a parade and football")
    near = entry("near", "North Korea sends soldiers", "to the war")
    encoder = FakeEncoder()
    checked = check([off, near], encoder, language="uk")
    assert rules(checked, "off") == {"dprk", "troops"}
    assert rules(checked, "near") == {"dprk"}
    assert encoder.batches == []


def test_candidates_are_embedded_in_one_batch_and_about_once_per_encoder() -> None:
    encoder = FakeEncoder()
    items = [entry(str(n), f"North Korea troops {n}", "war") for n in range(3)]
    check([*items, entry("none", "Weather in Oslo")], encoder)
    check(items, encoder)
    assert [len(batch) for batch in encoder.batches] == [3, 1, 3]  # items, about, items


def test_nothing_is_embedded_without_a_candidate() -> None:
    encoder = FakeEncoder()
    checked = check([entry("x", "Weather in Oslo")], encoder)
    assert checked.matches == () and encoder.batches == []


def test_the_similarity_is_shown_against_its_threshold() -> None:
    assert similarity_line(0.617, 0.4) == "about: 0.62 ≥ 0.40"
    assert similarity_line(0.31, 0.4) == "about: 0.31 < 0.40"


def test_tune_finds_the_threshold_that_separates_the_candidates() -> None:
    from monitor.tune import LabelledItem, about_thresholds, thresholds_table

    items = [
        LabelledItem("a", "North Korea troops", "soldiers at war", frozenset({"dprk", "troops"})),
        LabelledItem("b", "North Korea soldiers", "war", frozenset({"dprk", "troops"})),
        LabelledItem("c", "North Korea troops", "a parade and football", frozenset({"dprk"})),
        LabelledItem("d", "Weather in Oslo", "rain", frozenset()),
    ]
    best = about_thresholds(watchlist(), items, FakeEncoder())
    assert set(best) == {"troops"}
    assert (best["troops"].precision, best["troops"].recall) == (1.0, 1.0)
    assert best["troops"].threshold > 0.5  # above c, the parade
    line = thresholds_table(watchlist(), best)
    assert line.startswith("troops: min_similarity 0.60 now; best ")
    assert "(precision 1.00, recall 1.00 of its candidates" in line


def test_tune_scores_rules_as_the_service_checks_them() -> None:
    from monitor.tune import LabelledItem, RuleScore, score

    items = [
        # keywords and meaning agree: kept
        LabelledItem("a", "North Korea troops", "soldiers at war", frozenset({"dprk", "troops"})),
        # keywords match a parade: the check drops it, rightly
        LabelledItem("c", "North Korea troops", "a parade and football", frozenset({"dprk"})),
        # no topic words, but an entity and the meaning: added
        LabelledItem("e", "North Korea", "soldiers at war", frozenset({"dprk", "troops"})),
    ]
    keywords, checked = score(watchlist(), items), score(watchlist(), items, FakeEncoder())
    assert keywords["troops"] == RuleScore("troops", ["a"], ["c"], ["e"])
    assert checked["troops"] == RuleScore("troops", ["a", "e"], [], [])
    assert checked["dprk"] == keywords["dprk"] == RuleScore("dprk", ["a", "c", "e"], [], [])
