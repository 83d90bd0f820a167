"""The database itself: engines for SQLite and PostgreSQL, aware UTC times,
sessions, and the statement helpers every part of the store shares."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, DateTime, Engine, Table, TypeDecorator, event
from sqlalchemy import insert as sa_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError
from sqlmodel import Field, Session, SQLModel, create_engine

from monitor.errors import MonitorError
from monitor.redact import redact_text, redact_url
from monitor.text import strip_unsafe

log = logging.getLogger(__name__)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (naive storage) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def when(index: bool = False, nullable: bool = True) -> Any:
    """A time column."""
    return Field(default=None, sa_type=UTCDateTime, index=index, nullable=nullable)


class DatabaseError(MonitorError):
    """The database URL cannot be used, or the database does not answer."""


def engine_for(url: str, create_directory: bool = True) -> Engine:
    """An engine with the settings each backend needs for a long-running
    worker; DatabaseError, one line, for a URL no engine can be made of."""
    try:
        return _engine(url, create_directory)
    except ArgumentError as e:
        raise DatabaseError(
            f"MONITOR_DATABASE_URL {redact_url(url)!r} is not a database URL "
            "(sqlite:///path/monitor.db or postgresql+psycopg://user:password@host/db)"
        ) from e
    except (NoSuchModuleError, ImportError) as e:
        raise DatabaseError(
            f"no database driver for {redact_url(url)!r} ({e}): monitor supports sqlite:// "
            "and postgresql+psycopg://"
        ) from e


@contextmanager
def answering(url: str) -> Iterator[None]:
    """Turns a database that does not answer (down, refusing, a wrong
    password, a file that cannot be opened) into one line: DatabaseError."""
    try:
        yield
    except (OperationalError, InterfaceError) as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise DatabaseError(
            f"the database at {redact_url(url)} does not answer: {redact_text(reason)}"
        ) from e


def _engine(url: str, create_directory: bool) -> Engine:
    if url.startswith("sqlite"):
        if create_directory:
            _ensure_sqlite_directory(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True)


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    if not database_url.startswith("sqlite") or ":///" not in database_url:
        return None
    path, _, query = database_url.split(":///", 1)[1].partition("?")
    if "uri=true" in query.lower() and path.startswith("file:"):
        # sqlite:///file:PATH?mode=ro&uri=true, SQLite's own URI form
        path = path.removeprefix("file:")
        path = "" if path.startswith(":memory:") or "mode=memory" in query else path
    return None if path in ("", ":memory:") else Path(path)


def _ensure_sqlite_directory(url: str) -> None:
    path = sqlite_path(url)
    if path is not None and not path.parent.is_dir():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DatabaseError(
                f"cannot make {path.parent} for the database: {e.strerror or e}"
            ) from e
        log.warning("made %s for the database: it did not exist", path.parent)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # The driver's own transaction handling starts transactions late (at the
    # first write), so reads before it see other commits; we begin ourselves.
    connection.isolation_level = None
    cursor = connection.cursor()
    # WAL lets readers (monitor status) work while the worker writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # Take the write lock up front: a transaction that reads then writes
    # cannot fail half-way because another writer got in between.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine and its transactions: each use is one short transaction."""

    def __init__(self, url: str, create_directory: bool = True) -> None:
        self.url = url
        self.engine = engine_for(url, create_directory)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session in one transaction, committed when the block ends."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A Core connection in one transaction: no Session to set up, for the
        statements a quiet poll cycle runs hundreds of times."""
        with self.engine.begin() as connection:
            yield connection

    def insert_ignoring_duplicates(self, model: type[SQLModel]) -> Any:
        """INSERT ... ON CONFLICT DO NOTHING in the engine's dialect, on the Core
        table (the ORM's bulk path costs more than the insert itself)."""
        # Each dialect's module is loaded when first used: the PostgreSQL one
        # costs a read-only command's start-up 30 ms on SQLite.
        table = core(model)
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table).on_conflict_do_nothing()
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table).on_conflict_do_nothing()
        return sa_insert(table)

    def close(self) -> None:
        self.engine.dispose()


def core(model: type[SQLModel]) -> Table:
    """The Core table behind a SQLModel class."""
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def storable(values: dict[str, Any]) -> dict[str, Any]:
    """Text without NUL (PostgreSQL refuses it) and the other characters that
    strip_unsafe drops: rendered messages carry watchlist titles, and YAML can
    spell a NUL ("\\0"). Stored the same on every backend."""
    return {k: strip_unsafe(v) if isinstance(v, str) else v for k, v in values.items()}


# PostgreSQL cannot index a value of more than ~2700 bytes (a b-tree entry is at
# most a third of a page), so an identity key longer than this (a hostile
# feed's guid) is stored as its start and a hash of the whole, on every backend.
MAX_KEY_CHARS = 512


def stored_key(key: str) -> str:
    """The item key as stored: ``key``, or a bounded stand-in when it is long."""
    if len(key) <= MAX_KEY_CHARS:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: MAX_KEY_CHARS - 72]}#sha256:{digest}"


# Values in one IN list at most (SQLite before 3.32 allows 999 parameters).
IN_LIST = 500

T = TypeVar("T")


def chunks(values: Sequence[T], size: int = IN_LIST) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def grouped(pairs: Iterable[tuple[str, T]]) -> Iterator[tuple[T, list[str]]]:
    """The keys of ``(key, value)`` pairs grouped by value, in lists of at most
    IN_LIST: the feeds of one batch of unchanged polls share a few values,
    so one UPDATE per value costs much less than an executemany of a row
    each (bound and converted one by one)."""
    by_value: dict[T, list[str]] = {}
    for key, value in pairs:
        by_value.setdefault(value, []).append(key)
    for value, keys in by_value.items():
        for chunk in chunks(keys):
            yield value, list(chunk)
