"""An about: topic on the real poll path, with the real model: a keyword
match about something else is dropped, an on-topic one kept, and an item
that only names the entity gains the topic by its meaning."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import FeedServer, Route, Workers, make_settings, rss

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
# Measured with the model: off-topic 0.34, on-topic 0.80, entity only 0.67.
WATCHLIST = """\
feeds:
  - {url}
entities:
  dprk: {{aliases: [North Korea, North Korean]}}
topics:
  troops-in-war:
    query: "@dprk AND (troops OR soldiers)"
    about:
      - North Korean soldiers are fighting for Russia in the war against Ukraine
      - Troops from North Korea were deployed to the Kursk region to fight Ukrainian forces
    min_similarity: 0.5
"""
ITEMS = (
    (
        "off",
        "North Korea sends troops to help farmers with the rice harvest",
        "Soldiers were sent to collective farms to plant rice after floods ruined the crops.",
    ),
    (
        "on",
        "North Korean troops join Russian assault in Kursk",
        "Thousands of soldiers from North Korea are fighting Ukrainian forces for Russia.",
    ),
    (
        "gain",
        "North Korea's fighters suffer heavy losses against Ukraine",
        "Pyongyang's men sent to the front for Moscow have died in battles in the Kursk region.",
    ),
)


def test_an_about_topic_drops_keeps_and_gains_matches_by_meaning(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/wire.xml"] = Route(rss(*ITEMS))
    path = workdir / "watchlists" / "test-watch.yaml"
    path.write_text(WATCHLIST.format(url=feed_server.url("/wire.xml")), encoding="utf-8")
    worker = workers(make_settings(workdir), lambda: NOW, raise_errors=True)

    worker.poll()

    matches = worker.store.matches.unreported("test-watch")
    by_title = {t[1]: {m.rule for m in matches if m.item_title == t[1]} for t in ITEMS}
    assert by_title == {
        ITEMS[0][1]: {"dprk"},
        ITEMS[1][1]: {"dprk", "troops-in-war"},
        ITEMS[2][1]: {"dprk", "troops-in-war"},
    }
    gained = next(m for m in matches if m.item_title == ITEMS[2][1] and m.kind == "topic")
    assert gained.terms[0].startswith("about: 0.") and gained.terms[0].endswith(" ≥ 0.50")
    assert gained.terms[1:] == ("North Korea",)


def test_monitor_test_shows_the_similarity_against_the_threshold(workdir: Path) -> None:
    from tests.test_cli import monitor

    path = workdir / "watchlists" / "test-watch.yaml"
    path.write_text(WATCHLIST.format(url="https://news.example/feed"), encoding="utf-8")
    _, title, text = ITEMS[0]
    result = monitor(workdir, "test", "test-watch", "--title", title, "--text", text)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    topic = lines.index("HIT  test-watch/troops-in-war (topic: troops-in-war)")
    note = lines[topic + 1].strip()
    assert note.startswith("about: 0.") and note.endswith(" < 0.50: the keyword match is dropped")
