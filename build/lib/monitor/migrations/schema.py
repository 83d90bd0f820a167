"""Running the migrations: alembic, configured here in code (no alembic.ini).

``upgrade_schema`` is what start-up and ``monitor db upgrade`` run: it brings
a database to the newest revision in ``versions/`` one process at a time,
stamps a database made before migrations existed (by ``create_all``) once its
tables are found to be those of the first revision, and refuses a database
that a newer monitor has migrated past what this code knows.
``new_revision`` is ``alembic revision --autogenerate`` (``monitor db revision``).
"""

from __future__ import annotations

import functools
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, inspect, text

from monitor.migrations.revision import VERSION_TABLE, SchemaError

__all__ = ["FIRST", "SchemaError", "current", "head", "new_revision", "upgrade_schema"]

HERE = Path(__file__).resolve().parent
FIRST = "0001"  # the schema as create_all made it before migrations existed


def alembic_config(connection: Connection | None = None) -> Config:
    """The configuration alembic.ini would hold; ``connection`` is the one
    env.py migrates (inside the caller's transaction)."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.set_main_option("truncate_slug_length", "40")
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff:  # a new revision comes out linted and formatted like the rest
        config.set_section_option("post_write_hooks", "hooks", "format, lint")
        for name, args in (("format", "format --quiet"), ("lint", "check --fix --quiet")):
            config.set_section_option("post_write_hooks", f"{name}.type", "exec")
            config.set_section_option("post_write_hooks", f"{name}.executable", ruff)
            config.set_section_option(
                "post_write_hooks", f"{name}.options", f"{args} REVISION_SCRIPT_FILENAME"
            )
    config.attributes["connection"] = connection
    return config


@functools.cache
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this code knows."""
    newest = scripts().get_current_head()
    if newest is None:
        raise SchemaError(f"no migration in {HERE / 'versions'}")
    return newest


def known(revision: str) -> bool:
    return revision in {script.revision for script in scripts().walk_revisions()}


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands against the code's migrations."""

    revisions: tuple[str, ...]  # in alembic_version: none, or one (no branches here)
    head: str
    tables: frozenset[str]  # of the models' tables, those present

    @property
    def current(self) -> str | None:
        return self.revisions[0] if len(self.revisions) == 1 else None

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(r for r in self.revisions if not known(r))

    @property
    def empty(self) -> bool:
        return not self.revisions and not self.tables

    @property
    def unversioned(self) -> bool:
        """Tables made by create_all before migrations, and no alembic_version."""
        return not self.revisions and bool(self.tables)

    def describe(self) -> str:
        if self.unknown:
            return (
                f"the database schema is at revision {', '.join(self.unknown)}, which this "
                f"version of monitor does not know (its newest is {self.head}): a newer "
                "monitor has migrated it; run that version, or restore a backup"
            )
        if self.empty:
            return f"no schema yet (head {self.head}): monitor db upgrade creates it"
        if self.unversioned:
            return (
                f"tables made before migrations, not stamped (head {self.head}): "
                "monitor db upgrade stamps and upgrades them"
            )
        if self.current == self.head:
            return f"{self.head} (head)"
        return f"{', '.join(self.revisions)} (behind head {self.head}): monitor db upgrade"


def schema_state(connection: Connection) -> SchemaState:
    from sqlmodel import SQLModel

    import monitor.store.tables  # noqa: F401 (the models, in SQLModel.metadata)

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    present = set(inspect(connection).get_table_names())
    return SchemaState(
        revisions=tuple(context.get_current_heads()),
        head=head(),
        tables=frozenset(present & set(SQLModel.metadata.tables)),
    )


def upgrade_schema(connection: Connection, lock: int) -> tuple[str | None, str]:
    """Bring the schema to head, in one transaction of ``connection`` (not
    yet begun); returns the revision found ("legacy" for create_all tables,
    None for an empty database) and the one left. On PostgreSQL the
    transaction first takes the advisory lock ``lock``, so replicas starting
    together migrate one after the other (the later ones find it done); on
    SQLite, BEGIN IMMEDIATE has the same effect between processes."""
    with _sqlite_foreign_keys_off(connection), connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
        state = schema_state(connection)
        if state.unknown:
            raise SchemaError(state.describe())
        if state.current == state.head:
            return state.head, state.head
        found = state.current
        if state.unversioned:
            _check_first_schema(connection)
            command.stamp(alembic_config(connection), FIRST)
            found = "legacy"
        command.upgrade(alembic_config(connection), "head")
        _check_foreign_keys(connection)
        return found, state.head


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite's batch migrations copy a table, drop it and rename the copy:
    with foreign keys enforced, dropping a referenced table fails or
    cascades. SQLite's own recipe: off outside the transaction, checked
    before commit (``_check_foreign_keys``), back on after."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver: Any = connection.connection.driver_connection
    driver.execute("PRAGMA foreign_keys=OFF")  # outside any transaction, or it does nothing
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        rows = ", ".join(f"{table} row {rowid}" for table, rowid, *_ in broken[:5])
        raise SchemaError(f"migration left rows pointing at nothing ({rows}); rolled back")


@functools.cache
def first_schema() -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Table -> (columns, named indexes) as the first revision creates them,
    read from a scratch in-memory database migrated to it."""
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), FIRST)
            return _shape(connection)
    finally:
        engine.dispose()


def _shape(connection: Connection) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    inspector = inspect(connection)
    return {
        table: (
            frozenset(c["name"] for c in inspector.get_columns(table)),
            frozenset(i["name"] for i in inspector.get_indexes(table) if i["name"]),
        )
        for table in inspector.get_table_names()
        if table != VERSION_TABLE
    }


def _check_first_schema(connection: Connection) -> None:
    """A database made by create_all is stamped at the first revision only if
    it has that revision's tables, columns and indexes, and no other column."""
    expected = first_schema()
    found = _shape(connection)
    problems: list[str] = []
    for table, (columns, indexes) in expected.items():
        if table not in found:
            problems.append(f"missing table {table}")
            continue
        has_columns, has_indexes = found[table]
        problems += [f"missing column {table}.{c}" for c in sorted(columns - has_columns)]
        problems += [f"unexpected column {table}.{c}" for c in sorted(has_columns - columns)]
        problems += [f"missing index {i}" for i in sorted(indexes - has_indexes)]
    if problems:
        raise SchemaError(
            "the database has monitor's tables but no migration history, and they are not "
            f"those of revision {FIRST} ({'; '.join(problems)}): upgrade it with the "
            "version of monitor that made it, or start from an empty database"
        )


def current(url: str) -> SchemaState:
    """Where the database at ``url`` stands (monitor db current)."""
    from monitor.store.db import engine_for

    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            return schema_state(connection)
    finally:
        engine.dispose()


def new_revision(message: str, empty: bool = False) -> Path:
    """Write a revision that brings head to the models: autogenerated against
    a scratch SQLite database migrated to head (review it before committing;
    ``empty`` writes one to fill in by hand)."""
    number = max((int(r) for r in _revision_ids() if r.isdigit()), default=0) + 1
    with tempfile.TemporaryDirectory(prefix="monitor-revision-") as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        try:
            with engine.begin() as connection:
                config = alembic_config(connection)
                command.upgrade(config, "head")
                written = command.revision(
                    config, message=message, autogenerate=not empty, rev_id=f"{number:04d}"
                )
        finally:
            engine.dispose()
    scripts.cache_clear()
    script = written[0] if isinstance(written, list) else written
    if script is None:
        raise SchemaError("alembic wrote no revision")
    return Path(script.path)


def _revision_ids() -> list[str]:
    return [script.revision for script in scripts().walk_revisions()]
