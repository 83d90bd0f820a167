"""Schema migrations (monitor.migrations), on SQLite and PostgreSQL alike.

The first test is the guard of the whole scheme: it fails when a model in
monitor/store.py changes without a revision that makes the same change
(`monitor db revision -m "…"` writes one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from monitor.identity import identity_key, legacy_key
from monitor.migrations import revision, schema, upgrade
from monitor.migrations.schema import FIRST, SchemaError, head
from monitor.store import Store
from monitor.types import Entry, Hit, Match, NewMatch, Snippet
from tests.conftest import ROOT, write_watchlist
from tests.storing import save

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
MIGRATIONS = ROOT / "monitor" / "migrations"


def differences(store: Store, metadata: sa.MetaData = SQLModel.metadata) -> list[Any]:
    """What autogenerate would write to bring the database to ``metadata``."""
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def version(store: Store) -> list[str]:
    with store.engine.connect() as connection:
        return [
            r[0] for r in connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        ]


def store_some_rows(store: Store) -> None:
    """A feed, an item carried by it, and a match of that item."""
    store.feeds.sync([("http://127.0.0.1:9/feed", 900)], NOW)
    entry = Entry("guid-1", "Kursk", "Kursk today", None, None)
    match = Match("w", "kursk", "entity", (Hit("Kursk", "title", 0, 5),), False)
    new = NewMatch("guid-1", match, Snippet("Kursk", ((0, 5),)))
    save(store, "http://127.0.0.1:9/feed", [entry], [new], NOW, NOW)


WHEN = sa.DateTime(timezone=True)
FEED = sa.table("feed", *(sa.column(c) for c in ("id", "url", "moved_count", "every_seconds",
                "consecutive_errors", "status")))  # fmt: skip
ITEM = sa.table("item", sa.column("id"), sa.column("key"), sa.column("title"),
                sa.column("text"), sa.column("url"), sa.column("first_seen_at", WHEN))  # fmt: skip
SOURCE = sa.table("item_source", sa.column("item_id"), sa.column("feed_id"),
                  sa.column("first_seen_at", WHEN))  # fmt: skip
MATCH = sa.table("match", *(sa.column(c) for c in ("id", "item_id", "watchlist", "rule", "kind",
                 "terms", "fields", "snippet", "spans", "alert")),
                 sa.column("first_seen_at", WHEN))  # fmt: skip
FEED_URL = "http://127.0.0.1:9/feed"


def at_first_revision(store: Store, stamped: bool = True) -> None:
    """The schema of the first revision, as create_all made it before
    migrations existed (``stamped`` False: no alembic_version), with a feed,
    two items it carried (one by a guid that means something only in that
    feed) and a match of the first, written as that version wrote them."""
    with store.engine.begin() as connection:
        schema.command.upgrade(schema.alembic_config(connection), FIRST)
        if not stamped:
            connection.execute(sa.text("DROP TABLE alembic_version"))
        feed = {"id": 1, "url": FEED_URL, "moved_count": 0, "every_seconds": 900,
                "consecutive_errors": 0, "status": "active"}  # fmt: skip
        connection.execute(sa.insert(FEED), [feed])
        connection.execute(
            sa.insert(ITEM),
            [
                {"id": 1, "key": "guid-1", "title": "Kursk", "text": "Kursk today",
                 "url": None, "first_seen_at": NOW},
                {"id": 2, "key": "guid:7", "title": "Other", "text": "news",
                 "url": "https://News.example/a?utm_source=x", "first_seen_at": NOW},
            ],
        )  # fmt: skip
        connection.execute(sa.insert(SOURCE), [{"item_id": i, "feed_id": 1, "first_seen_at": NOW}
                                               for i in (1, 2)])  # fmt: skip
        connection.execute(sa.insert(MATCH), [{"id": 1, "item_id": 1, "watchlist": "w",
                           "rule": "kursk", "kind": "entity", "terms": '["Kursk"]',
                           "fields": "title", "snippet": "Kursk", "spans": "[[0, 5]]",
                           "alert": False, "first_seen_at": NOW}])  # fmt: skip
        if connection.dialect.name == "postgresql":  # ids given by hand: sequences follow
            for table in ("feed", "item", "match"):
                connection.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                ))  # fmt: skip


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store(database_url)
    yield store
    store.close()


# --- the models and the migrations agree ---------------------------------------


def test_the_migrations_make_exactly_the_models_schema(store: Store) -> None:
    assert upgrade(store.engine) == (None, head())
    assert version(store) == [head()]
    assert differences(store) == [], (
        "the models in monitor/store.py differ from the schema the migrations make: "
        'add a revision (monitor db revision -m "…"), review it, and run the tests again'
    )


def test_the_comparison_sees_a_model_change(workdir: Path) -> None:
    # The guard above is only worth something if a change shows: a new column,
    # a wider type and a dropped index do.
    store = Store(f"sqlite:///{workdir / 'monitor.db'}")
    upgrade(store.engine)
    changed = sa.MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["feed"].append_column(sa.Column("language", sa.String(), nullable=True))
    changed.tables["spike"].c.mentions.type = sa.Text()
    outbox = changed.tables["outbox"]
    outbox.indexes.discard(next(i for i in outbox.indexes if i.name == "ix_outbox_status"))
    found = differences(store, changed)
    store.close()
    kinds = sorted(d[0][0] if isinstance(d, list) else d[0] for d in found)
    assert kinds == ["add_column", "modify_type", "remove_index"], found


def test_upgrade_is_idempotent(store: Store) -> None:
    upgrade(store.engine)
    store_some_rows(store)
    assert upgrade(store.engine) == (head(), head())
    assert upgrade(store.engine) == (head(), head())
    assert version(store) == [head()]
    assert store.counts()["items"] == 1


# --- databases from before migrations ------------------------------------------


def test_a_create_all_database_is_stamped_and_keeps_its_rows(store: Store) -> None:
    at_first_revision(store, stamped=False)
    assert upgrade(store.engine) == ("legacy", head())
    assert version(store) == [head()]
    assert store.counts()["items"] == 2
    assert [m.rule for m in store.matches.unreported("w")] == ["kursk"]
    assert differences(store) == []


def test_a_create_all_database_that_differs_is_refused(store: Store) -> None:
    SQLModel.metadata.create_all(store.engine)
    with store.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE spike"))
        connection.execute(sa.text("DROP INDEX ix_outbox_status"))
    with pytest.raises(SchemaError) as refused:
        upgrade(store.engine)
    message = refused.value.message
    assert "missing table spike" in message and "missing index ix_outbox_status" in message
    assert "\n" not in message
    with store.engine.connect() as connection:  # left as it was
        assert not sa.inspect(connection).has_table("alembic_version")


# --- a database ahead of the code ------------------------------------------------


def test_an_unknown_revision_is_refused_naming_both(store: Store) -> None:
    upgrade(store.engine)
    with store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'f00d'"))
    with pytest.raises(SchemaError) as refused:
        upgrade(store.engine)
    message = refused.value.message
    assert "f00d" in message and f"newest is {head()}" in message
    assert "\n" not in message


def run_monitor(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": f"sqlite:///{workdir / 'monitor.db'}",
        "MONITOR_WATCHLISTS": str(workdir / "watchlists"),
        "MONITOR_OUTPUT_DIR": str(workdir / "digests"),
    }
    command = [sys.executable, "-m", "monitor.cli", *args]
    return subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, timeout=60)


def test_db_commands_and_a_refused_start(workdir: Path) -> None:
    write_watchlist(workdir, [])
    assert run_monitor(workdir, "db", "current").stdout.startswith("no schema yet")
    upgraded = run_monitor(workdir, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip() == f"database schema upgraded from nothing to {head()}"
    assert run_monitor(workdir, "db", "current").stdout.strip() == f"{head()} (head)"

    store = Store(f"sqlite:///{workdir / 'monitor.db'}")
    with store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0999'"))
    store.close()
    started = run_monitor(workdir, "run")
    assert started.returncode == 1
    lines = [line for line in started.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "ERROR" in lines[0], started.stderr  # a log line: it is `run`
    assert "0999" in lines[0] and head() in lines[0]
    assert "Traceback" not in started.stderr


# --- a database behind head ----------------------------------------------------

# The revision after the shipped ones, and the one it revises.
SHIPPED = revision.newest()
NEXT = f"{int(SHIPPED) + 1:04d}"

SECOND = '''"""Adds item.language, rebuilding the table (batch mode) as SQLite must."""

import sqlalchemy as sa
from alembic import op

revision = "{NEXT}"
down_revision = "{SHIPPED}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("item", recreate="auto") as batch:
        batch.add_column(sa.Column("language", sa.String(), nullable=True))
        batch.alter_column("url", existing_type=sa.String(), type_=sa.Text())


def downgrade() -> None:
    with op.batch_alter_table("item") as batch:
        batch.drop_column("language")
'''


@pytest.fixture
def with_second_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The migrations as shipped, plus a revision after them (in a copy of the directory)."""
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    text = SECOND.replace("{NEXT}", NEXT).replace("{SHIPPED}", SHIPPED)
    (copy / "versions" / f"{NEXT}_item_language.py").write_text(text, encoding="utf-8")
    monkeypatch.setattr(schema, "HERE", copy)
    monkeypatch.setattr(revision, "VERSIONS", copy / "versions")
    schema.scripts.cache_clear()
    yield
    monkeypatch.undo()
    schema.scripts.cache_clear()
    schema.first_schema.cache_clear()


@pytest.mark.usefixtures("with_second_revision")
def test_an_older_revision_is_upgraded_keeping_rows_and_references(store: Store) -> None:
    at_first_revision(store)  # items that match and item_source rows point at
    assert upgrade(store.engine) == (FIRST, NEXT)
    assert version(store) == [NEXT]
    with store.engine.connect() as connection:
        columns = {c["name"] for c in sa.inspect(connection).get_columns("item")}
        sources = connection.execute(sa.text("SELECT count(*) FROM item_source")).scalar()
    assert "language" in columns and sources == 2
    assert [m.rule for m in store.matches.unreported("w")] == ["kursk"]
    if store.engine.dialect.name == "sqlite":  # enforced again after the copy
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


# --- replicas starting together --------------------------------------------------

START_TOGETHER = """
import sys, time
from monitor.migrations import upgrade
from monitor.store import Store

store = Store(sys.argv[1])
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
print(upgrade(store.engine))
store.close()
"""


def test_replicas_upgrading_together_on_postgresql_all_succeed(postgres_url: str) -> None:
    start_at = time.time() + 3  # past every process's imports: they race
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", START_TOGETHER, postgres_url, str(start_at)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], results
    outcomes = sorted(stdout.strip() for stdout, _ in results)
    # One migrated; the others waited for the lock, then found it done.
    assert outcomes == [f"('{head()}', '{head()}')"] * 2 + [f"(None, '{head()}')"]
    store = Store(postgres_url)
    assert version(store) == [head()] and differences(store) == []
    store.close()


def test_the_quick_reading_of_head_is_alembics() -> None:
    """Read-only commands and start-up at head read the newest revision from
    the file names, without alembic: the same answer as alembic's."""
    assert revision.newest() == head()


@pytest.mark.usefixtures("with_second_revision")
def test_the_quick_reading_of_head_sees_a_new_revision() -> None:
    assert revision.newest() == head() == NEXT


def test_an_item_stored_under_its_old_guid_key_is_found_and_rekeyed(store: Store) -> None:
    """0002 fills every item's canonical link. An item whose guid ("7") was
    stored resolved against its feed's address is found by that old key the
    next time its feed is polled, and given the key scoped to the feed."""
    at_first_revision(store)
    with store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE item SET key = 'guid:127.0.0.1:9/7' WHERE id = 2"))
    upgrade(store.engine)
    with store.engine.connect() as connection:
        links = dict(connection.execute(sa.text("SELECT id, link_key FROM item")).all())
    assert links == {1: None, 2: "news.example/a"}
    scoped = identity_key("7", None, "Other", "news", FEED_URL)
    entry = Entry(scoped, "Other", "news", None, None, legacy_key=legacy_key("7", FEED_URL))
    assert entry.legacy_key == "guid:127.0.0.1:9/7"
    assert save(store, FEED_URL, [entry], [], NOW, NOW) == (0, 0)  # not news again
    with store.engine.connect() as connection:
        keys = dict(connection.execute(sa.text("SELECT id, key FROM item")).all())
    assert keys == {1: "guid-1", 2: "guid:127.0.0.1:9/feed|7"}
    # Another feed's item under the same old key is not this feed's: a new item.
    other = "http://127.0.0.1:9/other"
    store.feeds.sync([(other, 900)], NOW)
    theirs = Entry(identity_key("7", None, "Theirs", "x", other), "Theirs", "x", None, None,
                   legacy_key="guid:127.0.0.1:9/7")  # fmt: skip
    assert save(store, other, [theirs], [], NOW, NOW) == (1, 0)
