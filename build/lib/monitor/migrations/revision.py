"""Where a database stands, read without alembic: the commands that only
read (status, matches) check it in a few milliseconds instead of loading
the migration machinery.

Revisions are numbered in order (``versions/0001_initial_schema.py``, as
``monitor db revision`` writes them), so the newest is the highest number;
tests/test_migrations.py holds this to alembic's own reading.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, inspect, text

from monitor.errors import MonitorError

VERSIONS = Path(__file__).resolve().parent / "versions"
VERSION_TABLE = "alembic_version"


class SchemaError(MonitorError):
    """The database's schema is not one this code can bring to its own."""

    default = "the database schema cannot be used by this version of monitor"


class EmptySchema(SchemaError):
    """The database holds no schema yet."""


def newest() -> str:
    """The code's newest revision (head)."""
    numbers = [p.name.split("_", 1)[0] for p in VERSIONS.glob("[0-9]*_*.py")]
    return max(numbers, key=int)


def revisions_of(connection: Connection) -> tuple[str, ...] | None:
    """The revisions recorded in the database; None when it has no record."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
    return tuple(str(r) for (r,) in rows)


def at_head(connection: Connection) -> bool:
    return revisions_of(connection) == (newest(),)


def require_head(connection: Connection) -> None:
    """SchemaError, saying what to run, unless the database is at head."""
    found = revisions_of(connection)
    head = newest()
    if found == (head,):
        return
    if not found:
        raise EmptySchema(
            "the database has no schema yet: `monitor run`, `monitor poll` or "
            "`monitor db upgrade` creates it"
        )
    if all(r.isdigit() and int(r) < int(head) for r in found):
        raise SchemaError(
            f"the database schema is at revision {', '.join(found)}, behind this "
            f"version's {head}: run `monitor db upgrade`"
        )
    raise SchemaError(
        f"the database schema is at revision {', '.join(found)}, which this version of "
        f"monitor does not know (its newest is {head}): a newer monitor has migrated it"
    )
