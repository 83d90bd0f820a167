"""Reports of one event joined across outlets and languages (monitor.events):
the pure parts on hand-made vectors, then the shipped model on the held-out
story set."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from monitor.events import (
    EventGrouping,
    Told,
    average_linkage,
    group_events,
    joined,
    numbers_in,
    standardised,
)
from monitor.stories import Report
from tests.storyset import DIRECTORY, reports, score

T0 = datetime(2025, 10, 14, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("about 3,000 troops", {3000}),
        ("около 3 тыс. военных", {3000}),
        ("북한군 3천여 명", {3000}),
        ("ok. 3 tys. żołnierzy", {3000}),
        ("북한군 4천700여 명 사상", {4700}),
        ("близько 4,7 тис. загиблих", {4700}),
        ("1,5 тыс. га и 1천500㏊", {1500}),
        ("1.5 million shells", {1_500_000}),
        # Model names, days of the month and years say nothing of the event.
        ("a KN-23 missile on 14 October 2025", set()),
        ("day 1,329 of the war", {1329}),
    ],
)
def test_numbers_are_read_as_values_in_every_script(text: str, numbers: set[int]) -> None:
    assert numbers_in(text) == numbers


def _told(
    title: str, source: str, language: str = "en", hours: float = 0.0, text: str = ""
) -> Told:
    return Told(Report(title, text, (source,), T0 + timedelta(hours=hours)), language)


def _unit(rows: Sequence[Sequence[float]]) -> Any:
    vectors = np.asarray(rows, dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _beat(extra: Sequence[Told]) -> tuple[list[Told], Any]:
    """Twelve English reports of twelve other events on one beat (each its
    own direction), then ``extra``: the batch a digest would see."""
    told = [_told(f"other event {k}", f"outlet {k}", hours=k) for k in range(12)]
    rows = [[1.0 if d == k else 0.0 for d in range(16)] for k in range(12)]
    return told + list(extra), rows


def test_a_korean_report_joins_the_english_report_it_is_nearest_to() -> None:
    told, rows = _beat(
        [
            _told("North Korea sends more troops", "Wire", "en", 1, "about 3,000 troops"),
            _told("북한, 추가 파병", "Yonhap", "ko", 2, "북한군 3천여 명"),
        ]
    )
    # Across the two languages the cosine is modest (0.6), yet each is the
    # other's nearest report in its language and they share a number.
    rows += [[0.0] * 12 + [1.0, 0.0, 0.0, 0.0], [0.0] * 12 + [0.6, 0.8, 0.0, 0.0]]
    groups = group_events(told, _unit(rows), _unit(rows))
    assert [12, 13] in groups
    assert sum(len(g) for g in groups) == len(told) == len({i for g in groups for i in g})


def test_one_outlet_and_reports_two_days_apart_never_join() -> None:
    same = [0.0] * 12 + [1.0, 0.0, 0.0, 0.0]
    for second in (
        _told("Missile hits Kharkiv", "Wire", hours=3),  # the same outlet
        _told("Missile hits Kharkiv", "Other", hours=60),  # beyond the window
    ):
        told, rows = _beat([_told("Missile hits Kharkiv", "Wire", hours=1), second])
        groups = group_events(told, _unit([*rows, same, same]), _unit([*rows, same, same]))
        assert [12] in groups and [13] in groups
    told, rows = _beat(
        [
            _told("Missile hits Kharkiv", "Wire", hours=1),
            _told("Missile hits Kharkiv", "Other", hours=3),
        ]
    )
    assert [12, 13] in group_events(told, _unit([*rows, same, same]), _unit([*rows, same, same]))


def test_a_confidence_outside_zero_and_one_is_refused() -> None:
    told, rows = _beat([])
    with pytest.raises(ValueError, match="confidence"):
        group_events(told, _unit(rows), _unit(rows), confidence=1.0)


def test_average_linkage_joins_by_the_mean_of_all_pairs_and_never_across_the_window() -> None:
    similar = np.array([[1.0, 0.9, 0.2], [0.9, 1.0, 0.6], [0.2, 0.6, 1.0]])
    everywhere = np.ones((3, 3), dtype=bool)
    assert sorted(map(sorted, average_linkage(similar, everywhere, 0.5))) == [[0, 1], [2]]
    # Average, not single, linkage: 2 is 0.6 from 1 but 0.4 from the pair.
    assert len(average_linkage(similar, everywhere, 0.45)) == 2
    assert len(average_linkage(similar, everywhere, 0.35)) == 1
    apart = everywhere.copy()
    apart[0, 1] = apart[1, 0] = False  # outside the time window
    assert sorted(map(sorted, average_linkage(similar, apart, 0.5))) == [[0], [1, 2]]


def test_closeness_is_measured_against_pairs_of_the_same_two_languages() -> None:
    rng = np.random.default_rng(1)
    languages = ["en"] * 6 + ["ko"] * 3
    cosine = np.eye(9)
    for i in range(9):
        for j in range(i + 1, 9):
            same = languages[i] == languages[j]
            cosine[i, j] = cosine[j, i] = rng.normal(0.65 if same else 0.3, 0.03)
    cosine[0, 6] = cosine[6, 0] = 0.55  # one event, two languages
    cosine[1, 2] = cosine[2, 1] = 0.68  # two events, one language
    z = standardised(cosine, languages)
    assert cosine[1, 2] > cosine[0, 6]  # by cosine the look-alikes are closer
    assert z[0, 6] > 1.6 > z[1, 2]  # measured by their kind, not
    assert z[0, 6] == z[6, 0]


def test_groupings_join_where_they_share_a_report() -> None:
    copies = [[0, 3], [1], [2], [4]]
    events = [[0, 2], [1], [3], [4]]
    assert joined(copies, events) == [[0, 2, 3], [1], [4]]
    assert joined([[1], [0]]) == [[0], [1]]


class CountingEncoder:
    """Each text its own direction; records what it was asked to embed."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Any:
        self.asked.append(list(texts))
        rows = [[float(ord(c)) for c in (t + " " * 8)[:8]] for t in texts]
        return _unit(rows).astype(np.float32)


def test_each_distinct_text_is_embedded_once_per_process() -> None:
    encoder = CountingEncoder()
    grouping = EventGrouping(encoder, remembered=3)
    first = grouping.vectors(["a", "b", "a"])
    assert encoder.asked == [["a", "b"]]
    assert np.allclose(first[0], first[2])
    grouping.vectors(["b", "c"])
    assert encoder.asked[-1] == ["c"]
    grouping.vectors(["d", "e"])  # remembers three: "b" and "a" are forgotten
    grouping.vectors(["a"])
    assert encoder.asked[-1] == ["a"]


def test_the_shipped_model_joins_the_held_out_stories_day_by_day() -> None:
    """heldout2.yaml was written without seeing the grouping and never
    fitted on. Each day's reports are grouped as a daily digest groups them,
    with the languages guessed from the text; the bars are pairwise
    precision >= 0.9 and recall >= 0.7 over the days, and on the whole file
    at once (a weekly digest)."""
    import yaml

    from monitor.language import language_of
    from monitor.meaning import EventEncoder, text_for_meaning
    from tests.storyset import when

    cases = yaml.safe_load((DIRECTORY / "heldout2.yaml").read_text(encoding="utf-8"))
    told = [Told(r, language_of(text_for_meaning(r.title, r.text))) for r in reports(cases)]
    guessed = sum(t.language == c["lang"] for t, c in zip(told, cases, strict=True))
    assert guessed > 0.9 * len(cases)
    grouping = EventGrouping(EventEncoder())
    by_day: dict[object, list[int]] = {}
    for index, case in enumerate(cases):
        by_day.setdefault(when(case).date(), []).append(index)
    groups = [
        [day[k] for k in members]
        for day in by_day.values()
        for members in grouping.groups([told[i] for i in day])
    ]
    daily = score(cases, groups)
    assert daily.precision >= 0.9, daily
    assert daily.true_pairs >= 0.7 * _pairs_within_days(cases, by_day.values()), daily
    weekly = score(cases, grouping.groups(told))
    assert weekly.precision >= 0.9 and weekly.recall >= 0.7, weekly


def _pairs_within_days(cases: Sequence[dict[str, Any]], days: Any) -> int:
    """The labelled same-story pairs whose two reports fall on one day."""
    from tests.storyset import labelled_groups, pairs

    same_day = {(i, j) for day in days for i in day for j in day if i < j}
    return len(pairs(labelled_groups(cases)) & same_day)


KOREAN = (
    ("k1", "우크라이나군, 쿠르스크서 폭풍군단 병사 2명 생포",
     "우크라이나 특수작전군은 러시아 쿠르스크 지역에서 북한 폭풍군단 소속 병사 2명을 생포했다고 "
     "24일 밝혔다. 포로들은 심문을 위해 키이우로 이송됐다."),
    ("k2", "폭풍군단 3천여 명 쿠르스크서 철수…교대 병력 투입",
     "국가정보원은 북한 폭풍군단 병력 3천여 명이 쿠르스크 전선에서 철수하고 새 부대가 교대 "
     "투입됐다고 국회 정보위원회에 보고했다."),
    ("k3", "평양에 폭풍군단 전사자 추모관 착공",
     "북한은 러시아 파병 중 전사한 폭풍군단 장병을 기리는 추모관 착공식을 평양에서 열었다고 "
     "조선중앙통신이 보도했다."),
)  # fmt: skip
ENGLISH = (
    ("e1", "Ukraine says it captured two Storm Corps soldiers in Kursk",
     "Ukraine's special operations forces said on Tuesday they had taken two North Korean "
     "soldiers of the Storm Corps prisoner in Russia's Kursk region and flown them to Kyiv."),
    ("e2", "Some 3,000 North Korean troops pulled out of Kursk, spy agency says",
     "South Korea's intelligence agency told lawmakers that about 3,000 soldiers of the Storm "
     "Corps had left the Kursk front and been replaced by a fresh unit."),
    ("e3", "Kursk governor thanks North Korean deminers",
     "The governor of Russia's Kursk region thanked North Korean sappers who have cleared mines "
     "from farmland, saying 1,500 hectares were now safe."),
)  # fmt: skip


@pytest.mark.parametrize("stories", ["meaning", "words"])
def test_a_digest_shows_one_event_told_in_korean_and_english_as_one_story(
    workers: Any, workdir: Any, feed_server: Any, stories: str
) -> None:
    from tests.conftest import Route, make_settings, rss, write_watchlist
    from tests.test_pipeline import Clock

    feed_server.routes["/ko.xml"] = Route(rss(*KOREAN, title="Hanbit Broadcasting"))
    feed_server.routes["/en.xml"] = Route(rss(*ENGLISH, title="Seoul Ledger"))
    # The Korean outlet is read first, so its reports lead their stories.
    write_watchlist(workdir, [feed_server.url("/ko.xml")])
    clock = Clock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    worker = workers(make_settings(workdir, stories=stories), clock=clock, raise_errors=True)
    worker.poll()
    write_watchlist(workdir, [feed_server.url("/ko.xml"), feed_server.url("/en.xml")])
    worker.watchlists.reload()
    clock.now += timedelta(minutes=15)
    worker.poll()
    clock.now += timedelta(minutes=15)
    worker.digest_now(worker.watchlists.by_id["test-watch"])
    [page] = (workdir / "digests" / "test-watch").glob("2*.html")
    html = page.read_text(encoding="utf-8")
    if stories == "words":  # outlets' own words in two languages: six stories
        assert "in 6 stories" in html and 'class="gloss"' not in html
        return
    assert "in 4 stories" in html
    # The Korean reports came first and lead; the English headline glosses each.
    for korean, english in ((KOREAN[0], ENGLISH[0]), (KOREAN[1], ENGLISH[1])):
        card = html[html.index(f'href="https://news.example/{korean[0]}">') :]
        card = card[: card.index('class="also"')]
        assert f'<div class="gloss" lang="en">{english[1]}</div>' in card
    assert html.count('class="gloss"') == 2
    from sqlmodel import select

    from monitor.store.tables import OutboxRow

    with worker.store.session() as session:
        [text] = [m.body_text for m in session.exec(select(OutboxRow)) if m.channel == "file"]
    assert f"[KO] {KOREAN[0][1]}\n   ({ENGLISH[0][1]})\n" in text


def test_a_digest_too_large_for_the_model_joins_copies_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    encoder = CountingEncoder()
    told = [_told(f"report {k}", f"outlet {k}", text=f"lead {k}") for k in range(4)]
    assert EventGrouping(encoder, max_reports=3).groups(told) == [[0], [1], [2], [3]]
    assert encoder.asked == [] and "MONITOR_STORIES_MAX_REPORTS=3" in caplog.text
    EventGrouping(encoder, max_reports=4).groups(told)
    assert len(encoder.asked) == 2  # leads, then titles
