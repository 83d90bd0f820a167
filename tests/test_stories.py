"""Stories, not copies: the clustering set in tests/data/stories.yaml."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.briefing import briefing
from monitor.digest import Renderer, rules_in_order, story_ids
from monitor.stories import Report, group, headline_threshold, shingles, tokens
from monitor.types import Snippet, StoredMatch
from monitor.watchlist import parse_watchlist
from tests.conftest import ROOT
from tests.golden import assert_golden

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "stories.yaml").read_text(encoding="utf-8")
)
T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def reports() -> list[Report]:
    return [Report(c["title"], c["text"], (c["source"],)) for c in CASES]


def labelled(groups: list[list[int]]) -> set[frozenset[str]]:
    return {frozenset(CASES[i]["id"] for i in members) for members in groups}


def expected() -> set[frozenset[str]]:
    by_story: dict[str, set[str]] = defaultdict(set)
    for case in CASES:
        by_story[case["story"]].add(case["id"])
    return {frozenset(ids) for ids in by_story.values()}


def test_the_clustering_set_groups_exactly_as_labelled() -> None:
    groups = group(reports())
    assert labelled(groups) == expected()
    assert (len(CASES), len(groups)) == (26, 19)
    lines = [" | ".join(CASES[i]["id"] + ": " + CASES[i]["title"] for i in g) for g in groups]
    assert_golden("stories.txt", "\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("a", "b"),
    [("d1", "d2"), ("e1", "e2"), ("f1", "f2"), ("r1", "r2"), ("h1", "h2"), ("m1", "m2")],
)
def test_look_alikes_stay_apart_at_the_default_threshold(a: str, b: str) -> None:
    pair = [c for c in CASES if c["id"] in (a, b)]
    assert len(group([Report(c["title"], c["text"], (c["source"],)) for c in pair])) == 2


def test_the_threshold_decides_how_much_merges() -> None:
    loose, default, strict = (len(group(reports(), t)) for t in (0.3, 0.5, 0.99))
    assert loose < default < strict  # 0.3 merges Kursk with Pokrovsk; 0.99 keeps copies apart
    assert headline_threshold(0.5) == 0.75
    with pytest.raises(ValueError, match="threshold"):
        group(reports(), 0)


def test_boilerplate_of_one_outlet_is_not_a_story_but_copies_elsewhere_are() -> None:
    h1, h2 = (next(c for c in CASES if c["id"] == i) for i in ("h1", "h2"))
    same_outlet = [Report(c["title"], c["text"], ("Example News",)) for c in (h1, h2)]
    two_outlets = [Report(h1["title"], h1["text"], ("A",)), Report(h2["title"], h2["text"], ("B",))]
    assert len(group(same_outlet)) == 2
    assert len(group(two_outlets)) == 1  # the same long text elsewhere is a copy


def test_tokens_keep_numbers_whole_and_split_unspaced_scripts() -> None:
    assert tokens("Day 1,005: 11th Corps") == ["day", "1,005", "11th", "corps"]
    assert "1,005" in shingles("day 1,005") and "day 1,005" in shingles("day 1,005")
    assert tokens("朝鲜军队") == ["朝鲜", "鲜军", "军队"]


def stored(case: dict[str, Any], index: int, rule: str = "dprk") -> StoredMatch:
    return StoredMatch(
        id=index + 1, watchlist="w", rule=rule, kind="entity", terms=("North Korea",),
        fields=("title",), snippet=Snippet(case["text"][:120]),
        first_seen_at=T0 + timedelta(minutes=index), item_title=case["title"],
        item_url=f"https://news.example/{case['id']}", published_at=None,
        sources=(case["source"],),
    )  # fmt: skip


WATCHLIST = parse_watchlist(
    "title: W\nentities:\n  dprk:\n    name: North Korea\n    aliases: [North Korea]\n",
    "w.yaml", "w", "UTC",
)  # fmt: skip


def test_stories_rank_by_sources_then_recency() -> None:
    matches = [stored(c, i) for i, c in enumerate(CASES)]
    texts = {m.id: (m.id, c["text"]) for m, c in zip(matches, CASES, strict=True)}
    stories = briefing(matches, story_ids(matches, texts), rules_in_order(WATCHLIST))
    assert len(stories) == 19 and sum(len(s.matches) for s in stories) == 26
    first, second = stories[:2]  # three outlets each: the newer story first
    assert first.lead.item_title.startswith("North Korea fires")
    assert second.lead.item_title == CASES[0]["title"]  # a1 leads: seen first
    assert second.sources == ("Example Wire", "Daily Courier", "Harbour Times")
    assert [name for name, _, _ in second.also_outlets] == ["Daily Courier", "Harbour Times"]
    counts = [len(s.sources) for s in stories]
    assert counts == sorted(counts, reverse=True)
    singles = [s.time.at for s in stories if len(s.sources) == 1]
    assert singles == sorted(singles, reverse=True)  # then the newest first


def test_a_story_reads_as_one_entry_with_also_reported_by() -> None:
    from monitor.compose import digest_plan
    from monitor.digest import DigestFigures
    from monitor.types import DigestRecord

    matches = [stored(c, i) for i, c in enumerate(CASES[:3])]  # a1, a2, a3
    record = DigestRecord(1, "w", T0 + timedelta(hours=2), T0, T0 + timedelta(hours=2), "q", 3)
    plan = digest_plan(WATCHLIST, record, matches, ())
    figures = DigestFigures(
        texts={m.id: (m.id, c["text"]) for m, c in zip(matches, CASES, strict=False)}
    )
    rendered = Renderer(ROOT / "templates").digest(plan, WATCHLIST, figures)
    assert rendered.text.count("\n1. ") == 1 and "\n2. " not in rendered.text
    assert "3 matches in 1 story." in rendered.text
    assert "also: Daily Courier https://" in rendered.text  # each outlet once, with its link
    assert "· 3 sources" in rendered.text
    assert "Also reported by" in rendered.html and "<strong>3 sources</strong>" in rendered.html


# --- recurring titles --------------------------------------------------------------

DAY = timedelta(hours=24)


def test_a_recurring_title_on_another_day_is_another_story() -> None:
    monday = Report("Press Review", "Rodong Sinmun on the harvest in full.", ("KCPA",), T0)
    tuesday = Report("Press Review", "Minju Joson on steel output today.", ("KCPA",), T0 + DAY)
    day_1091 = Report("Russia-Ukraine war: day 1,091", "", ("Live",), T0)
    day_1092 = Report("Russia-Ukraine war: day 1,092", "", ("Live",), T0 + DAY)
    assert len(group([monday, tuesday])) == 2
    assert len(group([day_1091, day_1092])) == 2  # their numbers differ too
    # Within hours, one headline is one story, as before; so where no time is known.
    later_that_day = Report("Press Review", "Other words, said again.", ("Wire",), T0 + DAY / 8)
    assert len(group([monday, later_that_day])) == 1
    assert len(group([replace(monday, when=None), replace(tuesday, when=None)])) == 1


def test_the_cross_outlet_set_joins_nothing_wrongly_by_words() -> None:
    """tests/data/stories/: each outlet's own wording of one event in five
    languages, look-alike events, recurring titles. Words join no two
    reports there (outlets share too few) but one item carried by two feeds;
    without publication times, the recurring titles were joined across days."""
    from tests import storyset

    cases = storyset.load()
    assert len(cases) >= 200 and {c["lang"] for c in cases} == {"en", "ru", "uk", "ko", "pl"}
    dated = storyset.reports(cases)
    by_words = storyset.score(cases, group(dated))
    assert by_words.grouped_pairs == by_words.true_pairs == 1
    undated = storyset.score(cases, group([replace(r, when=None) for r in dated]))
    assert undated.grouped_pairs > undated.true_pairs
