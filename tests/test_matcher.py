from __future__ import annotations

from pathlib import Path

import pytest

from monitor import query as q
from monitor.matcher import EntityExplanation, Matcher, TopicExplanation, _to_match
from monitor.queryparse import parse
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


def test_a_korean_particle_after_a_latin_alias_is_a_boundary(matcher: Matcher) -> None:
    # Korean attaches particles to any word, Latin ones too: "DPRK는", "Kursk에서".
    assert "dprk" in rules(matcher, "DPRK는 병력을 보냈다")
    assert rules(matcher, "Kursk에서 교전") == {"kursk"}
    assert "dprk" in rules(matcher, "대DPRK 제재 강화")  # and before it: 對, 反, 대
    assert rules(matcher, "DPRKs and Kursky") == set()  # a Latin letter still joins


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


WORD_START_WATCHLIST = """
entities:
  pyongyang:
    aliases:
      - text: 평양
        word_start: true
  korean-anywhere:
    aliases: [평양]
"""


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        # Hangul attaches particles after a word, never before it.
        ("평양이 러시아로 보낸 병사들", {"pyongyang", "korean-anywhere"}),
        ("평양에서 열린 회담", {"pyongyang", "korean-anywhere"}),
        ("북태평양 고기압이 확장", {"korean-anywhere"}),
        ("태평양으로 미사일 발사", {"korean-anywhere"}),
        # Only Hangul right before it joins it to a longer word.
        ("9·19평양공동선언 6주년", {"pyongyang", "korean-anywhere"}),
        ("KCNA평양 발", {"pyongyang", "korean-anywhere"}),
    ],
)
def test_a_word_start_alias_does_not_match_inside_a_word(title: str, expected: set[str]) -> None:
    # The same text with and without the flag in one watchlist: two patterns.
    matcher = Matcher([parse_watchlist(WORD_START_WATCHLIST, "k.yaml", "k", "UTC")])
    assert rules(matcher, title) == expected


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
    tree = parse(query)

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


# --- scope, datelines and scoped excludes (issue 18) ------------------------------

SCOPED_WATCHLIST = """\
entities:
  dprk:
    aliases: [North Korea, North Korean*, DPRK, Pyongyang, КНДР]
  pyongyang-anywhere:
    aliases: [Pyongyang]
    dateline: count
  kursk:
    aliases: [Kursk]
    exclude: [submarine*, Kursk submarine]
  kursk-item:
    aliases: [Kursk]
    exclude: [submarine*]
    exclude_scope: item
  lavrov:
    aliases: [Lavrov]
    exclude: [Kirill Lavrov]
topics:
  troops:
    query: '@dprk AND (troops OR forces) AND (Ukraine OR Russia)'
  troops-in-a-sentence:
    query: 'SENTENCE(@dprk AND (troops OR forces)) AND Ukraine'
  troops-in-a-paragraph:
    query: 'PARAGRAPH(@dprk troops Kursk)'
  missiles:
    query: 'missile* NEAR/8 Ukraine'
  forces-count-dateline:
    query: '@dprk AND forces'
    dateline: count
  vladivostok:
    query: 'SENTENCE(Vladivostok AND @dprk)'
  their-own-troops:
    query: 'SENTENCE(@dprk AND ((troops OR войска) NOT NEAR/1 (Russian OR российские)))'
"""


@pytest.fixture(scope="module")
def scoped() -> Matcher:
    return Matcher([parse_watchlist(SCOPED_WATCHLIST, "s.yaml", "s", "UTC")])


KCNA = "PYONGYANG, June 14 (KCNA) -- The armed forces of Ukraine keep shelling, the paper said."
LIVE = (
    "North Korean troops are fighting in the Kursk region, Kyiv says.\n\n"
    "Later, relatives marked the anniversary of the Kursk submarine disaster."
)


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        # A dateline is the place of filing: Pyongyang there is no subject.
        ("Press review", KCNA, {"pyongyang-anywhere", "forces-count-dateline"}),
        (
            "Press review",
            "SEOUL, Nov. 5 (Yonhap) -- The DPRK forces in Russia...",
            {"dprk", "troops", "forces-count-dateline"},
        ),
        ("Forum", "VLADIVOSTOK (Reuters) - A North Korean delegation arrived.", {"dprk"}),
        ("Forum", "A North Korean delegation arrived in Vladivostok.", {"dprk", "vladivostok"}),
        # The title names North Korea; the dateline's Pyongyang is still no subject.
        (
            "North Korea's press review",
            KCNA,
            {"dprk", "pyongyang-anywhere", "troops", "forces-count-dateline"},
        ),
        # The title names the city: the dateline's is still the place of filing.
        (
            "Vladivostok forum opens",
            "VLADIVOSTOK (Reuters) - A North Korean delegation arrived.",
            {"dprk"},
        ),
        # The title names the city, the dateline names it again: the title counts.
        (
            "North Korean delegation lands in Vladivostok",
            "VLADIVOSTOK (Reuters) - Talks began on Monday.",
            {"dprk", "vladivostok"},
        ),
        # Not a dateline: the same words inside a sentence count.
        (
            "Press review",
            "In Pyongyang, June 14, the armed forces of Ukraine were discussed.",
            {
                "dprk",
                "pyongyang-anywhere",
                "troops",
                "troops-in-a-sentence",
                "forces-count-dateline",
            },
        ),
        # NEAR/8 stays in one sentence, and the title is a sentence of its own.
        ("Missile strike", "A missile hit Kharkiv. Ukraine said troops were nearby.", set()),
        ("Missile strike on Kharkiv", "Ukraine said troops were nearby.", set()),
        ("Strike", "A missile hit Kharkiv, Ukraine said.", {"missiles"}),
        # SENTENCE: the entity and the troops in one sentence.
        (
            "War in Ukraine",
            "North Korea denies it. Russian troops moved.",
            {"dprk", "troops"},
        ),
        (
            "War in Ukraine",
            "North Korean troops moved, officials say.",
            {"dprk", "troops", "troops-in-a-sentence", "their-own-troops"},
        ),
        # NOT NEAR: Russia's troops with North Korean shells are not North Korea's.
        (
            "Shelling",
            "Russian troops fired North Korean shells at Ukraine's positions.",
            {"dprk", "troops", "troops-in-a-sentence"},
        ),
        ("Обстрел", "Российские войска применили снаряды из КНДР.", {"dprk"}),
        ("Курск", "Войска КНДР заняли село.", {"dprk", "their-own-troops"}),
        (
            "War in Ukraine",
            "Russian troops fell back, and North Korean troops took the village.",
            {"dprk", "troops", "troops-in-a-sentence", "their-own-troops"},
        ),
    ],
)
def test_scope_and_datelines(scoped: Matcher, title: str, text: str, expected: set[str]) -> None:
    assert rules(scoped, title, text) == expected


def test_paragraph_scope_follows_line_breaks(scoped: Matcher) -> None:
    together = "North Korean troops crossed. They reached Kursk.\n\nOther news."
    apart = "North Korean troops crossed.\n\nThey reached Kursk."
    assert "troops-in-a-paragraph" in rules(scoped, "Update", together)
    assert "troops-in-a-paragraph" not in rules(scoped, "Update", apart)
    assert "troops-in-a-paragraph" not in rules(scoped, "Kursk", "North Korean troops crossed.")


def test_an_exclude_vetoes_only_its_sentence(scoped: Matcher) -> None:
    found = {m.rule: m for m in scoped.match("Live: war in Ukraine", LIVE)}
    assert set(found) == {
        "dprk",
        "kursk",
        "troops",
        "troops-in-a-sentence",
        "troops-in-a-paragraph",
        "their-own-troops",
    }
    assert [(h.term, LIVE[h.start : h.end]) for h in found["kursk"].hits] == [("Kursk", "Kursk")]
    assert found["kursk"].hits[0].start == LIVE.index("Kursk")
    [explanation] = [
        e
        for e in scoped.explain("Live: war in Ukraine", LIVE)
        if isinstance(e, EntityExplanation) and e.entity.id == "kursk"
    ]
    assert [h.start for h in explanation.vetoed] == [LIVE.index("Kursk submarine")]
    assert [h.term for h in explanation.vetoed_by] == ["Kursk submarine", "submarine*"]


@pytest.mark.parametrize(
    ("title", "text", "kursk"),
    [
        # The headline says what the item is about: it goes with every sentence.
        ("Divers recall the Kursk", "The sunken submarine lay at 108 metres.", False),
        ("Kursk submarine: 25 years on", "Troops in Kursk mourned the crew.", False),
        ("Live: Kursk", "North Korean troops in Kursk. A submarine film opens.", True),
        # A look-alike ("Kursk submarine") is what later bare mentions refer back to.
        ("Anniversary", "The Kursk submarine sank in 2000. Kursk was its name.", False),
        ("Anniversary", "Kursk was shelled. The Kursk submarine sank in 2000.", True),
    ],
)
def test_the_headline_and_look_alikes_reach_beyond_their_sentence(
    scoped: Matcher, title: str, text: str, kursk: bool
) -> None:
    assert ("kursk" in rules(scoped, title, text)) is kursk
    assert "kursk-item" not in rules(scoped, title, text)  # exclude_scope: item


def test_a_look_alike_name_vetoes_the_bare_mentions_after_it(scoped: Matcher) -> None:
    text = "The theatre marked the centenary of actor Kirill Lavrov. Lavrov appeared in 60 films."
    assert "lavrov" not in rules(scoped, "Theatre", text)
    assert "lavrov" in rules(scoped, "Talks", "Lavrov met Rubio. Kirill Lavrov films were shown.")


NOODLES = """
entities:
  dprk:
    aliases: [북한, {text: 평양, word_start: true}]
    exclude: [평양냉면]
"""


@pytest.mark.parametrize(
    ("text", "dprk"),
    [
        # The look-alike takes the later mentions of the alias it covers...
        ("만찬에서 평양냉면을 들었다. 평양에서 회담이 열렸다.", False),
        # ...not the entity's other aliases.
        ("만찬에서 평양냉면을 들었다. 북한과 러시아는 조약에 서명했다.", True),
    ],
)
def test_a_look_alike_vetoes_later_mentions_of_its_own_alias_only(text: str, dprk: bool) -> None:
    matcher = Matcher([parse_watchlist(NOODLES, "n.yaml", "n", "UTC")])
    assert ("dprk" in rules(matcher, "정상회담", text)) is dprk


def test_explain_says_which_mentions_the_dateline_took(scoped: Matcher) -> None:
    explanations = {
        (e.entity.id if isinstance(e, EntityExplanation) else e.topic.id): e
        for e in scoped.explain("Press review", KCNA)
    }
    dprk = explanations["dprk"]
    assert isinstance(dprk, EntityExplanation) and not dprk.matched
    assert [(h.term, h.start, h.end) for h in dprk.in_dateline] == [("Pyongyang", 0, 9)]
    counted = explanations["pyongyang-anywhere"]
    assert isinstance(counted, EntityExplanation) and [h.start for h in counted.hits] == [0]


def test_explanation_lines_show_the_scope_and_its_hits(scoped: Matcher) -> None:
    from monitor.explain import explanation_lines

    text = "Kyiv reports. North Korean troops moved toward Kursk."
    [topic] = [
        e
        for e in scoped.explain("War in Ukraine", text)
        if isinstance(e, TopicExplanation) and e.topic.id == "troops-in-a-sentence"
    ]
    assert [line.strip() for line in explanation_lines(topic)] == [
        "HIT  s/troops-in-a-sentence (topic: troops-in-a-sentence)",
        "✓ AND",
        "✓ SENTENCE",
        "✓ AND",
        "✓ @dprk  [text 14-26]",
        "✓ OR",
        "✓ troops  [text 27-33]",
        "✗ forces",
        "✓ Ukraine  [title 7-14]",
    ]


def test_explanation_lines_show_what_not_near_kept(scoped: Matcher) -> None:
    from monitor.explain import explanation_lines

    text = "Russian troops fell back as North Korean troops advanced."
    [topic] = [
        e
        for e in scoped.explain("Kursk", text)
        if isinstance(e, TopicExplanation) and e.topic.id == "their-own-troops"
    ]
    assert [line.strip() for line in explanation_lines(topic)][2:] == [
        "✓ AND",
        "✓ @dprk  [text 28-40]",
        "✓ NOT NEAR/1  [kept text 41-47]",
        "✓ OR",
        "✓ troops  [text 8-14, text 41-47]",
        "✗ войска",
        "✓ OR",
        "✓ Russian  [text 0-7]",
        "✗ российские",
    ]
    assert [(h.start, h.end) for h in topic.hits if h.term == "troops"] == [(41, 47)]
    from monitor.explain import explanation_json

    tree = explanation_json(topic)["tree"]
    while tree.get("op") != "NOT NEAR/1":
        tree = next(c for c in tree["children"] if "op" in c and c["value"])
    assert [(h["start"], h["end"]) for h in tree["kept"]] == [(41, 47)]


def test_sentences_are_placed_right_when_normalising_moves_offsets(scoped: Matcher) -> None:
    # A ligature NFKC spells out in 18 letters, ß and invisible characters
    # move offsets before the break: it must still fall between the sentences.
    wide = "Ｓｔｒａßｅ\u200b\u200b ﷺ ﷺ ﷺ ﷺ ｉｓ ｗｉｄｅ."
    assert rules(scoped, "Strike", f"{wide} A missile hit Kharkiv, Ukraine said.") == {"missiles"}
    assert rules(scoped, "Strike", f"{wide} A missile hit. Ukraine said.") == set()


def test_the_quick_path_agrees_with_full_explanations_on_scoped_rules(scoped: Matcher) -> None:
    texts = [
        ("Press review", KCNA),
        ("Live: war in Ukraine", LIVE),
        ("Divers recall the Kursk", "The sunken submarine lay at 108 metres."),
        ("Missile strike", "A missile hit Kharkiv. Ukraine said North Korean troops were nearby."),
        ("Forum", "VLADIVOSTOK (Reuters) - A North Korean delegation arrived in Vladivostok."),
        ("Theatre", "Actor Kirill Lavrov. Lavrov appeared in films. Pyongyang forces."),
        ("Shelling", "Russian troops fired North Korean shells. North Korean troops watched."),
    ]
    for title, text in texts:
        quick = {(m.rule, m.hits) for m in scoped.match(title, text)}
        full = {
            (m.rule, m.hits)
            for m in (_to_match(e) for e in scoped.explain(title, text) if e.matched)
        }
        assert quick == full, title


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "entities:\n  e:\n    aliases: [a]\n    exclude_scope: paragraph\n",
            "w.yaml:4:20: entities.e.exclude_scope: Input should be 'sentence' or 'item'",
        ),
        (
            "entities:\n  e:\n    aliases: [a]\n    dateline: drop\n",
            "w.yaml:4:15: entities.e.dateline: Input should be 'ignore' or 'count'",
        ),
        (
            "topics:\n  t:\n    query: a SENTENCE(NOT b)\n",
            "w.yaml:3:14: topics.t.query: SENTENCE(…) needs a term to look for, not only NOT",
        ),
        (
            "topics:\n  t:\n    query: PARAGRAPH a\n",
            "w.yaml:3:12: topics.t.query: PARAGRAPH needs its terms in parentheses,"
            " as in PARAGRAPH(a AND b)",
        ),
    ],
)
def test_new_settings_and_syntax_are_reported_at_file_line(source: str, message: str) -> None:
    from monitor.errors import WatchlistError

    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(source, "w.yaml", "w", "UTC")
    assert [str(d) for d in caught.value.diagnostics] == [message]


def test_explanation_lines_say_why_a_mention_did_not_count(scoped: Matcher) -> None:
    from monitor.explain import explanation_lines

    explanations = {
        (e.entity.id if isinstance(e, EntityExplanation) else e.topic.id): e
        for e in scoped.explain("Press review", KCNA)
    }
    assert [line.strip() for line in explanation_lines(explanations["dprk"])] == [
        "miss s/dprk (entity: dprk)",
        'ignored alias "Pyongyang" in text at 0-9: only in the dateline, the place of filing',
    ]


def test_a_not_inside_a_scope_is_judged_in_that_sentence_not_in_the_item() -> None:
    source = "topics:\n  strike:\n    query: 'SENTENCE(missile* -test*)'\n"
    scoped_not = Matcher([parse_watchlist(source, "w.yaml", "w", "UTC")])

    assert rules(scoped_not, "", "A missile hit Kyiv. North Korea held a test.") == {"strike"}
    assert rules(scoped_not, "", "North Korea held a missile test.") == set()
