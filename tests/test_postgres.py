"""The store on PostgreSQL as on SQLite: the pipeline and digest tests re-run on a
real PostgreSQL (tests/postgres.py), and store-level tests on both backends."""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlmodel import select

from monitor.migrations import upgrade
from monitor.store import Store
from monitor.store.db import MAX_KEY_CHARS, sqlite_path, stored_key
from monitor.store.tables import OutboxRow
from monitor.types import DigestRecord, Entry, Hit, Match, NewMatch, OutboxDraft, Snippet
from tests import test_digest, test_pipeline
from tests.conftest import (
    FeedServer,
    Route,
    Workers,
    all_at_once,
    make_settings,
    rss,
    write_watchlist,
)
from tests.postgres import PostgresCluster
from tests.storing import make_digest, save

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)

# Tests written for SQLite that store and read back, run again here on a
# PostgreSQL database: their fixtures are the same, only the URL differs.
ON_POSTGRESQL: list[Callable[..., None]] = [
    test_pipeline.test_poll_matches_and_stores_once,
    test_pipeline.test_a_changed_feed_adds_only_new_items,
    test_pipeline.test_an_item_carried_by_two_feeds_is_one_item,
    test_pipeline.test_a_failing_feed_is_recorded_and_loses_nothing,
    test_digest.test_digest_text_is_golden_and_html_is_written,
    test_digest.test_a_missed_schedule_makes_one_catch_up_digest,
]


@pytest.mark.parametrize("case", ON_POSTGRESQL, ids=lambda case: case.__name__)
def test_on_postgresql(
    case: Callable[..., None],
    postgres_workdir: Path,
    postgres_url: str,
    request: pytest.FixtureRequest,
) -> None:
    arguments = {name: request.getfixturevalue(name) for name in inspect.signature(case).parameters}
    assert arguments["workdir"] == postgres_workdir
    case(**arguments)
    # It really ran on PostgreSQL: no SQLite file, and the rows are there.
    assert not (postgres_workdir / "monitor.db").exists()
    with psycopg.connect(postgres_url.replace("+psycopg", "")) as connection:
        row = connection.execute("SELECT count(*) FROM feed").fetchone()
    assert row is not None and row[0] >= 1


def test_each_test_gets_an_empty_utf8_database(
    postgres_cluster: PostgresCluster, postgres_url: str
) -> None:
    other = postgres_cluster.create_database()
    assert other != postgres_url
    with psycopg.connect(postgres_url.replace("+psycopg", "")) as connection:
        encoding = connection.execute("SHOW server_encoding").fetchone()
        tables = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
        address = connection.execute("SHOW listen_addresses").fetchone()
    assert (encoding, tables, address) == (("UTF8",), (0,), ("127.0.0.1",))


# --- the store itself, on both backends ---------------------------------------


def _store(database_url: str) -> Store:
    store = Store(database_url)
    upgrade(store.engine)
    return store


def _match(key: str, rule: str, text: str) -> NewMatch:
    match = Match("w", rule, "entity", (Hit("Kursk", "title", 0, 5),), False)
    return NewMatch(key, match, Snippet(text, ((0, 5),)))


def _compose(record: DigestRecord, matches: list[Any]) -> list[OutboxDraft]:
    key = f"digest:{record.watchlist}:{record.scheduled_for.isoformat()}"
    body = "\n".join(m.item_title for m in matches)
    return [OutboxDraft(f"{key}:file", "digest", "w", "file", "w/d.html", "s", body, body)]


def test_a_digest_is_made_once_per_slot_and_takes_every_match(database_url: str) -> None:
    store = _store(database_url)
    feed = "http://127.0.0.1:9/f"
    store.feeds.sync([(feed, 900)], NOW)
    entries = [Entry(f"guid:{n}", f"Kursk {n}", "text", None, NOW) for n in range(3)]
    matches = [_match(e.key, "kursk", e.title) for e in entries]
    seen = NOW + timedelta(minutes=1)
    assert save(store, feed, entries, matches, seen, NOW + timedelta(hours=1)) == (3, 3)
    [stored, *_] = store.matches.unreported("w")
    assert stored.first_seen_at == seen and stored.first_seen_at.tzinfo is not None
    assert stored.published_at == NOW and stored.sources == (feed,)

    slot = NOW + timedelta(hours=2)
    record = DigestRecord(0, "w", slot, NOW, slot, "queued", 0)
    made = make_digest(store, record, _compose, slot)
    assert made is not None and made.match_count == 3 and made.scheduled_for == slot
    assert make_digest(store, record, _compose, slot) is None  # that slot is taken
    assert store.matches.unreported("w") == []

    late = [Entry("guid:late", "Kursk late", "text", None, None)]
    save(store, feed, late, [_match("guid:late", "kursk", "Kursk late")], slot, slot)
    following = DigestRecord(0, "w", slot + timedelta(days=1), slot, slot + timedelta(days=1),
                             "queued", 0)  # fmt: skip
    after = make_digest(store, following, _compose, slot + timedelta(days=1))
    assert after is not None and after.match_count == 1
    assert store.digests.last("w") == after

    store.outbox.queue(_compose(made, []), slot)  # the same key again: still one row
    assert store.outbox.counts() == {"pending": 2}
    message = store.outbox.claim(slot + timedelta(days=1), timedelta(minutes=5))
    assert message is not None and message.body_text == "Kursk 0\nKursk 1\nKursk 2"
    store.outbox.mark_sent(message.id, slot)
    assert store.outbox.counts() == {"pending": 1, "sent": 1}
    assert store.counts() == {"feeds": 1, "items": 4, "matches": 4, "digests": 2}
    store.close()


def test_a_huge_guid_is_one_item_on_every_backend(database_url: str) -> None:
    # PostgreSQL cannot index a value of more than ~2700 bytes: a hostile feed's
    # guid must not make every poll of that feed fail.
    store = _store(database_url)
    feed = "http://127.0.0.1:9/f"
    store.feeds.sync([(feed, 900)], NOW)
    huge = "guid:" + "".join(chr(0x1000 + n % 3000) for n in range(5000))  # 3 bytes each
    twin = huge[:-1] + "!"  # differs only at the very end
    entries = [Entry(huge, "Kursk", "a", None, None), Entry(twin, "Kursk", "b", None, None)]
    matches = [_match(huge, "kursk", "Kursk"), _match(twin, "kursk", "Kursk")]
    assert save(store, feed, entries, matches, NOW, NOW) == (2, 2)
    assert store.items.known_keys([huge, twin, "guid:other"]) == {huge, twin}
    assert save(store, feed, entries, matches, NOW, NOW) == (0, 0)
    assert len(stored_key(huge)) == MAX_KEY_CHARS and stored_key(stored_key(huge)) == stored_key(
        huge
    )
    assert stored_key("guid:short") == "guid:short"
    store.close()


def test_nul_bytes_and_lone_surrogates_from_a_feed_are_stored(
    workers: Workers, workdir: Path, database_url: str, feed_server: FeedServer
) -> None:
    body = rss(
        ("g&#0;1", "North&#0; Korea\x01 and Kursk", "text &#xD800; here &#0;"),
        ("g2", "Kursk &#xDFFF;again", "control \x0b chars"),
    )
    feed_server.routes["/f"] = Route(body.replace(b"Kursk again", b"Kursk\x00 again"))
    write_watchlist(workdir, [feed_server.url("/f")])
    worker = workers(make_settings(workdir), clock=lambda: NOW, raise_errors=True)
    assert worker.store.url == database_url
    report = worker.poll()
    assert [(f.outcome, f.new_items) for f in report.feeds] == [("updated", 2)]
    stored = worker.store.matches.unreported("test-watch")
    titles = {m.item_title for m in stored}
    assert titles == {"North Korea and Kursk", "Kursk again"}
    for match in stored:
        for value in (match.item_title, match.snippet.text):
            assert "\x00" not in value and not any("\ud800" <= c <= "\udfff" for c in value)
    assert worker.poll(force=True).new_items == 0
    worker.close()


def test_a_watchlist_title_with_a_nul_still_makes_its_digest(
    workers: Workers, workdir: Path, database_url: str, feed_server: FeedServer
) -> None:
    # YAML can spell a NUL ("\0"); PostgreSQL refuses it in text, SQLite does not.
    feed_server.routes["/f"] = Route(rss(("a", "Kursk", "x")))
    path = write_watchlist(workdir, [feed_server.url("/f")])
    text = path.read_text(encoding="utf-8").replace("title: Test watch", 'title: "Test\\0 watch"')
    path.write_text(text, encoding="utf-8")
    worker = workers(make_settings(workdir), clock=lambda: NOW, raise_errors=True)
    assert worker.watchlists.by_id["test-watch"].title == "Test\x00 watch"
    worker.poll()
    result = worker.digest_now(worker.watchlists.by_id["test-watch"])
    assert result.record is not None and result.record.match_count == 1
    with worker.store.session() as s:
        [message] = s.exec(select(OutboxRow)).all()
    assert "Test watch" in message.body_text and "\x00" not in message.body_html
    worker.close()


def test_the_sqlite_file_is_where_make_settings_says(workdir: Path, database_url: str) -> None:
    store = _store(make_settings(workdir).database_url)
    store.feeds.sync([("http://127.0.0.1:9/f", 900)], NOW)
    store.close()
    on_sqlite = (workdir / "monitor.db").exists()
    assert on_sqlite == database_url.startswith("sqlite")
    if on_sqlite:
        with sqlite3.connect(workdir / "monitor.db") as connection:
            assert connection.execute("SELECT count(*) FROM feed").fetchone() == (1,)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:////srv/monitor.db", "/srv/monitor.db"),
        ("sqlite:///data/monitor.db?timeout=30", "data/monitor.db"),
        ("sqlite:///file:/srv/monitor.db?mode=ro&uri=true", "/srv/monitor.db"),  # SQLite's URI
        ("sqlite:///file:monitor.db?uri=true", "monitor.db"),
        ("sqlite:///file:memdb?mode=memory&uri=true", None),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql+psycopg://monitor@db/monitor", None),
    ],
)
def test_the_file_of_a_sqlite_url(url: str, path: str | None) -> None:
    """Its folder is made, and it is locked for one service, by this name."""
    assert sqlite_path(url) == (None if path is None else Path(path))


def test_workers_starting_together_all_find_the_schema(postgres_url: str) -> None:
    # Three replicas of `monitor run` start at once on an empty database.
    stores = [Store(postgres_url) for _ in range(4)]
    assert all_at_once(lambda store: upgrade(store.engine), stores, timeout=30) == []
    assert all(store.counts()["feeds"] == 0 for store in stores)
    for store in stores:
        store.close()
