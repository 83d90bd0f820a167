"""A generated corpus of realistic news feeds, so the benchmarks need no network."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

WORDS = [
    "officials",
    "said",
    "on",
    "tuesday",
    "that",
    "the",
    "ministry",
    "would",
    "review",
    "the",
    "proposal",
    "after",
    "talks",
    "in",
    "the",
    "capital",
    "where",
    "delegates",
    "discussed",
    "trade",
    "energy",
    "security",
    "and",
    "regional",
    "cooperation",
    "while",
    "analysts",
    "warned",
    "of",
    "rising",
    "costs",
    "for",
    "households",
    "and",
    "businesses",
    "across",
    "the",
    "region",
    "as",
    "lawmakers",
    "debated",
    "the",
    "budget",
    "and",
    "the",
    "central",
    "bank",
    "held",
    "interest",
    "rates",
    "steady",
    "amid",
    "concerns",
    "about",
    "inflation",
    "supply",
    "chains",
    "and",
    "weather",
]
TOPICAL = [
    "North Korean troops were seen near Kursk, South Korea's spy agency said.",
    "Pyongyang and Moscow marked their mutual assistance treaty.",
    "The Storm Corps, also called the 11th Corps, moved to the front.",
    "Vladimir Putin met Kim Jong Un in Vladivostok.",
    "В Курской области продолжаются бои, сообщает КНДР.",
    "북한군 폭풍군단이 쿠르스크에 투입됐다고 국정원이 밝혔다.",
]


def _vocabulary(size: int = 20_000) -> tuple[list[str], list[float]]:
    """WORDS and ``size`` made-up words, drawn with Zipf's law as in real
    text: a few words in every sentence, most words rare. Two unrelated
    generated articles then share about as little as two real ones."""
    rng = random.Random(7)
    syllables = ["ka", "lo", "mi", "ren", "to", "vas", "el", "dor", "un", "pri", "sta", "gu"]
    made_up = {"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(size * 2)}
    words = list(dict.fromkeys(WORDS)) + sorted(made_up)[:size]
    cumulative, total = [], 0.0
    for rank in range(1, len(words) + 1):
        total += 1.0 / rank
        cumulative.append(total)
    return words, cumulative


VOCABULARY, _CUMULATIVE = _vocabulary()


def paragraph(rng: random.Random, words: int) -> str:
    chosen = rng.choices(VOCABULARY, cum_weights=_CUMULATIVE, k=words)
    return " ".join(chosen).capitalize() + "."


def item(rng: random.Random, feed: int, index: int, when: datetime) -> str:
    title = paragraph(rng, 9)
    text = " ".join(paragraph(rng, rng.randint(18, 30)) for _ in range(6))
    if rng.random() < 0.1:
        text += " " + rng.choice(TOPICAL)
    body = f"<p>{escape(text)}</p><p><a href='https://news.example/{feed}/{index}'>More</a></p>"
    return (
        f"<item><title>{escape(title)}</title>"
        f"<link>https://news.example/{feed}/{index}</link>"
        f"<guid isPermaLink='false'>bench-{feed}-{index}</guid>"
        f"<pubDate>{format_datetime(when)}</pubDate>"
        f"<description>{escape(body)}</description></item>"
    )


def feed(number: int, items: int = 50, seed: int = 0, first: int = 0) -> bytes:
    """One RSS feed; items ``first`` .. ``first + items`` (a shifted window is a changed feed)."""
    rng = random.Random(number * 1000 + seed)
    start = datetime(2026, 11, 25, tzinfo=UTC)
    entries = "".join(
        item(rng, number, i, start - timedelta(minutes=i)) for i in range(first, first + items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {number}</title><link>https://news.example/{number}</link>"
        f"<description>Generated</description>{entries}</channel></rss>"
    ).encode()
