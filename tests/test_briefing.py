"""The digest as a briefing: each story once, ranked, short enough to mail,
with honest times and health (monitor.briefing, digest templates)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from monitor.compose import digest_plan
from monitor.digest import EMAIL_BYTES, DigestFigures, Renderer
from monitor.types import DigestRecord, FeedStatus, Snippet, StoredMatch
from monitor.watchlist import parse_watchlist
from tests.conftest import ROOT
from tests.golden import assert_golden

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
START = NOW - timedelta(hours=24)

WATCHLIST = parse_watchlist(
    """\
title: Korea–Russia desk
feeds:
  - https://wire.example/rss
  - https://kyiv.example/rss
  - https://seoul.example/rss
  - https://moscow.example/rss
  - https://archive.example/rss
entities:
  storm-corps: {name: Storm Corps, alert: true, aliases: [Storm Corps]}
  kursk: {name: Kursk, aliases: [Kursk, Курск*]}
  dprk: {name: North Korea, aliases: [North Korea, 북한, КНДР]}
  pact: {name: DPRK–Russia pact, aliases: [mutual assistance]}
  weather: {name: Weather, aliases: [blizzard]}
""",
    "desk.yaml",
    "desk",
    "Asia/Seoul",
)

# Words to make the filler reports of a busy period unlike one another.
WORDS = [
    "bridge",
    "depot",
    "convoy",
    "ridge",
    "harbour",
    "rail",
    "grain",
    "tanker",
    "drone",
    "radar",
    "factory",
    "border",
    "village",
    "ferry",
    "tunnel",
    "airfield",
    "pipeline",
    "mine",
    "camp",
    "hospital",
    "school",
    "market",
    "river",
    "plant",
    "road",
]
SYLLABLES = [
    "ka",
    "ro",
    "mi",
    "tu",
    "se",
    "vo",
    "la",
    "ni",
    "pe",
    "zu",
    "ha",
    "go",
    "ri",
    "ma",
    "te",
    "ko",
]


def name(n: int, salt: int) -> str:
    """A made-up place name, one of 4,096, different for each n and salt."""
    n = (n * 2654435761 + salt * 40503) % 4096
    return "".join(SYLLABLES[(n >> shift) & 15] for shift in (0, 4, 8)).capitalize()


class Matches:
    def __init__(self) -> None:
        self.made: list[StoredMatch] = []
        self.texts: dict[int, tuple[int, str]] = {}
        self.items = 0

    def item(
        self,
        title: str,
        text: str,
        source: str,
        rules: tuple[str, ...],
        seen: datetime,
        published: datetime | None,
    ) -> None:
        self.items += 1
        for rule in rules:
            m = StoredMatch(
                id=len(self.made) + 1, watchlist="desk", rule=rule, kind="entity",
                terms=(rule,), fields=("title",), snippet=Snippet(text[:160]),
                first_seen_at=seen, item_title=title,
                item_url=f"https://{source.split()[0].lower()}.example/{self.items}",
                published_at=published, sources=(source,),
                source_urls=(f"https://{source.split()[0].lower()}.example/rss",),
            )  # fmt: skip
            self.made.append(m)
            self.texts[m.id] = (self.items, text)


def busy_period() -> Matches:
    """One story hitting three rules, one carried by three outlets, Korean
    and Russian reports, a feed read for the first time today (its items a
    week old), a report with a date in the future, and 300 other matches."""
    at = Matches()
    hour = timedelta(hours=1)
    at.item(
        "Storm Corps units leave Kursk, North Korea's allies say",
        "Units of the Storm Corps left the Kursk front, North Korea's allies said on Monday.",
        "Wire", ("storm-corps", "kursk", "dprk"), START + 2 * hour, START + hour,
    )  # fmt: skip
    pact = (
        "North Korea and Russia marked the mutual assistance treaty with a reception in "
        "Pyongyang, ministers of both sides attending, a year after it was signed."
    )
    for n, source in enumerate(("Wire", "Kyiv Post", "Moscow Beat")):
        at.item(
            "North Korea, Russia mark mutual assistance treaty" if n != 1
            else "Pyongyang and Moscow celebrate their mutual assistance treaty",
            pact, source, ("dprk", "pact"), START + (5 + n) * hour, START + (4 + n) * hour,
        )  # fmt: skip
    at.item(
        "북한, 쿠르스크 전선서 병력 교대 시작했다고 국정원 밝혀",
        "국가정보원은 북한이 쿠르스크 전선에서 병력 교대를 시작했다고 국회에 보고했다.",
        "Seoul Desk", ("dprk",), START + 9 * hour, START + 8 * hour,
    )  # fmt: skip
    at.item(
        "Курская область: военные КНДР остаются на позициях",
        "Военнослужащие КНДР остаются на позициях в Курской области, сообщили источники.",
        "Moscow Beat", ("dprk", "kursk"), START + 10 * hour, START + 9 * hour,
    )  # fmt: skip
    backlog = (  # first read today: a week-old backlog, dated as the feed says
        ("North Korea reopens Tumen river crossing to freight", "Trucks crossed again."),
        ("Seoul weighs sanctions on ships tied to North Korea", "Three tankers named."),
        ("North Korea hosts Russian orchestra in Pyongyang", "A concert for envoys."),
    )
    for title, text in backlog:
        at.item(
            title, text, "Archive Desk", ("dprk",), START + 11 * hour, START - timedelta(days=7)
        )
    at.item(
        "Kursk governor: power restored after drone strike",
        "Power was restored in parts of the Kursk region, the governor said.",
        "Kyiv Post", ("kursk",), START + 12 * hour, START + 40 * hour,  # a future date
    )  # fmt: skip
    for n in range(300):
        a, b, c, d = (name(n, salt) for salt in range(4))
        at.item(
            f"{a} {WORDS[n % 25]} near Kursk hit, {b} officials say",
            f"{c} and {d}: the {WORDS[(n * 7) % 25]} of {a} was hit overnight near Kursk.",
            "Wire", ("kursk",), START + timedelta(minutes=60 + 4 * n), None,
        )  # fmt: skip
    return at


FEEDS = (
    FeedStatus("https://wire.example/rss", "Wire", NOW, NOW, NOW - 2 * timedelta(hours=1), 0,
               None, None, 400),
    FeedStatus("https://kyiv.example/rss", "Kyiv Post", NOW, NOW, NOW, 0, None, None, 10),
    FeedStatus("https://seoul.example/rss", "Seoul Desk", NOW, NOW, NOW, 0, None, None, 10),
    FeedStatus("https://moscow.example/rss", "Moscow Beat", NOW, NOW, None, 4,
               "HTTP 503 Service Unavailable", "http_503", 10,
               error_since=NOW - timedelta(hours=6)),
    FeedStatus("https://archive.example/rss", "Archive Desk", NOW, NOW, NOW, 0, None, None, 3),
)  # fmt: skip


def render(matches: Matches, public_url: str = "") -> tuple[str, str, str, str]:
    record = DigestRecord(0, "desk", NOW, START, NOW, "queued", len(matches.made))
    plan = digest_plan(WATCHLIST, record, matches.made, FEEDS)
    figures = DigestFigures(texts=matches.texts, first=False, compare=False)
    rendered = Renderer(ROOT / "templates", public_url=public_url).digest(plan, WATCHLIST, figures)
    return rendered.text, rendered.html, rendered.page, rendered.short


def test_a_busy_period_reads_as_a_briefing_and_is_golden() -> None:
    text, html, page, short = render(busy_period())
    assert_golden("briefing.txt", text)
    assert_golden("briefing-email.html", html)
    assert len(html.encode()) < EMAIL_BYTES  # Gmail clips past 102 KB
    # Each story once: the three-rule story and the three-outlet one are one card each.
    cards = re.findall(r'<div class="story" id="(story-\d+)"', page)
    assert len(cards) == len(set(cards)) == 308  # 310 items; two copies of the pact story merged
    # The top headline (meta), its card, and its line under each of its three rules.
    assert page.count("Storm Corps units leave Kursk") == 1 + 1 + 3
    blocks = {b.split(".")[0]: b for b in text.split("\n\n") if b[:1].isdigit()}
    assert blocks["1"].startswith("1. Storm Corps units leave Kursk")  # the alert rule first
    assert "[Storm Corps] [Kursk] [North Korea] (alert)" in blocks["1"]
    assert "North Korea, Russia mark" in blocks["2"] and "3 sources" in blocks["2"]  # most outlets
    assert "also: Kyiv Post https://kyiv.example/" in text and "also: Moscow Beat" in text
    assert '<span class="lang" title="Korean">KO</span>' in page
    assert '<span class="lang" title="Russian">RU</span>' in page
    assert "published 17 Nov 14:00 KST" in page  # the backlog dated as its feed said, a week back
    assert "first seen 25 Nov 02:00 KST (the feed gave no usable publication time)" in page
    assert "more stories in the archive" in html and "which holds every match" in html
    assert "1 of 5 feeds could not be read" in text and "Every feed was read" not in text
    assert 0 < len(short.splitlines()) <= 6 and "310 matches" not in short


def test_the_email_links_to_its_page_when_the_archive_is_served() -> None:
    text, html, _, short = render(busy_period(), "https://news.example/digests/")
    page = "https://news.example/digests/desk/20261125T050000Z.html"
    assert f'href="{page}"' in html and f'href="{page}#story-' in html
    assert page in text and short.rstrip().endswith(page)


def test_an_empty_digest_says_which_feeds_failed() -> None:
    text, html, _, _ = render(Matches())
    assert "No new matches in this period. But 1 of 5 feeds could not be read" in text
    assert "Every feed was read" not in text and "Moscow Beat (feed): failing, http_503" in text
    assert "could not be read" in html
