from __future__ import annotations

from pathlib import Path

import pytest

from monitor import query as q
from monitor.matcher import EntityExplanation, Matcher, TopicExplanation, _to_match
from monitor.watchlist import Watchlist, load_file, parse_watchlist

ROOT = Path(__file__).resolve().parent.parent

WATCHLIST = """\
entities:
  kursk:
    aliases: [Kursk, Курск*, 쿠르스크]
    exclude: [Kursk submarine]
  nis:
    aliases:
      - National Intelligence Service
      - {text: NIS, case_sensitive: true}
  storm:
    alert: true
    aliases: [Storm Corps, 폭풍군단, Корпус «Буря»]
  dprk:
    aliases: [North Korea, North Korean*, DPRK]
topics:
  pact:
    query: '@dprk AND (Russia OR Moscow) AND (pact OR treaty OR "mutual assistance")'
  near:
    query: '"Blue House" NEAR/3 raid'
  not-sport:
    query: '@dprk -football'
"""


@pytest.fixture(scope="module")
def watchlist() -> Watchlist:
    return parse_watchlist(WATCHLIST, "w.yaml", "w", "UTC")


@pytest.fixture(scope="module")
def matcher(watchlist: Watchlist) -> Matcher:
    return Matcher([watchlist])


def rules(matcher: Matcher, title: str, text: str = "") -> set[str]:
    return {m.rule for m in matcher.match(title, text)}


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Fighting in Kursk region", {"kursk"}),
        ("Kursk's governor speaks", {"kursk"}),
        ("Kursk-based unit", {"kursk"}),
        ("Jacek Kurski resigns", set()),
        ("Kurskollaps in Berlin", set()),
        ("Бои в Курской области", {"kursk"}),
        ("В Курске объявлена тревога", {"kursk"}),
        ("쿠르스크에서 교전", {"kursk"}),  # no word boundary in Hangul
        ("KURSK", {"kursk"}),
        ("Ｋｕｒｓｋ", {"kursk"}),
        ("Kursk submarine anniversary", set()),  # vetoed by the exclude phrase
    ],
)
def test_entity_aliases(matcher: Matcher, title: str, expected: set[str]) -> None:
    assert rules(matcher, title) == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("NIS says troops moved", {"nis"}),
        ("nis says", set()),
        ("decree nisi granted", set()),
        ("Nis America ships a game", set()),
        ("South Korea's National Intelligence Service said", {"nis"}),
    ],
)
def test_case_sensitive_alias(matcher: Matcher, title: str, expected: set[str]) -> None:
    assert rules(matcher, title) == expected


def test_quotes_and_scripts_in_aliases(matcher: Matcher) -> None:
    assert rules(matcher, 'Корпус "Буря" переброшен') == {"storm"}
    assert rules(matcher, "북한 폭풍군단이 투입") == {"storm"}


def test_topic_query_across_title_and_text(matcher: Matcher) -> None:
    found = matcher.match("Pyongyang and Moscow", "North Korea and Russia signed a treaty in June.")
    topics = {m.rule: m for m in found if m.kind == "topic"}
    assert set(topics) == {"pact", "not-sport"}
    assert topics["pact"].terms == ("Moscow", "North Korea", "Russia", "treaty")
    assert topics["pact"].fields == ("title", "text")


def test_dash_variants_match(matcher: Matcher) -> None:
    assert "pact" in rules(matcher, "The DPRK—Russia “mutual assistance” pact")


def test_not_and_minus(matcher: Matcher) -> None:
    assert "not-sport" in rules(matcher, "North Korea news")
    assert "not-sport" not in rules(matcher, "North Korea football team wins")


def test_near(matcher: Matcher) -> None:
    assert "near" in rules(matcher, "The 1968 Blue House commando raid")
    assert "near" not in rules(matcher, "Blue House tour opens; police discuss a raid years later")


def test_hits_point_into_the_original_text(matcher: Matcher) -> None:
    text = "Officials in  Ｋｕｒｓｋ said"
    [match] = matcher.match("", text)
    [hit] = match.hits
    assert text[hit.start : hit.end] == "Ｋｕｒｓｋ"


def test_prefix_hits_cover_the_whole_word(matcher: Matcher) -> None:
    [match] = matcher.match("Бои в Курской области", "")
    assert [("Бои в Курской области"[h.start : h.end]) for h in match.hits] == ["Курской"]


def test_explain_reports_vetoes_and_the_query_tree(matcher: Matcher) -> None:
    explanations = matcher.explain("Kursk submarine", "North Korea and Russia")
    kursk = next(e for e in explanations if isinstance(e, EntityExplanation))
    assert not kursk.matched and kursk.vetoed_by[0].term == "Kursk submarine"
    pact = next(e for e in explanations if isinstance(e, TopicExplanation) and e.topic.id == "pact")
    assert not pact.matched
    assert [c.value for c in pact.evaluation.children] == [True, True, False]


def test_all_rules_of_the_seed_watchlist_compile() -> None:
    seed = load_file(ROOT / "watchlists" / "dprk-russia.yaml")
    matcher = Matcher([seed])
    found = matcher.match(
        "North Korean troops from the Storm Corps fight in Kursk",
        "South Korea's spy agency (NIS) says Pyongyang sent more units to Russia's war.",
    )
    assert {"storm-corps", "kursk", "dprk", "nis", "dprk-troops-in-war"} <= {m.rule for m in found}


def test_an_empty_matcher_matches_nothing() -> None:
    assert Matcher([]).match("North Korea", "Kursk") == []


CONTEXT_WATCHLIST = """\
entities:
  nis:
    aliases:
      - 국정원
      - text: NIS
        case_sensitive: true
        context: [Korea*, Seoul]
topics:
  spy-news:
    query: '@nis AND (said OR says)'
"""


@pytest.fixture(scope="module")
def context_matcher() -> Matcher:
    return Matcher([parse_watchlist(CONTEXT_WATCHLIST, "c.yaml", "c", "UTC")])


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("NIS says troops moved", "South Korea's parliament was briefed.", {"nis", "spy-news"}),
        ("NIS says troops moved", "Lawmakers in Seoul were briefed.", {"nis", "spy-news"}),
        ("Startup raises NIS 120 million", "The Tel Aviv firm said.", set()),
        ("Kenya's NIS gets a new head", "The president said.", set()),
        ("국정원 발표", "", {"nis"}),  # an alias without context always counts
    ],
)
def test_an_alias_with_context_needs_one_of_its_words(
    context_matcher: Matcher, title: str, text: str, expected: set[str]
) -> None:
    assert rules(context_matcher, title, text) == expected


def test_explain_names_an_alias_dropped_for_want_of_context(context_matcher: Matcher) -> None:
    explanations = context_matcher.explain("Startup raises NIS 120 million", "")
    [explanation] = [e for e in explanations if isinstance(e, EntityExplanation)]
    assert not explanation.matched
    assert [h.term for h in explanation.out_of_context] == ["NIS"]
    assert explanation.hits == ()


def test_the_quick_path_of_match_agrees_with_full_explanations() -> None:
    # match() skips topics that cannot hold given which terms occur at all;
    # it must never disagree with evaluating every candidate in full.
    from tests.labelled import CASES, WATCHLIST, load_cases

    seed = Matcher([load_file(WATCHLIST)])
    cases = load_cases(CASES) + load_cases(CASES.with_name("holdout.yaml"))
    tricky = [("Blue House", "raid far away " + "word " * 20), ("NOT near", "")]
    for title, text in [(c.title, c.summary) for c in cases] + tricky:
        quick = {(m.rule, m.hits) for m in seed.match(title, text)}
        full = {
            (m.rule, m.hits) for m in (_to_match(e) for e in seed.explain(title, text) if e.matched)
        }
        assert quick == full, title


@pytest.mark.parametrize(
    ("query", "present", "may", "must"),
    [
        ("a NEAR/2 b", {"a", "b"}, True, False),
        ("-(a NEAR/2 b) c", {"a", "b", "c"}, True, False),
        ("-(a b) c", {"a", "b", "c"}, False, False),
        ("a OR (b -c)", {"b"}, True, True),
        ("a -b", {"a"}, True, True),
    ],
)
def test_may_and_must_bound_a_query_without_positions(
    query: str, present: set[str], may: bool, must: bool
) -> None:
    tree = q.parse(query)

    def occurs(leaf: q.Leaf) -> bool:
        return str(leaf) in present

    assert (q.may_match(tree, occurs), q.must_match(tree, occurs)) == (may, must)


@pytest.mark.parametrize("apostrophe", ["'", "\u2019", "\u00b4", "`", "\u02bc", "\uff07"])
def test_every_apostrophe_people_type_is_one(apostrophe: str) -> None:
    # An acute accent (U+00B4) typed for an apostrophe: NFKC alone would make
    # it a space and a combining mark, and "NATO´s secretary general" missed.
    watchlist = parse_watchlist(
        "title: W\nentities:\n  nato:\n    aliases: [\"NATO's secretary general\"]\n",
        "w.yaml", "w", "UTC",
    )  # fmt: skip
    found = Matcher([watchlist]).match(f"NATO{apostrophe}s secretary general warns Pyongyang", "")
    assert [m.rule for m in found] == ["nato"]


def test_beijing_is_not_north_korea_in_the_seeds_context_words() -> None:
    # "11th Corps" needs a North Korean word beside it; 北 alone was one,
    # and it is also the first character of 北京 (Beijing).
    seed = Matcher([load_file(ROOT / "watchlists" / "dprk-russia.yaml")])

    def storm(text: str) -> bool:
        return any(m.rule == "storm-corps" for m in seed.match("11th Corps moves", text))

    assert not storm("北京 reacts as the 11th Corps of the Baltic Fleet drills.")
    assert storm("北朝鮮の部隊: the 11th Corps left the Kursk front.")
